"""Saving, loading, exporting and copying model weights."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ._base import RequestModel, ResponseModel
from .checkpoints import checkpoint_console_url, checkpoint_playground_url
from .ids import ModelID
from .optim import AdamOptimizerConfig, OptimizerConfig
from .sampling import SamplingClientKind

__all__ = [
    "CopyWeightsRequest",
    "CopyWeightsResponse",
    "ExternalWeightsUrlsResponse",
    "LoadWeightsRequest",
    "LoadWeightsResponse",
    "SaveWeightsExternalRequest",
    "SaveWeightsExternalResponse",
    "SaveWeightsExternalResponseInternal",
    "SaveWeightsForSamplerRequest",
    "SaveWeightsForSamplerResponse",
    "SaveWeightsForSamplerResponseInternal",
    "SaveWeightsRequest",
    "SaveWeightsResponse",
    "WeightsInfoRequest",
    "WeightsInfoResponse",
]


class SaveWeightsRequest(RequestModel):
    """Save weights and optimizer state (a training checkpoint)."""

    model_id: ModelID
    path: str | None = None
    seq_id: int | None = None
    ttl_seconds: int | None = None
    """1 hour (3600) to 10 years; None never expires."""
    overwrite: bool = False
    user_metadata: dict[str, str] | None = None
    type: Literal["save_weights"] = "save_weights"


class SaveWeightsResponse(ResponseModel):
    """Where the training checkpoint was saved."""

    path: str
    type: Literal["save_weights"] | None = None

    def get_console_url(self) -> str:
        """The Tinker Console page for this checkpoint."""
        return checkpoint_console_url(self.path)


class SaveWeightsForSamplerRequest(RequestModel):
    """Save weights for sampling (a sampler checkpoint)."""

    model_id: ModelID
    path: str | None = None
    sampling_session_seq_id: int | None = None
    kind: SamplingClientKind = "snapshot"
    seq_id: int | None = None
    ttl_seconds: int | None = None
    """1 hour (3600) to 10 years; None never expires; inflight saves omit it."""
    user_metadata: dict[str, str] | None = None
    type: Literal["save_weights_for_sampler"] = "save_weights_for_sampler"


class SaveWeightsForSamplerResponseInternal(ResponseModel):
    """The server's answer: a path, or a sampling session for ephemeral saves."""

    path: str | None = None
    sampling_session_id: str | None = None
    type: Literal["save_weights_for_sampler"] | None = None


class SaveWeightsForSamplerResponse(ResponseModel):
    """Where the sampler checkpoint was saved."""

    path: str
    type: Literal["save_weights_for_sampler"] | None = None

    def get_console_url(self) -> str:
        """The Tinker Console page for this sampler checkpoint."""
        return checkpoint_console_url(self.path)

    def get_playground_url(self) -> str:
        """A Tinker Playground URL configured with this checkpoint."""
        return checkpoint_playground_url(self.path)


class SaveWeightsExternalRequest(RequestModel):
    """Export weights in an external (e.g. Hugging Face) format."""

    model_id: ModelID
    path: str
    seq_id: int | None = None
    ttl_seconds: int | None = None
    age_encryption_recipients: list[str] | None = None
    """age or SSH public keys to encrypt every exported file to (None = unencrypted)."""
    type: Literal["save_weights_external"] = "save_weights_external"


class SaveWeightsExternalResponseInternal(ResponseModel):
    """The server's answer to an external export."""

    path: str | None = None
    size_bytes: int | None = None
    type: Literal["save_weights_external"] | None = None


class SaveWeightsExternalResponse(ResponseModel):
    """Where the external-format weights were saved."""

    path: str
    type: Literal["save_weights_external"] | None = None


class LoadWeightsRequest(RequestModel):
    """Load a checkpoint into a model (legacy: model_id+seq_id; or session_id+model_seq_id)."""

    model_id: ModelID | None = None
    seq_id: int | None = None
    session_id: str | None = None
    model_seq_id: int | None = None
    base_model: str | None = None
    user_metadata: dict[str, Any] | None = None
    path: str
    optimizer: bool
    """Also restore the optimizer state."""
    optimizer_config: OptimizerConfig | None = None
    weights_access_token: str | None = None
    type: Literal["load_weights"] = "load_weights"


class LoadWeightsResponse(ResponseModel):
    """What was loaded, and onto which model."""

    path: str | None = None
    model_id: str | None = None
    type: Literal["load_weights"] | None = None


class CopyWeightsRequest(RequestModel):
    """Copy a checkpoint to another project or session."""

    session_id: str | None = None
    model_seq_id: int | None = None
    destination_project_id: str | None = None
    source_path: str
    ttl_seconds: int | None = None
    weights_access_token: str | None = None


class CopyWeightsResponse(ResponseModel):
    """The copy's path."""

    tinker_path: str


class WeightsInfoRequest(RequestModel):
    """Ask what a (possibly public) checkpoint needs to be loaded."""

    tinker_path: str


class WeightsInfoResponse(ResponseModel):
    """Enough about a (public) checkpoint to load it."""

    base_model: str
    optimizer_config: OptimizerConfig = AdamOptimizerConfig()
    is_lora: bool
    lora_rank: int | None = None
    train_unembed: bool | None = None
    train_mlp: bool | None = None
    train_attn: bool | None = None


class ExternalWeightsUrlsResponse(ResponseModel):
    """Signed download URLs of an external export, per file."""

    urls: dict[str, str]
    expires: datetime
