"""Fixtures for the engine tests: a fresh tiny model per test (it loads in ~0.1 s)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

pytest.importorskip("torch", reason="the local engine needs the [local] extra (torch)")

from tinkex.local.engine import (
    TINY_MODEL,
    AdapterHost,
    EngineDatum,
    LoraSpec,
    TrainingSession,
    load_base_model,
)

MakeDatum = Callable[..., EngineDatum]


@pytest.fixture
def host() -> AdapterHost:
    """A host over a freshly loaded tiny model (LoRA injection mutates the base in place)."""
    return AdapterHost(load_base_model(TINY_MODEL))


@pytest.fixture
def session(host: AdapterHost) -> TrainingSession:
    """A rank-8 adapter on every layer kind, seeded."""
    return TrainingSession.create(host, "policy", LoraSpec(rank=8, seed=0))


@pytest.fixture
def encode(host: AdapterHost) -> Callable[[str], list[int]]:
    """The tiny model's tokenizer as a plain function."""

    def _encode(text: str) -> list[int]:
        return list(host.base.tokenizer.encode(text))

    return _encode


@pytest.fixture
def make_datum(encode: Callable[[str], list[int]]) -> MakeDatum:
    """A next-token datum for `text`, with optional extra `loss_fn_inputs` per token."""

    def _make(text: str, seed: int = 0, **extra: np.ndarray) -> EngineDatum:
        ids = encode(text)
        n = len(ids) - 1
        rng = np.random.default_rng(seed)
        inputs: dict[str, np.ndarray] = {
            "target_tokens": np.asarray(ids[1:], dtype=np.int64),
            "weights": rng.uniform(-0.5, 1.5, n).astype(np.float32),
            "logprobs": rng.uniform(-3.0, -0.1, n).astype(np.float32),
            "advantages": rng.normal(size=n).astype(np.float32),
        }
        inputs.update(extra)
        return EngineDatum(tokens=ids[:-1], loss_fn_inputs=inputs)

    return _make
