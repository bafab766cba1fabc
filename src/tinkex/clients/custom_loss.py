"""Client-side custom losses: turn a user's torch loss into weights the service can train on.

The service only knows fixed losses. `forward_backward_custom` therefore runs a forward pass,
evaluates the user's loss `C(logprobs)` locally with torch autograd, and sends a backward pass
with the service's cross-entropy `L = sum(-logprobs * weights)` and `weights = -dC/dlogprobs`,
whose gradient with respect to the model equals that of `C`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tinkex import types

if TYPE_CHECKING:
    import torch

__all__ = ["CustomLossFnV1", "CustomLossResult", "backward_data", "forward_data", "run_custom_loss"]

CustomLossFnV1 = Callable[
    [list[types.Datum], list["torch.Tensor"]], tuple["torch.Tensor", dict[str, float]]
]
"""`loss_fn(data, logprobs_list) -> (loss, metrics)`, as in the official SDK."""

SURROGATE_LOSS_FN: types.LossFnType = "cross_entropy"


@dataclass(frozen=True)
class CustomLossResult:
    """The backward pass's data plus what the user's loss reported."""

    data: list[types.Datum]
    metrics: dict[str, float]
    loss_sum: float


def forward_data(data: Sequence[types.Datum]) -> list[types.Datum]:
    """The forward pass's data: each datum's targets, with zero weights when it has none."""
    prepared = []
    for index, datum in enumerate(data):
        targets = datum.loss_fn_inputs.get("target_tokens")
        if targets is None:
            raise ValueError(
                f"data[{index}].loss_fn_inputs has no 'target_tokens'; forward_backward_custom "
                "needs them to compute the logprobs the custom loss receives"
            )
        weights = datum.loss_fn_inputs.get("weights")
        if weights is None:
            weights = types.TensorData(
                data=[0.0] * len(targets.data), dtype="float32", shape=targets.shape
            )
        prepared.append(_with_inputs(datum, {"target_tokens": targets, "weights": weights}))
    return prepared


def run_custom_loss(
    data: Sequence[types.Datum],
    loss_fn: CustomLossFnV1,
    forward_result: types.ForwardBackwardOutput,
) -> CustomLossResult:
    """Evaluate `loss_fn` on the forward logprobs and differentiate it locally."""
    import torch

    logprobs_list = []
    for output in forward_result.loss_fn_outputs:
        tensor = output["logprobs"]
        values = torch.tensor(tensor.to_numpy(), dtype=torch.float32)
        logprobs_list.append(values.clone().detach().requires_grad_(True))
    loss, metrics = loss_fn(list(data), logprobs_list)
    loss_sum = float(loss.detach().sum().item())
    loss.backward()  # type: ignore[no-untyped-call]
    return CustomLossResult(backward_data(data, logprobs_list), dict(metrics), loss_sum)


def backward_data(data: Sequence[types.Datum], logprobs: Sequence[Any]) -> list[types.Datum]:
    """The backward pass's data: weights `-dC/dlogprobs` from each logprob tensor's grad."""
    prepared = []
    for index, (datum, logprob) in enumerate(zip(data, logprobs, strict=True)):
        if logprob.grad is None:
            raise ValueError(
                f"the custom loss did not depend on logprobs[{index}]; every datum's logprobs "
                "must take part in the loss"
            )
        weights = types.TensorData.from_torch(-logprob.grad.detach().to(logprob.dtype))
        targets = datum.loss_fn_inputs["target_tokens"]
        prepared.append(_with_inputs(datum, {"target_tokens": targets, "weights": weights}))
    return prepared


def _with_inputs(datum: types.Datum, inputs: dict[str, types.TensorData]) -> types.Datum:
    return datum.model_copy(update={"loss_fn_inputs": inputs})
