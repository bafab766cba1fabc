"""Batches of datums with per-token logprobs (float64, requiring grad) for regularizer tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from tinkex.types import Datum, ModelInput

Batch = tuple[list[Datum], list[torch.Tensor]]
MakeBatch = Callable[..., Batch]


@pytest.fixture
def make_batch() -> MakeBatch:
    """Datums of the given lengths; extra loss inputs named in ``fields`` hold logprob-like data."""

    def build(
        lengths: tuple[int, ...] = (3, 5, 4), seed: int = 0, fields: tuple[str, ...] = ()
    ) -> Batch:
        rng = np.random.default_rng(seed)
        data, logprobs = [], []
        for length in lengths:
            inputs: dict[str, object] = {"target_tokens": rng.integers(0, 50, length).tolist()}
            for field in fields:
                inputs[field] = (-rng.uniform(0.05, 3.0, length)).astype(np.float32)
            data.append(
                Datum(model_input=ModelInput.from_ints(list(range(length))), loss_fn_inputs=inputs)  # type: ignore[arg-type]
            )
            values = -rng.uniform(0.05, 3.0, length)
            logprobs.append(torch.tensor(values, dtype=torch.float64, requires_grad=True))
        return data, logprobs

    return build
