"""TrainingClient end to end on the embedded server (`tinkex.local`): a short supervised run
lowers the loss, checkpoints round-trip, a custom loss trains like the built-in one and the
trained weights can be sampled."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

import torch

from tinkex import types
from tinkex.clients.service import ServiceClient
from tinkex.local.config import DEFAULT_MODELS

MODEL = DEFAULT_MODELS[0]
TOKENS = [1, 5, 9, 13, 17, 21]


def batch() -> list[types.Datum]:
    return [
        types.Datum(
            model_input=types.ModelInput.from_ints(TOKENS[:-1]),
            loss_fn_inputs={"target_tokens": TOKENS[1:], "weights": [1.0] * (len(TOKENS) - 1)},
        )
    ]


@pytest.fixture
def service(local_service: ServiceClient) -> ServiceClient:
    return local_service


def test_supervised_steps_lower_the_loss_and_checkpoints_round_trip(
    service: ServiceClient,
) -> None:
    training = service.create_lora_training_client(MODEL, rank=4, seed=0).result(120)
    losses = []
    for _ in range(4):
        fwd_bwd = training.forward_backward(batch(), "cross_entropy")
        step = training.optim_step(types.AdamParams(learning_rate=5e-2))
        losses.append(fwd_bwd.result(120).metrics["loss:sum"])
        step.result(120)
    assert losses[-1] < losses[0]
    saved = training.save_state("h9-step").result(120)
    restored = service.create_training_client_from_state_with_optimizer(saved.path).result(120)
    before = training.forward(batch(), "cross_entropy").result(120).metrics["loss:sum"]
    after = restored.forward(batch(), "cross_entropy").result(120).metrics["loss:sum"]
    assert after == pytest.approx(before, rel=1e-4)
    sampler = training.save_weights_and_get_sampling_client().result(120)
    params = types.SamplingParams(max_tokens=2, temperature=1.0, seed=0)
    prompt = types.ModelInput.from_ints(TOKENS[:3])
    assert len(sampler.sample(prompt, 1, params).result(120).sequences) == 1


def test_custom_cross_entropy_matches_the_built_in_loss(service: ServiceClient) -> None:
    def cross_entropy(
        data: list[types.Datum], logprobs: list[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        total = sum((-lp).sum() for lp in logprobs)
        assert isinstance(total, torch.Tensor)
        return total, {}

    training = service.create_lora_training_client(MODEL, rank=4, seed=0).result(120)
    custom = training.forward_backward_custom(batch(), cross_entropy).result(120)
    built_in = training.forward(batch(), "cross_entropy").result(120)
    assert custom.metrics["loss:sum"] == pytest.approx(built_in.metrics["loss:sum"], rel=1e-4)
    assert custom.metrics["surrogate_loss:sum"] == pytest.approx(
        custom.metrics["loss:sum"], rel=1e-4
    )
