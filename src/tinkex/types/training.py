"""Forward/backward and optimizer-step requests and their results."""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from ._base import RequestModel, ResponseModel
from .datum import Datum, LossFnOutput
from .ids import ModelID
from .loss import LossFnType
from .optim import AdamParams, OptimParams

__all__ = [
    "ForwardBackwardInput",
    "ForwardBackwardOutput",
    "ForwardBackwardRequest",
    "ForwardRequest",
    "OptimStepRequest",
    "OptimStepResponse",
]


class ForwardBackwardInput(RequestModel):
    """A batch of data and the loss to compute on it."""

    data: list[Datum]
    loss_fn: LossFnType
    loss_fn_config: dict[str, float | str] | None = None
    """Loss parameters such as PPO clip thresholds or StableReinforce ``kl_coeff``."""


class ForwardBackwardOutput(ResponseModel):
    """Per-datum loss outputs (e.g. ``logprobs``) and batch metrics (e.g. ``loss:sum``)."""

    loss_fn_output_type: str
    loss_fn_outputs: list[LossFnOutput]
    metrics: dict[str, float] = pydantic.Field(default_factory=dict)


class ForwardBackwardRequest(RequestModel):
    """A forward and backward pass on one training model."""

    forward_backward_input: ForwardBackwardInput
    model_id: ModelID
    seq_id: int | None = None


class ForwardRequest(RequestModel):
    """A forward pass only (no gradients) on one training model."""

    forward_input: ForwardBackwardInput
    model_id: ModelID
    seq_id: int | None = None


class OptimStepRequest(RequestModel):
    """Apply the accumulated gradients; the params travel as ``adam_params`` or
    ``optimizer_params`` depending on the family, as the server expects."""

    optim_params: OptimParams = pydantic.Field(
        validation_alias=pydantic.AliasChoices("optim_params", "adam_params", "optimizer_params")
    )
    model_id: ModelID
    seq_id: int | None = None
    type: Literal["optim_step"] = "optim_step"

    @pydantic.model_serializer(mode="wrap")
    def _rename_params(self, handler: pydantic.SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if "optim_params" in data:
            key = "adam_params" if isinstance(self.optim_params, AdamParams) else "optimizer_params"
            data[key] = data.pop("optim_params")
        return data


class OptimStepResponse(ResponseModel):
    """Metrics reported by the optimizer step."""

    metrics: dict[str, float] | None = None
