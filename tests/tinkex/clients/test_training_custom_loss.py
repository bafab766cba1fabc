"""forward_backward_custom: the weights sent for the backward pass are -dC/dlogprobs,
checked against finite differences of the user's loss; metrics and seq_ids as the official
client; a failing loss poisons the client."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fake_tinker import BASE_MODEL, LOGPROB, FakeTinker

from tinkex import types
from tinkex.clients.service import ServiceClient
from tinkex.clients.training import PoisonedClientError, TrainingClient

COEFFICIENTS = [0.5, -1.5, 2.0]


def datum(tokens: int) -> types.Datum:
    return types.Datum(
        model_input=types.ModelInput.from_ints(list(range(tokens))),
        loss_fn_inputs={"target_tokens": list(range(1, tokens + 1))},
    )


def cubic_loss(
    data: list[types.Datum], logprobs: list[torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    coefficients = torch.tensor(COEFFICIENTS)
    total = sum((coefficients[: len(lp)] * lp**3).sum() for lp in logprobs)
    assert isinstance(total, torch.Tensor)
    return total, {"custom:mean": float(total.detach()) / len(data)}


@pytest.fixture
def training(service_client: ServiceClient) -> TrainingClient:
    return service_client.create_lora_training_client(BASE_MODEL).result(10)


def finite_difference(values: np.ndarray, index: int, step: float = 1e-3) -> float:
    def loss(array: np.ndarray) -> float:
        tensor = torch.tensor(array, dtype=torch.float64)
        value, _ = cubic_loss([datum(1)], [tensor])
        return float(value)

    up, down = values.copy(), values.copy()
    up[index] += step
    down[index] -= step
    return (loss(up) - loss(down)) / (2 * step)


def test_backward_weights_are_minus_the_loss_gradient(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    result = training.forward_backward_custom([datum(3), datum(2)], cubic_loss).result(10)
    forward_a, backward_a = fake_tinker.bodies("forward_backward")
    assert [forward_a["forward_only"], backward_a["forward_only"]] == [True, False]
    assert forward_a["forward_backward_input"]["loss_fn"] == "cross_entropy"
    logprobs = np.full(3, LOGPROB)
    sent = backward_a["forward_backward_input"]["data"][0]["loss_fn_inputs"]["weights"]["data"]
    expected = [-finite_difference(logprobs, i) for i in range(3)]
    assert sent == pytest.approx(expected, rel=1e-4)
    assert result.metrics["loss:sum"] == pytest.approx(
        sum(c * LOGPROB**3 for c in COEFFICIENTS) + sum(c * LOGPROB**3 for c in COEFFICIENTS[:2])
    )
    assert "surrogate_loss:sum" in result.metrics
    assert result.metrics["custom:mean"] == pytest.approx(result.metrics["loss:sum"] / 2)
    assert [forward_a["seq_id"], backward_a["seq_id"]] == [1, 2]
    step = training.optim_step(types.AdamParams()).result(10)
    assert step.metrics == {"step": 3.0}


def test_chunked_custom_loss_reserves_both_phases(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    training.holder._config = types.ClientConfigResponse(fwdbwd_max_chunk_len=1)
    later = training.optim_step(types.AdamParams())
    training.forward_backward_custom([datum(2), datum(2)], cubic_loss).result(10)
    later.result(10)
    fwd = sorted(b["seq_id"] for b in fake_tinker.bodies("forward_backward"))
    assert fwd == [2, 3, 4, 5]
    assert fake_tinker.bodies("optim_step")[0]["seq_id"] == 1


def test_a_failing_custom_loss_poisons_the_client(training: TrainingClient) -> None:
    def broken(
        data: list[types.Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        raise ArithmeticError("loss blew up")

    failed = training.forward_backward_custom([datum(2)], broken)
    with pytest.raises(ArithmeticError, match="blew up"):
        failed.result(10)
    with pytest.raises(PoisonedClientError):
        training.optim_step(types.AdamParams()).result(10)


def test_custom_loss_input_validation(training: TrainingClient) -> None:
    no_targets = types.Datum(model_input=types.ModelInput.from_ints([1]), loss_fn_inputs={})
    with pytest.raises(ValueError, match="target_tokens"):
        training.forward_backward_custom([no_targets], cubic_loss)
    with pytest.raises(ValueError, match="loss_type_input"):
        training.forward_backward_custom([datum(1)], cubic_loss, loss_type_input="x")  # type: ignore[arg-type]


def test_a_loss_ignoring_some_logprobs_is_refused(training: TrainingClient) -> None:
    def first_only(
        data: list[types.Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        return logprobs[0].sum(), {}

    with pytest.raises(ValueError, match=r"logprobs\[1\]"):
        training.forward_backward_custom([datum(1), datum(1)], first_only).result(10)
