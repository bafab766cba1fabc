"""Bad requests get a 4xx naming the field (or a failed future of category `user`), and the
server keeps serving afterwards."""

from __future__ import annotations

import pytest
from server_testkit import PROTOBUF, TINY, TOKENS, Api, datum_json

from tinkex.proto import encode_forward_backward_request
from tinkex.types import ForwardBackwardRequest


def _fwdbwd(
    model_id: str, seq_id: int, loss_fn: str = "cross_entropy", **datum: object
) -> dict[str, object]:
    data = [datum_json(TOKENS)] if not datum else [datum]
    return {
        "model_id": model_id,
        "seq_id": seq_id,
        "forward_backward_input": {"data": data, "loss_fn": loss_fn},
    }


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/create_session", b"{not json", None),
        ("/create_session", b'{"tags": "x", "sdk_version": "1"}', "tags"),
        ("/create_model", b'{"session_id": "s", "base_model": "m"}', "model_seq_id"),
        ("/asample", b'{"prompt": {"chunks": []}}', "sampling_params"),
        ("/retrieve_future", b'{"request_id": 7}', "request_id"),
        ("/optim_step", b'{"model_id": "m", "adam_params": {"beta1": 2}}', "adam_params.beta1"),
    ],
)
def test_malformed_or_mistyped_json_is_400_naming_the_field(
    api: Api, path: str, body: bytes, field: str | None
) -> None:
    response = api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer.get("field") == field
    assert answer["detail"]
    assert api.http.get("/healthz").status_code == 200


def test_unknown_base_model_is_refused(api: Api) -> None:
    session_id = api.session()
    response = api.post(
        "/create_model",
        {"session_id": session_id, "model_seq_id": 0, "base_model": "nope/never"},
    )
    assert response.status_code == 400
    assert "nope/never" in response.json()["detail"]
    assert TINY in response.json()["detail"]


def test_unknown_ids_are_404(api: Api) -> None:
    missing_model = api.post("/forward_backward", _fwdbwd("nobody:train:0", 1))
    assert missing_model.status_code == 404
    assert api.post("/get_info", {"model_id": "nobody:train:0"}).status_code == 404
    assert api.post("/retrieve_future", {"request_id": "never-issued"}).status_code == 404
    assert api.http.get("/samplers/nobody:sample:0").status_code == 404
    assert api.post("/session_heartbeat", {"session_id": "nobody"}).status_code == 404


def test_unknown_loss_is_400(api: Api) -> None:
    model_id = api.create_model(api.session())
    response = api.post("/forward_backward", _fwdbwd(model_id, 1, loss_fn="bogus_loss"))
    assert response.status_code == 400
    assert response.json()["field"].endswith("loss_fn")


def test_malformed_protobuf_is_400(api: Api) -> None:
    model_id = api.create_model(api.session())
    for body, encoding in ((b"\xff\x00garbage", None), (b"not zstd", "zstd")):
        headers = {"Content-Type": PROTOBUF}
        if encoding:
            headers["Content-Encoding"] = encoding
        response = api.post("/forward_backward", content=body, headers=headers)
        assert response.status_code == 400, response.text
    # The model still trains after the rejected bodies.
    good = encode_forward_backward_request(
        ForwardBackwardRequest.model_validate(_fwdbwd(model_id, 1)), compress=True
    )
    future = api.ok("/forward_backward", content=good.content, headers=good.headers)
    assert api.result(future["request_id"])["metrics"]["loss:sum"] > 0


def test_wrong_shapes_fail_the_future_with_category_user(api: Api) -> None:
    model_id = api.create_model(api.session())
    datum = datum_json(TOKENS)
    datum["loss_fn_inputs"]["target_tokens"]["data"] = TOKENS[2:]
    datum["loss_fn_inputs"]["target_tokens"]["shape"] = [len(TOKENS) - 2]
    future = api.ok("/forward_backward", _fwdbwd(model_id, 1, **datum))
    failure = api.outcome(future["request_id"])
    assert failure["category"] == "user"
    assert "target_tokens" in failure["error"]
    # The failed request still took its turn: the next seq_id runs.
    future = api.ok("/forward_backward", _fwdbwd(model_id, 2))
    assert "error" not in api.outcome(future["request_id"])


def test_missing_checkpoint_fails_load_with_category_user(api: Api) -> None:
    session_id = api.session()
    future = api.ok(
        "/load_weights",
        {
            "session_id": session_id,
            "model_seq_id": 0,
            "path": f"tinker://{session_id}:train:9/weights/absent",
            "optimizer": False,
        },
    )
    failure = api.outcome(future["request_id"])
    assert failure["category"] == "user"
    assert "absent" in failure["error"]


@pytest.mark.parametrize(
    "path",
    [
        "tinker://../../etc/weights/x",
        "tinker://run/weights/../../x",
        "tinker://run/other_kind/x",
        "/etc/passwd",
    ],
)
def test_traversal_paths_are_refused(api: Api, path: str) -> None:
    response = api.post("/weights_info", {"tinker_path": path})
    assert response.status_code == 400
    assert response.json()["detail"]


def test_traversal_checkpoint_names_fail_the_save(api: Api) -> None:
    model_id = api.create_model(api.session())
    future = api.ok("/save_weights", {"model_id": model_id, "path": "../escape", "seq_id": 1})
    failure = api.outcome(future["request_id"])
    assert failure["category"] == "user"
    assert "name" in failure["error"]


def test_unsupported_sampling_options_are_400(api: Api) -> None:
    session_id = api.session()
    sampler = api.ok(
        "/create_sampling_session",
        {"session_id": session_id, "sampling_session_seq_id": 0, "base_model": TINY},
    )["sampling_session_id"]
    body = {
        "sampling_session_id": sampler,
        "seq_id": 0,
        "prompt": {"chunks": [{"type": "encoded_text", "tokens": TOKENS[:3]}]},
        "sampling_params": {"max_tokens": 2},
        "topk_sample_logprobs": -1,
    }
    response = api.post("/asample", body)
    assert response.status_code == 400
    assert response.json()["field"] == "topk_sample_logprobs"
