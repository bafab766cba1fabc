"""Plain, immutable rows the store hands out; the routes turn them into wire types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from tinkex.local.store.names import CheckpointKind, TinkerPath

__all__ = [
    "CheckpointRecord",
    "FutureRecord",
    "LoraSettings",
    "Page",
    "RunRecord",
    "SamplerRecord",
    "SessionRecord",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing plus what the official `Cursor` needs."""

    items: list[T]
    offset: int
    limit: int
    total_count: int


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    owner: str
    created_at: float
    last_heartbeat_at: float
    sdk_version: str
    tags: list[str]
    user_metadata: dict[str, object] | None
    project_id: str | None
    display_name: str | None
    finished_at: float | None
    finish_reason: str | None


@dataclass(frozen=True)
class LoraSettings:
    """The LoRA part of a run; `rank is None` means a full (non-LoRA) model."""

    rank: int | None
    seed: int | None = None
    train_mlp: bool = True
    train_attn: bool = True
    train_unembed: bool = True


@dataclass(frozen=True)
class CheckpointRecord:
    path: TinkerPath
    created_at: float
    size_bytes: int
    public: bool
    expires_at: float | None
    sha256: str
    directory: str
    """Relative to the data directory."""
    user_metadata: dict[str, str] | None

    @property
    def tinker_path(self) -> str:
        return str(self.path)

    @property
    def model_id(self) -> str:
        return self.path.model_id

    @property
    def kind(self) -> CheckpointKind:
        return self.path.kind

    @property
    def checkpoint_id(self) -> str:
        return self.path.checkpoint_id


@dataclass(frozen=True)
class RunRecord:
    model_id: str
    session_id: str
    model_seq_id: int | None
    owner: str
    base_model: str
    lora: LoraSettings
    user_metadata: dict[str, object] | None
    created_at: float
    last_request_at: float
    corrupted: bool
    optimizer: str = "adamw"
    """The optimizer family (`optimizer_config.type`) fixed at creation."""
    last_checkpoint: CheckpointRecord | None = None
    last_sampler_checkpoint: CheckpointRecord | None = None

    @property
    def is_lora(self) -> bool:
        return self.lora.rank is not None


@dataclass(frozen=True)
class SamplerRecord:
    sampler_id: str
    session_id: str
    sampling_session_seq_id: int | None
    base_model: str
    model_path: str | None
    created_at: float


@dataclass(frozen=True)
class FutureRecord:
    """A journaled future: what survives a restart of the server."""

    request_id: str
    model_id: str | None
    kind: str
    state: str
    created_at: float
    finished_at: float | None
    content_type: str | None
    result: bytes | None
    error: str | None
    error_category: str | None
