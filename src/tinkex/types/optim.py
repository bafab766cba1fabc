"""Optimizer identity (fixed at model creation) and per-step optimizer hyperparameters."""

from __future__ import annotations

from typing import Literal, TypeAlias

import pydantic
from pydantic import SerializeAsAny

from ._base import RequestModel

__all__ = [
    "AdamOptimizerConfig",
    "AdamParams",
    "DimuonOptimizerConfig",
    "DimuonParams",
    "OptimParams",
    "OptimParamsBase",
    "OptimizerConfig",
    "OptimizerConfigBase",
]


class OptimizerConfigBase(RequestModel, extra="allow"):
    """An optimizer family chosen by ``type``; unknown families keep their extra fields."""

    type: str


class AdamOptimizerConfig(OptimizerConfigBase, extra="forbid"):
    """AdamW, the default optimizer."""

    type: Literal["adamw"] = "adamw"


class DimuonOptimizerConfig(OptimizerConfigBase, extra="forbid"):
    """Selects the Dimuon optimizer for a training model."""

    type: Literal["dimuon"] = "dimuon"
    version: Literal[1] = 1


OptimizerConfig: TypeAlias = AdamOptimizerConfig | SerializeAsAny[OptimizerConfigBase]


class AdamParams(RequestModel, allow_inf_nan=False):
    """Hyperparameters for one AdamW step."""

    learning_rate: float = pydantic.Field(default=0.0001, ge=0)
    beta1: float = pydantic.Field(default=0.9, ge=0, lt=1)
    """Decay of the running gradient average."""
    beta2: float = pydantic.Field(default=0.95, ge=0, lt=1)
    """Decay of the running squared-gradient average."""
    eps: float = pydantic.Field(default=1e-12, ge=0)
    """Added to the denominator for numerical stability."""
    weight_decay: float = pydantic.Field(default=0.0, ge=0)
    """Decoupled weight decay."""
    grad_clip_norm: float = 0.0
    """Clip the global gradient norm to this value; 0.0 disables clipping."""


class OptimParamsBase(RequestModel, extra="allow"):
    """Per-step hyperparameters of a non-Adam family, chosen by ``type``."""

    type: str


class DimuonParams(OptimParamsBase, extra="forbid", allow_inf_nan=False):
    """Hyperparameters for one Dimuon step."""

    type: Literal["dimuon"] = "dimuon"
    learning_rate: float = pydantic.Field(ge=0)
    grad_clip_norm: float = 0.0
    """Maximum global gradient norm; nonpositive values disable clipping."""
    beta1: float = pydantic.Field(default=0.9, ge=0, lt=1)
    """Momentum EMA coefficient."""


OptimParams: TypeAlias = AdamParams | SerializeAsAny[OptimParamsBase]
