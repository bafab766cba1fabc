"""Norm penalties on the logprobs (or probabilities): L1, L2 and elastic net.

They act on model outputs, never on weights: the client does not see the weights, so
"L2" here is a penalty on log-probabilities, not weight decay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from tinkex.types import Datum

from .base import Metrics, Reduction, Target, check_choice, check_finite, flat_target, reduce

__all__ = ["L1", "L2", "ElasticNet"]

_TARGETS = ("logprobs", "probs")
_REDUCTIONS = ("sum", "mean")


def _check_common(target: str, reduction: str, lam: float) -> None:
    check_choice("target", target, _TARGETS)
    check_choice("reduction", reduction, _REDUCTIONS)
    check_finite("lam", lam, minimum=0.0)


@dataclass(frozen=True)
class L1:
    """``lam * sum|x|`` (or the mean): pushes logprobs towards 0, i.e. confident tokens."""

    target: Target = "logprobs"
    reduction: Reduction = "sum"
    lam: float = 1.0
    name: str = "l1_sparsity"

    def __post_init__(self) -> None:
        _check_common(self.target, self.reduction, self.lam)

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        x = flat_target(logprobs, self.target)
        loss = self.lam * reduce(x.abs(), self.reduction)
        return loss, {"l1_mean:mean": float(x.detach().abs().mean())}


@dataclass(frozen=True)
class L2:
    """``lam * sum clip(x - c, -clip, clip)**2`` (or the mean), optionally centred first.

    ``center`` is 0 by default, ``"mean"`` for the mean of x, or a number; clipping only
    happens when ``clip`` is set and is applied after centring.
    """

    target: Target = "logprobs"
    reduction: Reduction = "sum"
    lam: float = 1.0
    clip: float | None = None
    center: Literal["mean"] | float | None = None
    name: str = "l2_weight_decay"

    def __post_init__(self) -> None:
        _check_common(self.target, self.reduction, self.lam)
        if self.clip is not None:
            check_finite("clip", self.clip, minimum=0.0)
        if isinstance(self.center, str):
            check_choice("center", self.center, ("mean",))
        elif self.center is not None:
            check_finite("center", self.center)

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        x = flat_target(logprobs, self.target)
        if self.center == "mean":
            center: torch.Tensor | float = x.mean()
        else:
            center = 0.0 if self.center is None else float(self.center)
        shifted = x - center
        if self.clip is not None:
            shifted = shifted.clamp(-self.clip, self.clip)
        loss = self.lam * reduce(shifted.square(), self.reduction)
        return loss, {
            "l2_mean:mean": float(x.detach().square().mean()),
            "center:mean": float(center.detach()) if isinstance(center, torch.Tensor) else center,
        }


@dataclass(frozen=True)
class ElasticNet:
    """``lam * (l1_ratio * sum|x| + (1 - l1_ratio) * sum x**2)`` (or with means)."""

    target: Target = "logprobs"
    reduction: Reduction = "sum"
    lam: float = 1.0
    l1_ratio: float = 0.5
    name: str = "elastic_net"

    def __post_init__(self) -> None:
        _check_common(self.target, self.reduction, self.lam)
        check_finite("l1_ratio", self.l1_ratio, minimum=0.0)
        if self.l1_ratio > 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio!r}")

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        x = flat_target(logprobs, self.target)
        l1 = reduce(x.abs(), self.reduction)
        l2 = reduce(x.square(), self.reduction)
        loss = self.lam * (self.l1_ratio * l1 + (1.0 - self.l1_ratio) * l2)
        return loss, {"l1_ratio:mean": self.l1_ratio}
