"""Orthogonality of the datums' logprob vectors: discourages identical token profiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from tinkex.types import Datum

from .base import Metrics, check_choice

__all__ = ["Orthogonality"]

NORM_FLOOR = 1e-8


@dataclass(frozen=True)
class Orthogonality:
    """Gram-matrix penalty on M, one row per datum (flattened, zero-padded to one length).

    Rows are L2-normalised first when ``normalize`` (norm floored at 1e-8); with G = M Mᵀ:
    ``soft`` = sum of squared off-diagonal entries, ``hard`` = sum (G - I)²,
    ``spectral`` = (trace G - n)² + sum of squared off-diagonal entries.
    """

    mode: Literal["soft", "hard", "spectral"] = "soft"
    normalize: bool = True
    name: str = "orthogonality"

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, ("soft", "hard", "spectral"))

    def __call__(
        self, data: list[Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, Metrics]:
        if not logprobs:
            raise ValueError("logprobs is empty: a regularizer needs at least one datum")
        rows = [item.reshape(-1) for item in logprobs]
        width = max(row.numel() for row in rows)
        matrix = torch.stack(
            [torch.nn.functional.pad(row, (0, width - row.numel())) for row in rows]
        )
        if self.normalize:
            matrix = matrix / matrix.norm(dim=1, keepdim=True).clamp(min=NORM_FLOOR)
        gram = matrix @ matrix.T
        identity = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        off_diagonal = (gram * (1 - identity)).square().sum()
        if self.mode == "soft":
            loss = off_diagonal
        elif self.mode == "hard":
            loss = (gram - identity).square().sum()
        else:
            loss = (gram.trace() - gram.shape[0]).square() + off_diagonal
        return loss, {"orthogonality:mean": float(loss.detach())}
