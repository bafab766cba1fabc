"""Dimuon through the official client: chosen at creation, stepped with DimuonParams,
reported by get_info, and resumed with its momentum by
create_training_client_from_state_with_optimizer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

tinker = pytest.importorskip("tinker")

from server_testkit import TINY, Api  # noqa: E402

from tinkex.local.server import LocalServer  # noqa: E402

types = tinker.types


@pytest.fixture
def service(open_server: LocalServer) -> Iterator[Any]:
    client = tinker.ServiceClient(base_url=open_server.base_url, api_key="tml-dimuon")
    yield client
    client.close("success")


def test_dimuon_trains_saves_and_resumes(service: Any) -> None:
    training = service.create_lora_training_client(
        base_model=TINY, rank=4, seed=4, optimizer=types.DimuonOptimizerConfig()
    ).result()
    assert training.get_info().optimizer_config.type == "dimuon"
    tokens = list(range(20, 44))
    datum = types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": np.asarray(tokens[1:], dtype=np.int64)},
    )
    step = types.DimuonParams(learning_rate=2e-2, beta1=0.9, grad_clip_norm=1.0)
    losses = []
    for _ in range(4):
        losses.append(training.forward_backward([datum], "cross_entropy").result().metrics)
        training.optim_step(step).result()
    assert losses[-1]["loss:sum"] < losses[0]["loss:sum"]

    with pytest.raises(tinker.RequestFailedError, match="optimizer_params"):
        training.optim_step(types.AdamParams()).result()

    state = training.save_state("dimuon-state").result().path
    resumed = service.create_training_client_from_state_with_optimizer(state).result()
    assert resumed.get_info().optimizer_config.type == "dimuon"
    for client in (training, resumed):
        client.forward_backward([datum], "cross_entropy").result()
        client.optim_step(step).result()
    after = [
        c.forward([datum], "cross_entropy").result().metrics["loss:sum"]
        for c in (training, resumed)
    ]
    assert after[0] == after[1]

    fresh = service.create_training_client_from_state(state).result()
    assert fresh.get_info().optimizer_config.type == "adamw"


def test_loading_other_optimizer_state_fails_and_keeps_the_model(api: Api) -> None:
    session_id = api.session()
    adam_model = api.create_model(session_id, 0)
    saved = api.ok("/save_weights", {"model_id": adam_model, "path": "adam", "seq_id": 1})
    path = api.result(saved["request_id"])["path"]
    created = api.ok(
        "/create_model",
        {
            "session_id": session_id,
            "model_seq_id": 1,
            "base_model": TINY,
            "lora_config": {"rank": 4},
            "optimizer_config": {"type": "dimuon", "version": 1},
        },
    )
    dimuon_model = api.result(created["request_id"])["model_id"]
    load = {"model_id": dimuon_model, "seq_id": 1, "path": path, "optimizer": True}
    refused = api.outcome(api.ok("/load_weights", load)["request_id"])
    assert refused["category"] == "user"
    assert "'adamw' optimizer state" in refused["error"]
    dimuon = {"type": "dimuon", "learning_rate": 0.01}
    step = {"model_id": dimuon_model, "seq_id": 2, "optimizer_params": dimuon}
    assert "metrics" in api.result(api.ok("/optim_step", step)["request_id"])
