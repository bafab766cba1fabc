"""The regularizer contract and the tensor helpers the built-in penalties share.

A regularizer has the signature of a ``forward_backward_custom`` loss function,
``(data, logprobs) -> (scalar loss, metrics)``, where ``logprobs`` holds one per-token
log-probability tensor per datum. It must stay in torch ops so autograd can differentiate it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, TypeAlias

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised only without the torch extra
    raise ImportError(
        "tinkex.regularizers needs torch; install it with: pip install 'tinkex[torch]'"
    ) from exc

from tinkex.types import Datum

__all__ = [
    "LossFn",
    "Metrics",
    "Reduction",
    "Regularizer",
    "Target",
    "check_choice",
    "check_finite",
    "datum_field",
    "flat_target",
    "reduce",
]

Metrics: TypeAlias = dict[str, float]
"""Metric name (with its reduction suffix, e.g. ``entropy:mean``) to value."""

LossFn: TypeAlias = Callable[[list[Datum], list[torch.Tensor]], tuple[torch.Tensor, Metrics]]
"""The ``forward_backward_custom`` loss signature: per-datum logprobs -> (loss, metrics)."""

Target: TypeAlias = Literal["logprobs", "probs"]
"""What a norm penalty reads: the logprobs themselves or ``exp(logprobs)``."""

Reduction: TypeAlias = Literal["sum", "mean"]


class Regularizer(Protocol):
    """A named penalty; usable on its own as a custom loss or weighted in ``compose``."""

    @property
    def name(self) -> str: ...

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]: ...


def flat_target(logprobs: Sequence[torch.Tensor], target: Target) -> torch.Tensor:
    """All datums' logprobs (or probabilities) as one 1-D tensor."""
    if not logprobs:
        raise ValueError("logprobs is empty: a regularizer needs at least one datum")
    flat = torch.cat([item.reshape(-1) for item in logprobs])
    return flat.exp() if target == "probs" else flat


def reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Sum or mean of ``values`` (mean of nothing is 0, not NaN)."""
    if reduction == "sum" or values.numel() == 0:
        return values.sum()
    return values.mean()


def datum_field(
    data: Sequence[Datum], field: str, like: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """``loss_fn_inputs[field]`` of every datum as a tensor shaped and typed like ``like``."""
    if len(data) != len(like):
        raise ValueError(f"got {len(data)} datums but {len(like)} logprobs tensors")
    tensors = []
    for index, (datum, reference) in enumerate(zip(data, like, strict=True)):
        stored = datum.loss_fn_inputs.get(field)
        if stored is None:
            raise ValueError(
                f"data[{index}].loss_fn_inputs has no {field!r}; add it to every datum "
                f"(present keys: {sorted(datum.loss_fn_inputs)})"
            )
        tensor = stored.to_torch().to(dtype=reference.dtype, device=reference.device)
        if tensor.shape != reference.shape:
            raise ValueError(
                f"data[{index}].loss_fn_inputs[{field!r}] has shape {list(tensor.shape)}, "
                f"but its logprobs have shape {list(reference.shape)}; they must match"
            )
        tensors.append(tensor)
    return tensors


def check_finite(name: str, value: float, *, minimum: float | None = None) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is finite (and >= ``minimum``)."""
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
