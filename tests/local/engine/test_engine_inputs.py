"""Bad batches fail before any compute, naming the datum, the key and both shapes."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tinkex.local.engine import EngineDatum, TrainingSession, UserInputError

GOOD = EngineDatum(
    [5, 6, 7],
    {
        "target_tokens": np.array([6, 7, 8]),
        "weights": np.ones(3, np.float32),
        "logprobs": np.full(3, -1.0, np.float32),
        "advantages": np.ones(3, np.float32),
    },
)


def _with(**changes: object) -> EngineDatum:
    inputs = {k: v for k, v in GOOD.loss_fn_inputs.items() if changes.get(k, 0) is not None}
    inputs.update({k: np.asarray(v) for k, v in changes.items() if v is not None})
    return EngineDatum(GOOD.tokens, inputs)


CASES = [
    ([], "cross_entropy", "data: empty batch"),
    ([GOOD, EngineDatum([], GOOD.loss_fn_inputs)], "cross_entropy", "data[1].model_input"),
    ([EngineDatum([5, 6, 5000], GOOD.loss_fn_inputs)], "cross_entropy", "[0, 1024)"),
    (
        [GOOD, _with(target_tokens=None)],
        "cross_entropy",
        "data[1].loss_fn_inputs['target_tokens']: missing",
    ),
    (
        [_with(target_tokens=[6, 7])],
        "cross_entropy",
        "expected shape (T,) or (T, K) with T=3 (one target per input token), got (2,)",
    ),
    ([_with(target_tokens=[[6], [7], [8]])], "ppo", "expected shape (T,) with T=3"),
    ([_with(target_tokens=[6.0, 7.0, 8.0])], "cross_entropy", "expected integer token ids"),
    (
        [_with(target_tokens=[6, 7, -1])],
        "cross_entropy",
        "'target_tokens']: token ids must lie in [0, 1024)",
    ),
    (
        [_with(weights=np.ones(4))],
        "cross_entropy",
        "data[0].loss_fn_inputs['weights']: expected shape (3,)",
    ),
    ([_with(weights=["a", "b", "c"])], "cross_entropy", "'weights']: expected numbers"),
    (
        [_with(advantages=None)],
        "importance_sampling",
        "data[0].loss_fn_inputs['advantages']: missing",
    ),
    ([_with(logprobs=[0.0, np.nan, 0.0])], "dro", "'logprobs']: contains NaN"),
]


@pytest.mark.parametrize(("data", "loss_fn", "message"), CASES)
def test_bad_batches_raise_user_errors(
    session: TrainingSession, data: list[EngineDatum], loss_fn: str, message: str
) -> None:
    with pytest.raises(UserInputError, match=re.escape(message)):
        session.forward_backward(data, loss_fn)
    assert all(p.grad is None for p in session.parameters.values())


def test_missing_weights_default_to_one(session: TrainingSession) -> None:
    plain = session.forward([_with(weights=None)], "cross_entropy").metrics["loss:sum"]
    ones = session.forward([GOOD], "cross_entropy").metrics["loss:sum"]
    assert plain == ones
    assert isinstance(UserInputError("x"), ValueError)
    assert torch.is_grad_enabled()
