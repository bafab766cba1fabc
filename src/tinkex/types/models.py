"""Training models: creation, LoRA settings, info and unloading."""

from __future__ import annotations

from typing import Any, Literal

from ._base import RequestModel, ResponseModel
from .ids import ModelID
from .optim import AdamOptimizerConfig, OptimizerConfig

__all__ = [
    "CreateModelRequest",
    "CreateModelResponse",
    "GetInfoRequest",
    "GetInfoResponse",
    "LoraConfig",
    "ModelData",
    "UnloadModelRequest",
    "UnloadModelResponse",
]


class LoraConfig(RequestModel):
    """Where and how large the LoRA adapters are."""

    rank: int
    seed: int | None = None
    """Seed for reproducible adapter initialisation."""
    train_unembed: bool = True
    train_mlp: bool = True
    """Includes MoE layers."""
    train_attn: bool = True


class CreateModelRequest(RequestModel):
    """Create a training model (training run) on a base model."""

    session_id: str
    model_seq_id: int
    base_model: str
    user_metadata: dict[str, Any] | None = None
    lora_config: LoraConfig | None = None
    optimizer_config: OptimizerConfig = AdamOptimizerConfig()
    """Fixed for the lifetime of the training model."""
    type: Literal["create_model"] = "create_model"


class CreateModelResponse(ResponseModel):
    """The new training model's id."""

    model_id: ModelID
    type: Literal["create_model"] = "create_model"


class GetInfoRequest(RequestModel):
    """Ask about a training model."""

    model_id: ModelID
    type: Literal["get_info"] = "get_info"


class ModelData(ResponseModel):
    """Architecture metadata of a model."""

    arch: str | None = None
    model_name: str | None = None
    tokenizer_id: str | None = None


class GetInfoResponse(ResponseModel):
    """What a training model is: base model, LoRA rank, optimizer."""

    type: Literal["get_info"] | None = None
    model_data: ModelData
    model_id: ModelID
    optimizer_config: OptimizerConfig = AdamOptimizerConfig()
    is_lora: bool | None = None
    lora_rank: int | None = None
    model_name: str | None = None


class UnloadModelRequest(RequestModel):
    """Free a training model's server resources."""

    model_id: ModelID
    type: Literal["unload_model"] = "unload_model"


class UnloadModelResponse(ResponseModel):
    """Confirms which model was unloaded."""

    model_id: ModelID
    type: Literal["unload_model"] | None = None
