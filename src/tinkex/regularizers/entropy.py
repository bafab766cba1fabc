"""Entropy of the per-token distribution ``p = exp(logprobs)``, to lower or raise it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from tinkex.types import Datum

from .base import Metrics, Reduction, check_choice, check_finite, reduce

__all__ = ["Entropy"]

MASKED_LOGPROB = -50.0
"""Terms with logprob at or below this are dropped (``p log p`` underflows to noise)."""


@dataclass(frozen=True)
class Entropy:
    """Per row (last axis of each datum's logprobs) ``H = -sum p log p``, reduced over rows.

    ``mode="minimize"`` returns +H, so minimising the loss lowers the entropy;
    ``"maximize"`` returns -H. ``temperature`` != 1 first renormalises ``logprobs / T``
    with a log-softmax; ``normalize`` divides by ``log(row length)``.
    """

    mode: Literal["minimize", "maximize"] = "minimize"
    reduction: Reduction = "mean"
    normalize: bool = False
    temperature: float = 1.0
    name: str = "entropy"

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, ("minimize", "maximize"))
        check_choice("reduction", self.reduction, ("sum", "mean"))
        check_finite("temperature", self.temperature)
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        rows = torch.cat([self._row_entropies(item) for item in logprobs])
        entropy = reduce(rows, self.reduction)
        loss = entropy if self.mode == "minimize" else -entropy
        return loss, {"entropy:mean": float(entropy.detach())}

    def _row_entropies(self, logprobs: torch.Tensor) -> torch.Tensor:
        rows = logprobs.reshape(-1, logprobs.shape[-1]) if logprobs.ndim else logprobs.reshape(1, 1)
        if self.temperature != 1.0:
            rows = torch.log_softmax(rows / self.temperature, dim=-1)
        # Clamp first so masked -inf entries cannot turn the gradient into NaN.
        safe = rows.clamp(min=MASKED_LOGPROB)
        terms = torch.where(rows > MASKED_LOGPROB, -safe.exp() * safe, torch.zeros_like(rows))
        entropy = terms.sum(dim=-1)
        if self.normalize and rows.shape[-1] > 1:
            entropy = entropy / math.log(rows.shape[-1])
        return entropy
