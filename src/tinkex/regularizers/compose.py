"""Combine a base loss with weighted regularizers into one ``forward_backward_custom`` loss.

``compose(base, [(L1(), 0.01), (Entropy(), 0.1)])`` returns a callable with the custom
loss signature. The total is ``base + sum(weight_i * reg_i)``; the metrics report every
term by name (raw value, weighted contribution and, when the logprobs carry gradients, the
gradient norm of each term and of the total).

Concurrency: regularizers are independent, so ``parallel=True`` runs them on a thread pool
(torch releases the GIL inside its kernels). Measured on 2 CPU cores with all eight built-in
regularizers: 8 datums x 256 tokens took 5.1 ms sequential vs 8.6 ms parallel (thread
hand-off dominates), 32 datums x 1024 tokens took 62 ms vs 38 ms. Small per-step batches
are the common case, so the default is sequential; turn ``parallel`` on for large batches
or slow regularizers (e.g. a ``compute_reference`` that calls out).
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tinkex.types import Datum

from .base import LossFn, Metrics, Regularizer, check_finite

__all__ = ["ComposedLoss", "WeightedRegularizer", "compose"]

DEFAULT_TIMEOUT = 30.0
"""Seconds each regularizer may take when run in parallel."""


@dataclass(frozen=True)
class WeightedRegularizer:
    """A regularizer and the weight its loss is multiplied by in the total."""

    regularizer: Regularizer
    weight: float


@dataclass(frozen=True)
class _Term:
    name: str
    value: torch.Tensor
    weight: float
    metrics: Metrics
    grad_norm: float | None


class ComposedLoss:
    """``base + sum(weight * regularizer)`` with per-term metrics; see ``compose``."""

    def __init__(
        self,
        base_loss: LossFn | None,
        regularizers: Sequence[WeightedRegularizer],
        *,
        track_grad_norms: bool,
        parallel: bool,
        max_workers: int | None,
        timeout: float,
    ) -> None:
        self.base_loss = base_loss
        self.regularizers = tuple(regularizers)
        self.track_grad_norms = track_grad_norms
        self.parallel = parallel
        self.max_workers = max_workers or min(len(self.regularizers), os.cpu_count() or 1) or 1
        self.timeout = timeout

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        """Compute the total loss and the metrics of every term."""
        inputs = [lp for lp in logprobs if lp.requires_grad] if self.track_grad_norms else []
        metrics: Metrics = {}
        if self.base_loss is None:
            total = torch.zeros((), dtype=logprobs[0].dtype if logprobs else torch.float32)
        else:
            base, base_metrics = self.base_loss(data, logprobs)
            total = _scalar(base)
            metrics.update(base_metrics)
            metrics["base_loss:sum"] = float(total.detach())
            if inputs:
                metrics["base_loss/grad_norm:mean"] = _grad_norm(total, inputs)
        terms = self._run_all(data, logprobs, inputs)
        regularizer_total = torch.zeros_like(total)
        for term in terms:
            regularizer_total = regularizer_total + term.weight * term.value
            metrics.update(_term_metrics(term))
        total = total + regularizer_total
        metrics["regularizer_total:sum"] = float(regularizer_total.detach())
        metrics["loss_total:sum"] = float(total.detach())
        if inputs:
            metrics["total_grad_norm:mean"] = _grad_norm(total, inputs)
        return total, metrics

    def _run_all(
        self, data: list[Datum], logprobs: list[torch.Tensor], inputs: list[torch.Tensor]
    ) -> list[_Term]:
        if not self.parallel or len(self.regularizers) < 2:
            return [self._run_one(item, data, logprobs, inputs) for item in self.regularizers]
        with concurrent.futures.ThreadPoolExecutor(self.max_workers) as pool:
            futures = [
                pool.submit(self._run_one, item, data, logprobs, inputs)
                for item in self.regularizers
            ]
            return [future.result(timeout=self.timeout) for future in futures]

    @staticmethod
    def _run_one(
        item: WeightedRegularizer,
        data: list[Datum],
        logprobs: list[torch.Tensor],
        inputs: list[torch.Tensor],
    ) -> _Term:
        name = item.regularizer.name
        try:
            value, metrics = item.regularizer(data, logprobs)
        except Exception as exc:
            raise RuntimeError(f"regularizer {name!r} failed: {exc}") from exc
        value = _scalar(value)
        grad_norm = _grad_norm(value, inputs) if inputs else None
        return _Term(name, value, item.weight, metrics, grad_norm)


def compose(
    base_loss: LossFn | None,
    regularizers: Sequence[tuple[Regularizer, float] | WeightedRegularizer],
    *,
    track_grad_norms: bool = True,
    parallel: bool = False,
    max_workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ComposedLoss:
    """A custom loss ``base_loss + sum(weight * regularizer)`` (``base_loss`` None: just them).

    Names must be unique and weights finite and >= 0. Metrics: ``base_loss:sum``,
    ``<name>:sum`` (raw value), ``<name>/contribution:sum`` (weighted),
    ``<name>/<metric>`` (the regularizer's own), ``regularizer_total:sum``,
    ``loss_total:sum`` and, with ``track_grad_norms`` and logprobs that require grad,
    ``<name>/grad_norm:mean``, ``<name>/grad_norm_weighted:mean`` and
    ``total_grad_norm:mean``.
    """
    items = [
        item if isinstance(item, WeightedRegularizer) else WeightedRegularizer(*item)
        for item in regularizers
    ]
    seen: set[str] = set()
    for index, item in enumerate(items):
        name = item.regularizer.name
        if not name:
            raise ValueError(f"regularizers[{index}] has an empty name; give it a name")
        if name in seen:
            raise ValueError(
                f"regularizers[{index}] name {name!r} is used twice; names must be unique "
                "(construct it with name=...)"
            )
        seen.add(name)
        check_finite(f"weight of regularizer {name!r}", item.weight, minimum=0.0)
    check_finite("timeout", timeout, minimum=0.0)
    return ComposedLoss(
        base_loss,
        items,
        track_grad_norms=track_grad_norms,
        parallel=parallel,
        max_workers=max_workers,
        timeout=timeout,
    )


def _scalar(value: torch.Tensor) -> torch.Tensor:
    return value if value.ndim == 0 else value.sum()


def _grad_norm(value: torch.Tensor, inputs: list[torch.Tensor]) -> float:
    """``||d value / d inputs||_2`` over all inputs; 0.0 when value does not depend on them."""
    if not value.requires_grad:
        return 0.0
    grads = torch.autograd.grad(value, inputs, retain_graph=True, allow_unused=True)
    squares = [g.detach().square().sum() for g in grads if g is not None]
    return float(torch.stack(squares).sum().sqrt()) if squares else 0.0


def _term_metrics(term: _Term) -> Metrics:
    metrics: Metrics = {
        f"{term.name}:sum": float(term.value.detach()),
        f"{term.name}/contribution:sum": term.weight * float(term.value.detach()),
    }
    metrics.update({f"{term.name}/{key}": value for key, value in term.metrics.items()})
    if term.grad_norm is not None:
        metrics[f"{term.name}/grad_norm:mean"] = term.grad_norm
        metrics[f"{term.name}/grad_norm_weighted:mean"] = term.weight * term.grad_norm
    return metrics
