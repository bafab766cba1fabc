"""The issue's whole flow against tinkex.local, once with the official `tinker==0.38.0`
client and once with `tinkex`, written once against the shared API: supervised steps with
falling loss, save_state, sampler weights, sampling with logprobs, compute_logprobs, resume
with the optimizer, an importance-sampling RL step, the REST checkpoint listing, close."""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
import pytest
from server_testkit import TINY

from tinkex.local.server import LocalServer


@pytest.fixture(params=["tinker", "tinkex"])
def sdk(request: pytest.FixtureRequest) -> ModuleType:
    name: str = request.param
    if name == "tinker":
        pytest.importorskip("tinker")
    return importlib.import_module(name)


def _datum(sdk: ModuleType, tokens: list[int], **extra: np.ndarray) -> object:
    inputs = {"target_tokens": np.asarray(tokens[1:], dtype=np.int64), **extra}
    return sdk.types.Datum(
        model_input=sdk.types.ModelInput.from_ints(tokens[:-1]), loss_fn_inputs=inputs
    )


def test_train_save_sample_resume_rl_list_close(sdk: ModuleType, open_server: LocalServer) -> None:
    types = sdk.types
    service = sdk.ServiceClient(base_url=open_server.base_url, api_key="tml-flow")
    training = service.create_lora_training_client(base_model=TINY, rank=8, seed=0).result()
    tokens = training.get_tokenizer().encode("The quick brown fox jumps over the lazy dog. " * 3)
    datum = _datum(sdk, tokens, weights=np.ones(len(tokens) - 1, dtype=np.float32))

    losses = []
    for _ in range(5):
        output = training.forward_backward([datum], "cross_entropy").result()
        training.optim_step(types.AdamParams(learning_rate=1e-2)).result()
        losses.append(output.metrics["loss:sum"])
    assert losses == sorted(losses, reverse=True)
    assert losses[-1] < 0.8 * losses[0]
    assert output.loss_fn_outputs[0]["logprobs"].to_numpy().shape == (len(tokens) - 1,)

    state_path = training.save_state("flow-state").result().path
    sampler_path = training.save_weights_for_sampler("flow-sampler").result().path
    sampler = service.create_sampling_client(model_path=sampler_path).result()
    prompt = types.ModelInput.from_ints(tokens[:6])
    params = types.SamplingParams(max_tokens=5, seed=3, temperature=1.0, stop=[])
    sampled = sampler.sample(prompt, 2, params, include_prompt_logprobs=True).result()
    assert [len(s.tokens) for s in sampled.sequences] == [5, 5]
    assert all(len(s.logprobs) == 5 and max(s.logprobs) <= 0 for s in sampled.sequences)
    scored = sampler.compute_logprobs(prompt).result()
    assert scored[0] is None
    assert sampled.prompt_logprobs[0] is None
    np.testing.assert_allclose(scored[1:], sampled.prompt_logprobs[1:], rtol=1e-4)

    resumed = service.create_training_client_from_state_with_optimizer(state_path).result()
    assert resumed.model_id != training.model_id
    data = []
    for i, sequence in enumerate(sampled.sequences):
        full = tokens[:6] + list(sequence.tokens)
        behaviour = np.zeros(len(full) - 1, dtype=np.float32)
        behaviour[5:] = sequence.logprobs
        advantages = np.zeros(len(full) - 1, dtype=np.float32)
        advantages[5:] = 1.0 if i == 0 else -1.0
        data.append(_datum(sdk, full, logprobs=behaviour, advantages=advantages))
    rl = resumed.forward_backward(data, "importance_sampling").result()
    step = resumed.optim_step(types.AdamParams(learning_rate=1e-3)).result()
    assert step.metrics["grad_norm:mean"] > 0
    for datum_out, sequence in zip(rl.loss_fn_outputs, sampled.sequences, strict=True):
        # The resumed trainer has the sampler's weights: every ratio starts at 1.
        trained = datum_out["logprobs"].to_numpy()[5:]
        np.testing.assert_allclose(trained, sequence.logprobs, rtol=1e-4, atol=1e-4)

    rest = sdk.RestClient(base_url=open_server.base_url, api_key="tml-flow")
    listed = rest.list_checkpoints(training.model_id).result().checkpoints
    assert sorted(c.tinker_path for c in listed) == sorted([state_path, sampler_path])
    service.close("success")
