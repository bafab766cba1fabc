"""Checkpoints, ``tinker://`` paths and training runs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeAlias
from urllib.parse import quote

from ._base import RequestModel, ResponseModel

__all__ = [
    "Checkpoint",
    "CheckpointType",
    "CheckpointsListResponse",
    "Cursor",
    "ParsedCheckpointTinkerPath",
    "SetCheckpointTtlRequest",
    "TrainingRun",
    "TrainingRunsResponse",
    "checkpoint_console_url",
    "checkpoint_playground_url",
]

CheckpointType: TypeAlias = Literal["training", "sampler", "external"]

TINKER_SCHEME = "tinker://"
CONSOLE_BASE_URL = "https://tinker.thinkingmachines.ai"

_SEGMENT_TO_TYPE: dict[str, CheckpointType] = {
    "weights": "training",
    "sampler_weights": "sampler",
    "external_weights": "external",
}


class Cursor(ResponseModel):
    """Pagination position of a listing."""

    offset: int
    limit: int
    total_count: int


class Checkpoint(ResponseModel):
    """A saved checkpoint."""

    checkpoint_id: str
    checkpoint_type: CheckpointType
    time: datetime
    tinker_path: str
    size_bytes: int | None = None
    public: bool = False
    user_metadata: dict[str, str] | None = None
    expires_at: datetime | None = None
    """None means the checkpoint never expires."""


class ParsedCheckpointTinkerPath(ResponseModel):
    """The parts of ``tinker://<training_run_id>/<weights|sampler_weights|external_weights>/<name>``."""

    tinker_path: str
    training_run_id: str
    checkpoint_type: CheckpointType
    checkpoint_id: str
    """``<segment>/<name>``, e.g. ``weights/step-10``."""

    @classmethod
    def from_tinker_path(cls, tinker_path: str) -> ParsedCheckpointTinkerPath:
        """Parse a checkpoint path; raises ValueError naming the expected form."""
        parts = tinker_path[len(TINKER_SCHEME) :].split("/")
        if (
            not tinker_path.startswith(TINKER_SCHEME)
            or len(parts) != 3
            or parts[1] not in _SEGMENT_TO_TYPE
        ):
            raise ValueError(
                f"Invalid tinker path: {tinker_path!r}; expected "
                "tinker://<training_run_id>/<weights|sampler_weights|external_weights>/<name>"
            )
        return cls(
            tinker_path=tinker_path,
            training_run_id=parts[0],
            checkpoint_type=_SEGMENT_TO_TYPE[parts[1]],
            checkpoint_id=f"{parts[1]}/{parts[2]}",
        )


class CheckpointsListResponse(ResponseModel):
    """A page of checkpoints."""

    checkpoints: list[Checkpoint]
    cursor: Cursor | None = None


class SetCheckpointTtlRequest(RequestModel):
    """Set a checkpoint's time to live, or remove its expiry with None (sent as null)."""

    wire_keeps_none = True

    ttl_seconds: int | None
    """1 hour (3600) to 10 years; None means the checkpoint never expires."""


class TrainingRun(ResponseModel):
    """A training model and its latest checkpoints."""

    training_run_id: str
    base_model: str
    model_owner: str
    is_lora: bool
    corrupted: bool = False
    lora_rank: int | None = None
    last_request_time: datetime
    last_checkpoint: Checkpoint | None = None
    last_sampler_checkpoint: Checkpoint | None = None
    user_metadata: dict[str, str] | None = None


class TrainingRunsResponse(ResponseModel):
    """A page of training runs."""

    training_runs: list[TrainingRun]
    cursor: Cursor


def checkpoint_console_url(tinker_path: str) -> str:
    """The Tinker Console page of the checkpoint at ``tinker_path``."""
    parsed = ParsedCheckpointTinkerPath.from_tinker_path(tinker_path)
    run = quote(parsed.training_run_id, safe="")
    return f"{CONSOLE_BASE_URL}/checkpoints/{run}/{quote(parsed.checkpoint_id, safe='')}"


def checkpoint_playground_url(tinker_path: str) -> str:
    """A Tinker Playground URL that opens the checkpoint at ``tinker_path``."""
    return f"{CONSOLE_BASE_URL}/playground?mode=checkpoint&checkpoint={quote(tinker_path, safe='')}"
