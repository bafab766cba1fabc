"""Reduce the metrics of a chunked forward/backward call into one metrics dict.

A large ``forward_backward`` is sent as several chunk requests; each answers with its own
metrics. Every metric name carries its reduction after a colon (``"loss:sum"``,
``"mfu:mean"``), and this module folds the chunk values the way the official client does:

=========  ===============================================================================
suffix     result
=========  ===============================================================================
``mean``   mean weighted by each chunk's datum count (``len(loss_fn_outputs)``)
``sum``    sum
``min``    minimum
``max``    maximum
``slack``  maximum minus the weighted mean
``hash2``  sum of the values as unsigned 64-bit integers, modulo 2**64 (order-insensitive)
``unique`` every value kept: the first under the key, the others under ``key_1``, ``key_2``...
=========  ===============================================================================

Only keys of the first chunk are reduced; a key missing from any chunk is dropped, and so is
a key whose suffix is not in the table (a server newer than this client). If every chunk has
zero datums, the weighted reductions fall back to equal weights (the official client divides
by zero there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

__all__ = ["REDUCTIONS", "ChunkResult", "reduce_chunk_metrics", "reduce_metrics"]

_UINT64_MASK = 0xFFFF_FFFF_FFFF_FFFF


class ChunkResult(Protocol):
    """What reduction needs from one chunk's ``ForwardBackwardOutput``."""

    @property
    def metrics(self) -> Mapping[str, float]: ...

    @property
    def loss_fn_outputs(self) -> Sequence[object]: ...


def _weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    if sum(weights) == 0:
        return float(np.mean(values))
    return float(np.average(values, weights=weights))


def _hash2(values: Sequence[float], _weights: Sequence[float]) -> int:
    if not all(np.isfinite(values)):
        raise ValueError(f"hash2 metric values must be finite numbers, got {list(values)}")
    return sum(int(v) & _UINT64_MASK for v in values) & _UINT64_MASK


REDUCTIONS: dict[str, Callable[[Sequence[float], Sequence[float]], float]] = {
    "mean": _weighted_mean,
    "sum": lambda values, _w: np.sum(values).item(),
    "min": lambda values, _w: np.min(values).item(),
    "max": lambda values, _w: np.max(values).item(),
    "slack": lambda values, w: np.max(values).item() - _weighted_mean(values, w),
    "hash2": _hash2,
}
"""Reductions that fold the chunk values of a key into one number, by suffix."""

_UNIQUE = "unique"


def _reduction_of(key: str) -> str:
    parts = key.split(":")
    if len(parts) != 2:
        raise ValueError(
            f"metric key {key!r} must be '<name>:<reduction>' with exactly one colon, "
            f"where <reduction> is one of {[*REDUCTIONS, _UNIQUE]}; rename the metric"
        )
    return parts[1]


def reduce_metrics(
    metrics: Sequence[Mapping[str, float]], weights: Sequence[float]
) -> dict[str, float]:
    """Fold per-chunk ``metrics`` into one dict; ``weights[i]`` is chunk ``i``'s datum count.

    Raises ``ValueError`` for a key that is not ``<name>:<reduction>``, or when the two
    sequences differ in length.
    """
    if len(metrics) != len(weights):
        raise ValueError(
            f"reduce_metrics needs one weight per chunk: got {len(metrics)} metrics dicts "
            f"and {len(weights)} weights"
        )
    if not metrics:
        return {}
    reduced: dict[str, float] = {}
    for key in metrics[0]:
        reduction = _reduction_of(key)
        if reduction != _UNIQUE and reduction not in REDUCTIONS:
            continue
        if not all(key in chunk for chunk in metrics):
            continue
        values = [chunk[key] for chunk in metrics]
        if reduction == _UNIQUE:
            reduced[key] = values[0]
            reduced.update({f"{key}_{i}": v for i, v in enumerate(values[1:], start=1)})
        else:
            try:
                reduced[key] = REDUCTIONS[reduction](values, weights)
            except ValueError as exc:
                raise ValueError(f"cannot reduce metric {key!r}: {exc}") from exc
    return reduced


def reduce_chunk_metrics(results: Sequence[ChunkResult]) -> dict[str, float]:
    """Fold the metrics of chunk results, each weighted by its number of loss outputs."""
    return reduce_metrics(
        [result.metrics for result in results],
        [len(result.loss_fn_outputs) for result in results],
    )
