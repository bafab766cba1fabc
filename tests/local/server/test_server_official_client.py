"""The official `tinker==0.38.0` client against tinkex.local, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

tinker = pytest.importorskip("tinker")

from server_testkit import TINY  # noqa: E402

from tinkex.local.server import LocalServer  # noqa: E402

types = tinker.types


@pytest.fixture
def service(open_server: LocalServer) -> Iterator[Any]:
    client = tinker.ServiceClient(base_url=open_server.base_url, api_key="tml-test")
    yield client
    client.close("success")


def _datum(tokens: list[int], **extra: np.ndarray) -> Any:
    inputs = {"target_tokens": np.asarray(tokens[1:], dtype=np.int64), **extra}
    return types.Datum(model_input=types.ModelInput.from_ints(tokens[:-1]), loss_fn_inputs=inputs)


def test_supervised_training_saves_samples_and_resumes(service: Any) -> None:
    training = service.create_lora_training_client(base_model=TINY, rank=8, seed=0).result()
    tokenizer = training.get_tokenizer()
    tokens = tokenizer.encode("The quick brown fox jumps over the lazy dog. " * 3)
    weights = np.ones(len(tokens) - 1, dtype=np.float32)
    datum = _datum(tokens, weights=weights)

    losses = []
    for _ in range(5):
        output = training.forward_backward([datum], "cross_entropy").result()
        training.optim_step(types.AdamParams(learning_rate=1e-2)).result()
        losses.append(output.metrics["loss:sum"])
    assert losses == sorted(losses, reverse=True)
    assert losses[-1] < 0.8 * losses[0]
    logprobs = output.loss_fn_outputs[0]["logprobs"].to_numpy()
    assert logprobs.shape == (len(tokens) - 1,)

    state_path = training.save_state("after-five").result().path
    sampler_path = training.save_weights_for_sampler("sampler-five").result().path
    assert state_path.endswith("/weights/after-five")
    assert sampler_path.endswith("/sampler_weights/sampler-five")

    sampler = service.create_sampling_client(model_path=sampler_path).result()
    prompt = types.ModelInput.from_ints(tokens[:6])
    params = types.SamplingParams(max_tokens=5, seed=3, temperature=1.0)
    sampled = sampler.sample(prompt, 2, params, include_prompt_logprobs=True).result()
    assert len(sampled.sequences) == 2
    for sequence in sampled.sequences:
        assert 1 <= len(sequence.tokens) <= 5
        assert len(sequence.logprobs) == len(sequence.tokens)
        assert all(lp <= 0 for lp in sequence.logprobs)
        assert sequence.sequence_id
    assert sampled.prompt_logprobs[0] is None

    scored = sampler.compute_logprobs(prompt).result()
    assert scored[0] is None
    assert len(scored) == 6
    np.testing.assert_allclose(scored[1:], sampled.prompt_logprobs[1:], rtol=1e-4)
    suffix = sampler.compute_logprobs(prompt, prompt_logprobs_last_n=2).result()
    assert suffix[:4] == [None] * 4
    np.testing.assert_allclose(suffix[4:], scored[4:], rtol=1e-5)
    # The sampler serves the trained weights: training's own logprobs agree.
    forward = training.forward([datum], "cross_entropy").result()
    trained = forward.loss_fn_outputs[0]["logprobs"].to_numpy()[:5]
    np.testing.assert_allclose(scored[1:], trained, rtol=1e-4, atol=1e-5)

    resumed = service.create_training_client_from_state_with_optimizer(state_path).result()
    assert resumed.model_id != training.model_id
    assert resumed.get_info().model_data.model_name == TINY
    again = resumed.forward([datum], "cross_entropy").result()
    np.testing.assert_allclose(again.metrics["loss:sum"], forward.metrics["loss:sum"], rtol=1e-5)


def test_reinforcement_step_with_importance_sampling(service: Any) -> None:
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=1).result()
    sampler = training.save_weights_and_get_sampling_client().result()
    prompt = [5, 9, 13, 17]
    params = types.SamplingParams(max_tokens=6, seed=11, stop=[])
    result = sampler.sample(types.ModelInput.from_ints(prompt), 4, params).result()

    data = []
    for i, sequence in enumerate(result.sequences):
        tokens = prompt + list(sequence.tokens)
        n = len(tokens) - 1
        sampled_lp = np.zeros(n, dtype=np.float32)
        sampled_lp[len(prompt) - 1 :] = sequence.logprobs
        advantages = np.zeros(n, dtype=np.float32)
        advantages[len(prompt) - 1 :] = 1.0 if i % 2 == 0 else -1.0
        data.append(_datum(tokens, logprobs=sampled_lp, advantages=advantages))
    output = training.forward_backward(data, "importance_sampling").result()
    step = training.optim_step(types.AdamParams(learning_rate=1e-3)).result()

    assert len(output.loss_fn_outputs) == 4
    # Sampler and trainer compute the same logprobs, so the ratios start at exactly 1.
    for datum_out, sequence in zip(output.loss_fn_outputs, result.sequences, strict=True):
        trained = datum_out["logprobs"].to_numpy()[len(prompt) - 1 :]
        np.testing.assert_allclose(trained, sequence.logprobs, rtol=1e-4, atol=1e-4)
    assert step.metrics["grad_norm:mean"] > 0


def test_rest_client_lists_and_manages_checkpoints(service: Any, open_server: LocalServer) -> None:
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=2).result()
    first = training.save_state("one").result().path
    second = training.save_weights_for_sampler("two").result().path
    rest = tinker.RestClient(base_url=open_server.base_url, api_key="tml-test")

    listed = rest.list_checkpoints(training.model_id).result().checkpoints
    assert {c.tinker_path for c in listed} == {first, second}
    assert {c.checkpoint_type for c in listed} == {"training", "sampler"}

    run = rest.get_training_run(training.model_id).result()
    assert run.base_model == TINY
    assert run.lora_rank == 4
    assert run.last_checkpoint.tinker_path == first
    assert rest.get_weights_info_by_tinker_path(first).result().base_model == TINY

    rest.publish_checkpoint_from_tinker_path(first).result()
    assert rest.get_training_run(training.model_id).result().last_checkpoint.public
    rest.unpublish_checkpoint_from_tinker_path(first).result()
    rest.set_checkpoint_ttl_from_tinker_path(first, 7200).result()
    expiring = rest.get_training_run(training.model_id).result().last_checkpoint
    assert expiring.expires_at is not None
    assert not expiring.public

    rest.delete_checkpoint_from_tinker_path(second).result()
    remaining = rest.list_checkpoints(training.model_id).result().checkpoints
    assert [c.tinker_path for c in remaining] == [first]
    users = rest.list_user_checkpoints(limit=1).result()
    assert users.cursor.limit == 1
    assert len(users.checkpoints) == 1

    session_id = training.model_id.split(":", 1)[0]
    session = rest.get_session(session_id).result()
    assert training.model_id in session.training_run_ids
