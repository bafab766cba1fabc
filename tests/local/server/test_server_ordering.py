"""`seq_id` ordering and de-duplication, long-poll `try_again`, and result encodings."""

from __future__ import annotations

import uuid

import pytest
from server_testkit import PROTOBUF, TINY, TOKENS, Api, datum_json

from tinkex.local.server import LocalServer
from tinkex.proto import decode_forward_backward_output, decode_sample_response


def _fwdbwd(model_id: str, seq_id: int) -> dict[str, object]:
    return {
        "model_id": model_id,
        "seq_id": seq_id,
        "forward_backward_input": {"data": [datum_json(TOKENS)], "loss_fn": "cross_entropy"},
    }


def _step(model_id: str, seq_id: int) -> dict[str, object]:
    return {"model_id": model_id, "seq_id": seq_id, "adam_params": {"learning_rate": 0.01}}


def _script(model_id: str) -> list[tuple[str, dict[str, object]]]:
    """fwd/bwd, step, fwd/bwd, step: each answer depends on everything before it."""
    return [
        ("/forward_backward", _fwdbwd(model_id, 1)),
        ("/optim_step", _step(model_id, 2)),
        ("/forward_backward", _fwdbwd(model_id, 3)),
        ("/optim_step", _step(model_id, 4)),
    ]


def _numbers(api: Api, request_ids: list[str]) -> list[float]:
    results = [api.result(request_id) for request_id in request_ids]
    return [
        result["metrics"].get("loss:sum", result["metrics"].get("grad_norm:mean"))
        for result in results
    ]


def test_out_of_order_and_repeated_seq_ids_run_once_each_in_order(api: Api) -> None:
    session_id = api.session()
    in_order = api.create_model(session_id, 0, seed=7)
    shuffled = api.create_model(session_id, 1, seed=7)

    expected_ids = [api.ok(path, body)["request_id"] for path, body in _script(in_order)]
    expected = _numbers(api, expected_ids)

    script = _script(shuffled)
    ids: dict[int, str] = {}
    for index in (3, 1, 2, 1, 0, 3):
        path, body = script[index]
        request_id = api.ok(path, body)["request_id"]
        assert ids.setdefault(index, request_id) == request_id
    # A repeat after the request ran is still answered with the first id, not run again.
    path, body = script[0]
    assert api.ok(path, body)["request_id"] == ids[0]

    # Run in any other order, a step would see no gradients (norm 0) or a loss would shift.
    assert _numbers(api, [ids[i] for i in range(4)]) == pytest.approx(expected, rel=1e-5)
    assert expected[2] < expected[0]


def test_repeated_sample_seq_id_samples_once(api: Api) -> None:
    session_id = api.session()
    sampler = api.ok(
        "/create_sampling_session",
        {"session_id": session_id, "sampling_session_seq_id": 0, "base_model": TINY},
    )["sampling_session_id"]
    assert api.http.get(f"/samplers/{sampler}").json()["base_model"] == TINY
    body = {
        "sampling_session_id": sampler,
        "seq_id": 5,
        "num_samples": 3,
        "prompt": {"chunks": [{"type": "encoded_text", "tokens": TOKENS[:4]}]},
        "sampling_params": {"max_tokens": 3, "seed": 1},
        "prompt_logprobs": False,
    }
    first = api.ok("/asample", body)
    again = api.ok("/asample", body)
    assert again == first
    assert first["sample_sequence_ids"] == [f"{first['request_id']}-{i}" for i in range(3)]

    raw = api.post(
        "/retrieve_future", {"request_id": first["request_id"]}, headers={"Accept": PROTOBUF}
    )
    assert raw.headers["content-type"].startswith(PROTOBUF)
    decoded = decode_sample_response(raw.content)
    as_json = api.result(first["request_id"])
    assert [s["tokens"] for s in as_json["sequences"]] == [s.tokens for s in decoded.sequences]
    assert len(decoded.sequences) == 3


def test_retrieve_futures_reports_completions_after_the_cursor(api: Api) -> None:
    session_id = api.session()
    sampler = api.ok(
        "/create_sampling_session",
        {"session_id": session_id, "sampling_session_seq_id": 0, "base_model": TINY},
    )["sampling_session_id"]
    prompt = {"chunks": [{"type": "encoded_text", "tokens": TOKENS[:3]}]}
    future = api.ok(
        "/asample",
        {
            "sampling_session_id": sampler,
            "seq_id": 0,
            "prompt": prompt,
            "sampling_params": {"max_tokens": 2},
        },
    )
    target = {"type": "sampling_session", "sampling_session_id": sampler}
    answer = api.ok("/retrieve_futures", {"target": target, "prev_cursor": 0})
    assert answer["completions"][0]["request_id"] == future["request_id"]
    assert answer["completions"][0]["state"] == "finished"
    quiet = api.ok(
        "/retrieve_futures",
        {
            "target": target,
            "prev_cursor": answer["cursor"],
            "timeout": 0,
            "retrieved_request_ids": [future["request_id"]],
        },
    )
    assert quiet == {"completions": [], "cursor": answer["cursor"]}


def test_pending_request_answers_try_again_with_queue_state(
    impatient_server: LocalServer,
) -> None:
    assert impatient_server.base_url is not None
    api = Api(impatient_server.base_url, f"tml-{uuid.uuid4().hex}")
    try:
        model_id = api.create_model(api.session())
        waiting = api.ok("/forward_backward", _fwdbwd(model_id, 2))["request_id"]
        answer = api.ok("/retrieve_future", {"request_id": waiting})
        assert answer == {"type": "try_again", "request_id": waiting, "queue_state": "active"}
        first = api.ok("/forward_backward", _fwdbwd(model_id, 1))["request_id"]
        raw = api.post("/retrieve_future", {"request_id": waiting}, headers={"Accept": PROTOBUF})
        while raw.headers["content-type"].startswith("application/json"):
            assert raw.json()["type"] == "try_again"
            raw = api.post(
                "/retrieve_future", {"request_id": waiting}, headers={"Accept": PROTOBUF}
            )
        assert decode_forward_backward_output(raw.content).metrics["loss:sum"] > 0
        assert "error" not in api.outcome(first)
    finally:
        api.close()


@pytest.mark.parametrize("backward", [False, True])
def test_json_forward_shapes_of_older_clients(api: Api, backward: bool) -> None:
    model_id = api.create_model(api.session())
    if backward:
        future = api.ok("/forward_backward", _fwdbwd(model_id, 1))
    else:
        body = {
            "model_id": model_id,
            "seq_id": 1,
            "forward_input": {"data": [datum_json(TOKENS)], "loss_fn": "cross_entropy"},
        }
        future = api.ok("/forward", body)
    result = api.result(future["request_id"])
    assert result["loss_fn_output_type"] == "ArrayRecord"
    logprobs = result["loss_fn_outputs"][0]["logprobs"]
    assert logprobs["shape"] == [len(TOKENS) - 1]
