"""Penalties that compare the current logprobs with reference ones: KL and consistency.

Both are plain torch expressions, so autograd gives them real gradients (the Elixir
version returned zero while traced).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from tinkex.types import Datum

from .base import Metrics, Reduction, check_choice, datum_field, reduce

__all__ = ["Consistency", "KLDivergence", "ReferenceFn"]

ReferenceFn = Callable[[list[Datum]], list[torch.Tensor]]
"""Computes the reference logprobs for a batch (one tensor per datum)."""

LOG_RATIO_CLIP = 100.0
MIN_PROBABILITY = 1e-10


def _rows(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(-1, tensor.shape[-1]) if tensor.ndim else tensor.reshape(1, 1)


def _kl_rows(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Per row ``sum p * clip(log p - log q)``, ignoring entries with ``p <= 1e-10``."""
    p = log_p.exp()
    ratio = (log_p - log_q).clamp(-LOG_RATIO_CLIP, LOG_RATIO_CLIP)
    terms = torch.where(p > MIN_PROBABILITY, p * ratio, torch.zeros_like(p))
    return terms.sum(dim=-1)


@dataclass(frozen=True)
class KLDivergence:
    """KL(P || Q) per row, P = current logprobs, Q = reference; reduced over rows.

    The reference comes from each datum's ``loss_fn_inputs[reference_field]`` or from
    ``compute_reference(data)`` (exactly one). ``direction="reverse"`` computes KL(Q || P);
    ``symmetric`` averages both directions.
    """

    reference_field: str | None = None
    compute_reference: ReferenceFn | None = None
    reduction: Reduction = "mean"
    direction: Literal["forward", "reverse"] = "forward"
    symmetric: bool = False
    name: str = "kl_divergence"

    def __post_init__(self) -> None:
        if (self.reference_field is None) == (self.compute_reference is None):
            raise ValueError(
                "KLDivergence needs exactly one of reference_field (a loss_fn_inputs key) "
                "or compute_reference (a function of the data)"
            )
        check_choice("reduction", self.reduction, ("sum", "mean"))
        check_choice("direction", self.direction, ("forward", "reverse"))

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        references = self._references(data, logprobs)
        rows = torch.cat(
            [self._kl(_rows(p), _rows(q)) for p, q in zip(logprobs, references, strict=True)]
        )
        loss = reduce(rows, self.reduction)
        detached = rows.detach()
        return loss, {
            "kl_divergence:mean": float(loss.detach()),
            "kl_max:max": float(detached.max()),
            "kl_min:min": float(detached.min()),
        }

    def _kl(self, log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        if self.symmetric:
            return 0.5 * (_kl_rows(log_p, log_q) + _kl_rows(log_q, log_p))
        if self.direction == "reverse":
            return _kl_rows(log_q, log_p)
        return _kl_rows(log_p, log_q)

    def _references(self, data: list[Datum], logprobs: list[torch.Tensor]) -> list[torch.Tensor]:
        if self.reference_field is not None:
            return datum_field(data, self.reference_field, logprobs)
        assert self.compute_reference is not None
        references = self.compute_reference(data)
        if len(references) != len(logprobs) or any(
            ref.shape != lp.shape for ref, lp in zip(references, logprobs, strict=False)
        ):
            raise ValueError(
                "compute_reference must return one tensor per datum, shaped like its logprobs"
            )
        return references


@dataclass(frozen=True)
class Consistency:
    """Distance between the current logprobs and a paired run stored in each datum.

    ``metric``: ``mse`` (mean squared difference), ``l1``, ``cosine`` (1 - cosine
    similarity of the flattened tensors, norms floored at 1e-8) or ``kl`` (per-row
    symmetric KL without clipping).
    """

    pair_field: str = "original_logprobs"
    metric: Literal["mse", "l1", "cosine", "kl"] = "mse"
    reduction: Reduction = "mean"
    name: str = "consistency"

    def __post_init__(self) -> None:
        check_choice("metric", self.metric, ("mse", "l1", "cosine", "kl"))
        check_choice("reduction", self.reduction, ("sum", "mean"))

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        pairs = datum_field(data, self.pair_field, logprobs)
        x = torch.cat([item.reshape(-1) for item in logprobs])
        y = torch.cat([item.reshape(-1) for item in pairs])
        if self.metric == "mse":
            loss = reduce((x - y).square(), self.reduction)
        elif self.metric == "l1":
            loss = reduce((x - y).abs(), self.reduction)
        elif self.metric == "cosine":
            norms = x.norm().clamp(min=1e-8) * y.norm().clamp(min=1e-8)
            loss = 1.0 - (x * y).sum() / norms
        else:
            rows = torch.cat(
                [_symmetric_kl(_rows(p), _rows(q)) for p, q in zip(logprobs, pairs, strict=True)]
            )
            loss = reduce(rows, self.reduction)
        return loss, {"consistency:mean": float(loss.detach())}


def _symmetric_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    diff = log_p - log_q
    return 0.5 * ((log_p.exp() * diff).sum(dim=-1) - (log_q.exp() * diff).sum(dim=-1))
