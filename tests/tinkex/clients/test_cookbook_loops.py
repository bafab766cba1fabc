"""Cookbook-style loops written against `tinker`, run with `sys.modules["tinker"] = tinkex`
against the fake service and against the embedded local server (`tinkex.local`): supervised
learning and a reinforcement-learning step (sample, then train on the samples)."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from fake_tinker import API_KEY, BASE_MODEL, LOGPROB, FakeTinker

import tinkex


@pytest.fixture
def tinker(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")  # the fake service has no telemetry endpoint
    monkeypatch.setitem(sys.modules, "tinker", tinkex)
    import tinker as imported

    return imported


def supervised_loop(
    base_url: str, steps: int, base_model: str = BASE_MODEL, learning_rate: float = 1e-4
) -> tuple[list[float], str]:
    import tinker
    from tinker import types

    service_client = tinker.ServiceClient(base_url=base_url, api_key=API_KEY)
    training_client = service_client.create_lora_training_client(base_model=base_model, rank=8)
    losses = []
    for step in range(steps):
        batch = [
            types.Datum(
                model_input=types.ModelInput.from_ints([1, 2, 3 + step]),
                loss_fn_inputs={
                    "target_tokens": types.TensorData.from_numpy(np.array([2, 3, 4])),
                    "weights": types.TensorData.from_numpy(np.array([0.0, 1.0, 1.0])),
                },
            )
        ]
        fwd_bwd_future = training_client.forward_backward(batch, loss_fn="cross_entropy")
        optim_future = training_client.optim_step(types.AdamParams(learning_rate=learning_rate))
        result = fwd_bwd_future.result()
        optim_future.result()
        losses.append(result.metrics["loss:sum"])
    path = training_client.save_state(name="final").result().path
    service_client.close("success").result()
    return losses, path


def rl_step(base_url: str, base_model: str = BASE_MODEL) -> float:
    import tinker
    from tinker import types

    service_client = tinker.ServiceClient(base_url=base_url, api_key=API_KEY)
    training_client = service_client.create_lora_training_client(base_model)
    sampling_client = training_client.save_weights_and_get_sampling_client()
    prompt = types.ModelInput.from_ints([5, 6, 7])
    params = types.SamplingParams(max_tokens=3, temperature=1.0)
    response = sampling_client.sample(prompt, num_samples=4, sampling_params=params).result()
    rewards = [float(i) for i in range(len(response.sequences))]
    mean = sum(rewards) / len(rewards)
    data = []
    for sequence, reward in zip(response.sequences, rewards, strict=True):
        tokens = prompt.to_ints() + sequence.tokens
        n = len(tokens) - 1
        logprobs = [0.0] * (n - len(sequence.tokens)) + list(sequence.logprobs or [])
        data.append(
            types.Datum(
                model_input=types.ModelInput.from_ints(tokens[:-1]),
                loss_fn_inputs={
                    "target_tokens": types.TensorData.from_numpy(np.array(tokens[1:])),
                    "logprobs": types.TensorData.from_numpy(np.array(logprobs)),
                    "advantages": types.TensorData.from_numpy(np.full(n, reward - mean)),
                },
            )
        )
    fwd_bwd = training_client.forward_backward(data, "importance_sampling").result()
    training_client.optim_step(types.AdamParams(learning_rate=1e-5)).result()
    service_client.close("success").result()
    return fwd_bwd.metrics["loss:sum"]


def test_supervised_loop(tinker: ModuleType, fake_tinker: FakeTinker) -> None:
    losses, path = supervised_loop(fake_tinker.base_url, steps=3)
    assert losses == [pytest.approx(-LOGPROB * 2)] * 3
    assert path.endswith("/final")
    seq_ids = [
        r.body["seq_id"]
        for r in fake_tinker.requests
        if r.endpoint in ("forward_backward", "optim_step", "save_weights")
    ]
    assert seq_ids == list(range(1, 8))
    assert fake_tinker.bodies("finish")[0]["reason"] == {"type": "success"}


def test_rl_step(tinker: ModuleType, fake_tinker: FakeTinker) -> None:
    rl_step(fake_tinker.base_url)
    (sample,) = fake_tinker.bodies("asample")
    assert sample["num_samples"] == 4
    (fwd_bwd,) = fake_tinker.bodies("forward_backward")
    assert fwd_bwd["forward_backward_input"]["loss_fn"] == "importance_sampling"
    assert len(fwd_bwd["forward_backward_input"]["data"]) == 4


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The embedded server with its bundled tiny model: (base URL, model name)."""
    pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")
    from tinkex.local.config import DEFAULT_MODELS, ServerConfig
    from tinkex.local.server import LocalServer

    data_dir: Path = tmp_path_factory.mktemp("cookbook")
    server = LocalServer(ServerConfig(port=0, data_dir=data_dir))
    url = server.start()
    try:
        yield url, DEFAULT_MODELS[0]
    finally:
        server.stop()


def test_supervised_and_rl_loops_on_the_local_server(
    tinker: ModuleType, local_server: tuple[str, str]
) -> None:
    url, model = local_server
    losses, path = supervised_loop(url, steps=4, base_model=model, learning_rate=5e-2)
    assert losses[-1] < losses[0]
    assert path.startswith("tinker://")
    assert math.isfinite(rl_step(url, base_model=model))
