"""Request shapes of clients other than 0.38's main flow: session-less sampling, loading
into an existing model, and the less common endpoints."""

from __future__ import annotations

import pytest
from server_testkit import TINY, TOKENS, Api, datum_json


def _sample_body(**target: object) -> dict[str, object]:
    return {
        "prompt": {"chunks": [{"type": "encoded_text", "tokens": TOKENS[:4]}]},
        "sampling_params": {"max_tokens": 3, "seed": 5, "temperature": 0.0},
        "prompt_logprobs": True,
        **target,
    }


def _trained_model(api: Api) -> tuple[str, str]:
    """A model after one step, and a sampler checkpoint of it."""
    model_id = api.create_model(api.session())
    body = {
        "model_id": model_id,
        "seq_id": 1,
        "forward_backward_input": {"data": [datum_json(TOKENS)], "loss_fn": "cross_entropy"},
    }
    api.result(api.ok("/forward_backward", body)["request_id"])
    step = {"model_id": model_id, "seq_id": 2, "adam_params": {"learning_rate": 0.05}}
    api.result(api.ok("/optim_step", step)["request_id"])
    save = {"model_id": model_id, "seq_id": 3, "path": "snap"}
    path: str = api.result(api.ok("/save_weights_for_sampler", save)["request_id"])["path"]
    return model_id, path


def test_sampling_without_a_session_by_model_path_or_base_model(api: Api) -> None:
    _, path = _trained_model(api)
    trained = api.result(api.ok("/asample", _sample_body(model_path=path))["request_id"])
    base = api.result(api.ok("/asample", _sample_body(base_model=TINY))["request_id"])
    assert trained["prompt_logprobs"][0] is None
    assert trained["prompt_logprobs"][1:] != base["prompt_logprobs"][1:]
    again = api.result(api.ok("/asample", _sample_body(model_path=path))["request_id"])
    assert again["sequences"] == trained["sequences"]
    missing = api.post("/asample", _sample_body())
    assert missing.status_code == 400
    assert missing.json()["field"] == "sampling_session_id"


def test_sampling_session_on_saved_weights_and_join(api: Api) -> None:
    model_id, path = _trained_model(api)
    session_id = model_id.split(":train:")[0]
    created = {"session_id": session_id, "sampling_session_seq_id": 1, "model_path": path}
    sampler = api.ok("/create_sampling_session", created)["sampling_session_id"]
    assert api.ok("/create_sampling_session", created)["sampling_session_id"] == sampler
    assert api.http.get(f"/samplers/{sampler}").json()["model_path"] == path
    by_session = api.ok("/asample", _sample_body(sampling_session_id=sampler, seq_id=0))
    by_path = api.ok("/asample", _sample_body(model_path=path))
    first = api.result(by_session["request_id"])
    assert first["prompt_logprobs"] == api.result(by_path["request_id"])["prompt_logprobs"]
    joined = api.ok("/join_sampling_session", {"sampling_session_id": sampler})
    assert joined["client_counter"] == 0
    assert api.ok("/cancel_future", {"request_id": by_session["request_id"]}) == {}
    no_weights = {"session_id": session_id, "sampling_session_seq_id": 2}
    assert api.post("/create_sampling_session", no_weights).status_code == 400


# peft warns when the adapter being replaced was the active one; that is expected here.
@pytest.mark.filterwarnings("ignore:Adapter .* was active which is now deleted:UserWarning")
def test_load_state_into_an_existing_model_restores_its_weights(api: Api) -> None:
    model_id = api.create_model(api.session())
    forward = {
        "model_id": model_id,
        "forward_input": {"data": [datum_json(TOKENS)], "loss_fn": "cross_entropy"},
    }
    save = {"model_id": model_id, "seq_id": 1, "path": "start"}
    path = api.result(api.ok("/save_weights", save)["request_id"])["path"]
    before = api.result(api.ok("/forward", {**forward, "seq_id": 2})["request_id"])
    train = {
        "model_id": model_id,
        "seq_id": 3,
        "forward_backward_input": forward["forward_input"],
    }
    api.result(api.ok("/forward_backward", train)["request_id"])
    step = {"model_id": model_id, "seq_id": 4, "adam_params": {"learning_rate": 0.05}}
    api.result(api.ok("/optim_step", step)["request_id"])
    moved = api.result(api.ok("/forward", {**forward, "seq_id": 5})["request_id"])
    load = {"model_id": model_id, "seq_id": 6, "path": path, "optimizer": True}
    assert api.result(api.ok("/load_weights", load)["request_id"])["path"] == path
    after = api.result(api.ok("/forward", {**forward, "seq_id": 7})["request_id"])
    assert moved["metrics"] != before["metrics"]
    assert after["metrics"] == before["metrics"]


def test_mismatched_optimizer_params_and_unnamed_saves_are_refused(api: Api) -> None:
    model_id = api.create_model(api.session())
    dimuon = {
        "model_id": model_id,
        "seq_id": 1,
        "optimizer_params": {"type": "dimuon", "learning_rate": 0.1},
    }
    refused = api.outcome(api.ok("/optim_step", dimuon)["request_id"])
    assert refused["category"] == "user"
    assert "adam_params" in refused["error"]
    unnamed = api.post("/save_weights_for_sampler", {"model_id": model_id, "seq_id": 1})
    assert unnamed.status_code == 400
    assert unnamed.json()["field"] == "path"
    nameless = api.post("/save_weights", {"model_id": model_id})
    assert nameless.status_code == 400
    assert nameless.json()["detail"].startswith("path: missing")
