"""Gradient penalty: keeps the gradient norm of a scalar function of the logprobs near a target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from tinkex.types import Datum

from .base import Metrics, check_choice, check_finite, datum_field

__all__ = ["GradientPenalty"]


@dataclass(frozen=True)
class GradientPenalty:
    """``(||d loss_fn(x) / dx||_2 - target_norm)**2`` with x the flattened logprobs.

    ``mode="interpolated"`` (WGAN-GP style) evaluates it at ``eps * x + (1 - eps) * ref``
    with ``eps ~ U(0, 1)`` drawn once per call from ``generator`` and ``ref`` read from each
    datum's ``loss_fn_inputs[reference_field]``. The penalty is differentiable itself
    (double backward), so it trains.
    """

    loss_fn: Callable[[torch.Tensor], torch.Tensor]
    mode: Literal["output", "interpolated"] = "output"
    target_norm: float = 1.0
    reference_field: str = "reference_logprobs"
    generator: torch.Generator | None = None
    name: str = "gradient_penalty"

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, ("output", "interpolated"))
        check_finite("target_norm", self.target_norm, minimum=0.0)

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        if not logprobs:
            raise ValueError("logprobs is empty: a regularizer needs at least one datum")
        x = torch.cat([item.reshape(-1) for item in logprobs])
        if self.mode == "interpolated":
            reference = torch.cat(
                [item.reshape(-1) for item in datum_field(data, self.reference_field, logprobs)]
            )
            eps = torch.rand((), generator=self.generator, dtype=x.dtype)
            x = eps * x + (1 - eps) * reference
        if not x.requires_grad:
            x = x.detach().requires_grad_()
        value = self.loss_fn(x)
        if value.ndim:
            value = value.sum()
        (gradient,) = torch.autograd.grad(value, x, create_graph=True)
        norm = gradient.norm()
        loss = (norm - self.target_norm).square()
        return loss, {"gradient_norm:mean": float(norm.detach())}
