"""Checkpoint paths, optimizer params, futures and the serialisation helpers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import orjson
import pydantic
import pytest
import tinker.types as official
from tinker.cli.auth_api import SelfApiKeyResponse as OfficialSelfApiKeyResponse
from tinker.lib.public_interfaces.rest_client import (
    _SessionTraceExportPollResponse as OfficialTracePoll,
)

import tinkex.types as ours
from tinkex.types import (
    AdamParams,
    Datum,
    DimuonParams,
    ForwardBackwardInput,
    ForwardBackwardOutput,
    ForwardBackwardRequest,
    ForwardRequest,
    ModelInput,
    OptimStepRequest,
    ParsedCheckpointTinkerPath,
    RequestErrorCategory,
    SaveWeightsForSamplerResponse,
    SaveWeightsResponse,
    TryAgainResponse,
)

PATHS = [
    "tinker://run-1/weights/step-10",
    "tinker://run-1/sampler_weights/final",
    "tinker://run-1/external_weights/hf",
]
BAD_PATHS = [
    "http://run/weights/x",
    "tinker://run/weights",
    "tinker://run/other/x",
    "tinker://run/weights/x/y",
]


@pytest.mark.parametrize("path", PATHS)
def test_checkpoint_paths_parse_like_the_official_client(path: str) -> None:
    mine = ParsedCheckpointTinkerPath.from_tinker_path(path)
    theirs = official.ParsedCheckpointTinkerPath.from_tinker_path(path)
    assert mine.to_wire() == theirs.model_dump(mode="json")


@pytest.mark.parametrize("path", BAD_PATHS)
def test_invalid_checkpoint_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="Invalid tinker path"):
        official.ParsedCheckpointTinkerPath.from_tinker_path(path)
    with pytest.raises(ValueError, match="expected tinker://<training_run_id>/"):
        ParsedCheckpointTinkerPath.from_tinker_path(path)


def test_console_urls_match_the_official_client() -> None:
    path = "tinker://run 1/sampler_weights/a b"
    assert (
        SaveWeightsResponse(path=path).get_console_url()
        == official.SaveWeightsResponse(path=path).get_console_url()
    )
    mine = SaveWeightsForSamplerResponse(path=path)
    theirs = official.SaveWeightsForSamplerResponse(path=path)
    assert mine.get_console_url() == theirs.get_console_url()
    assert mine.get_playground_url() == theirs.get_playground_url()


def test_optim_step_sends_adam_or_optimizer_params() -> None:
    adam = OptimStepRequest(optim_params=AdamParams(learning_rate=1e-3), model_id="m")
    assert "adam_params" in adam.to_wire()
    dimuon = OptimStepRequest(optim_params=DimuonParams(learning_rate=0.1), model_id="m")
    assert dimuon.to_wire()["optimizer_params"]["type"] == "dimuon"
    # Like the official union, a parsed non-Adam family keeps its fields as extras.
    parsed = OptimStepRequest.model_validate_json(dimuon.to_json_bytes())
    assert parsed.to_wire() == dimuon.to_wire()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"beta1": 1.0}, "beta1"),
        ({"beta2": -0.1}, "beta2"),
        ({"eps": float("nan")}, "eps"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_adam_params_reject_bad_values_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        AdamParams(**kwargs)
    assert info.value.errors()[0]["loc"] == (field,)


def test_request_error_category_matches_the_official_enum() -> None:
    assert {c.name: c.value for c in RequestErrorCategory} == {
        c.name: c.value for c in official.RequestErrorCategory
    }


def test_future_retrieve_response_parses_each_kind() -> None:
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ours.FutureRetrieveResponse)
    pending = adapter.validate_json(
        b'{"type":"try_again","request_id":"r","queue_state":"paused_rate_limit"}'
    )
    assert isinstance(pending, TryAgainResponse)
    failed = adapter.validate_json(b'{"error":"bad","category":"user"}')
    assert failed.category is RequestErrorCategory.User
    output = adapter.validate_json(
        b'{"loss_fn_output_type":"ArrayRecord","metrics":{"loss:sum":1.5},'
        b'"loss_fn_outputs":[{"logprobs":{"data":[-1.0,-2.0],"dtype":"float32","shape":[2]}}]}'
    )
    assert isinstance(output, ForwardBackwardOutput)
    assert output.loss_fn_outputs[0]["logprobs"].tolist() == [-1.0, -2.0]


def test_forward_requests_round_trip() -> None:
    fb_input = ForwardBackwardInput(
        data=[Datum(model_input=ModelInput.from_ints([1, 2]))], loss_fn="cross_entropy"
    )
    for request in (
        ForwardBackwardRequest(forward_backward_input=fb_input, model_id="m", seq_id=1),
        ForwardRequest(forward_input=fb_input, model_id="m"),
    ):
        assert type(request).model_validate_json(request.to_json_bytes()) == request


def test_responses_ignore_unknown_fields() -> None:
    health = ours.HealthResponse.model_validate({"status": "ok", "version": "9"})
    assert health.to_wire() == {"status": "ok"}


def test_to_json_bytes_handles_numpy_scalars_nested_models_and_datetimes() -> None:
    request = ours.CreateModelRequest(
        session_id="s",
        model_seq_id=0,
        base_model="b",
        user_metadata={"step": np.int64(3), "lora": ours.LoraConfig(rank=2)},
    )
    decoded = orjson.loads(request.to_json_bytes())
    assert decoded["user_metadata"] == {"step": 3, "lora": ours.LoraConfig(rank=2).to_wire()}
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=dt.UTC)
    usage = ours.GetBillingUsageRequest(starting_on=when, ending_before=when)
    assert orjson.loads(usage.to_json_bytes()) == usage.to_wire()
    assert usage.to_wire()["starting_on"] == "2026-01-02T03:04:05.600000Z"
    odd = ours.CreateModelRequest(
        session_id="s", model_seq_id=0, base_model="b", user_metadata={"raw": b"ab", "n": {1}}
    )
    assert orjson.loads(odd.to_json_bytes()) == odd.to_wire()
    with pytest.raises(TypeError, match="not JSON serializable"):
        ours.CreateModelRequest(
            session_id="s", model_seq_id=0, base_model="b", user_metadata={"x": object()}
        ).to_json_bytes()


def test_module_helpers_accept_any_pydantic_model() -> None:
    class Plain(pydantic.BaseModel):
        a: int | None = None
        b: str = "x"

    assert ours.to_wire(Plain()) == {"b": "x"}
    assert ours.to_json_bytes(Plain(a=1)) == b'{"a":1,"b":"x"}'
    assert ours.to_json_bytes(ours.Cursor(offset=0, limit=1, total_count=2)) == (
        b'{"offset":0,"limit":1,"total_count":2}'
    )
    assert str(ours.Cursor(offset=0, limit=1, total_count=2)).startswith("Cursor(")


# Bodies the official client writes as plain dicts (client.post(body={...})), None included.
DICT_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("CancelFutureRequest", {"request_id": "req-1"}),
    ("FinishSessionRequest", {"reason": {"type": "errored"}, "detail": None}),
    ("FinishSessionRequest", {"reason": {"type": "success"}, "detail": "done"}),
    ("SessionProjectRequest", {"project_id": "proj"}),
    ("SetCheckpointTtlRequest", {"ttl_seconds": None}),
    ("SetCheckpointTtlRequest", {"ttl_seconds": 7200}),
    ("WeightsInfoRequest", {"tinker_path": "tinker://r/weights/p"}),
]


@pytest.mark.parametrize(("name", "body"), DICT_BODIES)
def test_dict_bodies_match_the_official_client(name: str, body: dict[str, Any]) -> None:
    value = getattr(ours, name).model_validate(body)
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert value.to_json_bytes() == expected
    assert ours.to_wire(value) == body


def test_cli_and_rest_only_responses_parse_like_the_official_client() -> None:
    key = {
        "key_id": 7,
        "name": "laptop",
        "note": "",
        "details": {"org_details": {"name": "org"}, "user_details": {"email": "a@b.c"}},
    }
    mine = ours.SelfApiKeyResponse.model_validate(key)
    assert mine.to_wire() == OfficialSelfApiKeyResponse.model_validate(key).model_dump()
    trace = {"status": "failed", "error": "boom"}
    assert ours.SessionTraceExportResponse.model_validate(
        trace
    ).to_wire() == OfficialTracePoll.model_validate(trace).model_dump(exclude_none=True)
