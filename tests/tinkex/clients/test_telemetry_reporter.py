"""The telemetry reporter against a loopback server: batching, bounded queue, redaction,
periodic and closing flushes, and the TINKER_TELEMETRY switch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from pytest_httpserver import HTTPServer

import tinkex.types as types
from pristine.adapters.auth import ApiKeyHeader
from pristine.adapters.registry import PydanticRegistry
from pristine.context import Context
from pristine.env import Env
from pristine.errors import BadRequestError, InternalServerError
from pristine.pipeline import Pipeline
from pristine.telemetry import TelemetryEvent
from pristine.testing import FakeClock
from tinkex.api_manifest import load_tinker_manifest
from tinkex.clients.telemetry import TelemetryReporter, telemetry_enabled

API_KEY = "tml-secret-key-0123456789"
PATH = "/api/v1/telemetry"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pipeline(httpserver: HTTPServer) -> Iterator[Pipeline]:
    manifest = load_tinker_manifest()
    registry = PydanticRegistry({name: getattr(types, name) for name in manifest.types})
    context = Context(
        base_url=httpserver.url_for("/").rstrip("/"),
        auth=ApiKeyHeader("X-API-Key", API_KEY),
        registry=registry,
        clock=FakeClock(),
    )
    api = Pipeline(manifest, context)
    yield api
    anyio.run(api.aclose)


def _accept(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json({"status": "accepted"})


def _batches(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.data) for request, _ in httpserver.log]


@pytest.mark.anyio
async def test_events_are_sent_in_batches_of_at_most_the_batch_size(
    httpserver: HTTPServer, pipeline: Pipeline
) -> None:
    _accept(httpserver)
    reporter = TelemetryReporter(pipeline, session_id="sess1", max_batch_size=3)
    for i in range(6):
        reporter.log("step", {"i": i})
    await reporter.flush()
    batches = _batches(httpserver)
    assert [len(b["events"]) for b in batches] == [3, 3, 1]
    first = batches[0]
    assert first["session_id"] == "sess1"
    assert first["sdk_version"] == "0.38.0"
    events = first["events"]
    assert isinstance(events, list)
    assert events[0]["event"] == "SESSION_START"
    assert [e["event_session_index"] for e in events] == [0, 1, 2]
    assert events[1]["event_name"] == "step"
    assert reporter.sent == 7
    assert reporter.pending() == 0


@pytest.mark.anyio
async def test_full_queue_drops_the_oldest_and_counts(
    httpserver: HTTPServer, pipeline: Pipeline
) -> None:
    _accept(httpserver)
    reporter = TelemetryReporter(pipeline, session_id=None, max_batch_size=2, max_queue_size=2)
    for i in range(5):
        reporter.log("e", {"i": i})
    assert reporter.dropped == 3
    await reporter.flush()
    (batch,) = _batches(httpserver)
    assert str(batch["session_id"]).startswith("sessionless-")
    events = batch["events"]
    assert isinstance(events, list)
    assert [e["event_data"]["i"] for e in events] == [3, 4]


@pytest.mark.anyio
async def test_no_api_key_or_auth_header_leaves_in_events(
    httpserver: HTTPServer, pipeline: Pipeline
) -> None:
    _accept(httpserver)
    reporter = TelemetryReporter(pipeline, session_id="s")
    reporter.log("config", {"header": f"X-API-Key: {API_KEY}", "nested": [API_KEY]})
    try:
        raise RuntimeError(f"failed with key {API_KEY} and Authorization: Bearer abc.def.ghi")
    except RuntimeError as error:
        reporter.log_exception(error)
    reporter.log_exception(BadRequestError(f"bad key {API_KEY}", status_code=400))
    await reporter.aclose()
    body = httpserver.log[0][0].get_data(as_text=True)
    assert API_KEY not in body
    assert "abc.def.ghi" not in body
    kinds = [e["event"] for e in json.loads(body)["events"]]
    assert kinds == [
        "SESSION_START",
        "GENERIC_EVENT",
        "UNHANDLED_EXCEPTION",
        "GENERIC_EVENT",
        "SESSION_END",
    ]
    user_error = json.loads(body)["events"][3]
    assert user_error["event_name"] == "user_error"
    assert user_error["event_data"]["status_code"] == 400


@pytest.mark.anyio
async def test_a_rejected_batch_is_dropped_not_retried_forever(
    httpserver: HTTPServer, pipeline: Pipeline
) -> None:
    httpserver.expect_request(PATH).respond_with_json({"error": "nope"}, status=401)
    reporter = TelemetryReporter(pipeline, session_id="s")
    await reporter.flush()
    assert reporter.pending() == 0
    assert reporter.sent == 0
    assert len(httpserver.log) == 1


@pytest.mark.anyio
async def test_run_flushes_every_interval_and_close_flushes_the_rest(
    httpserver: HTTPServer, pipeline: Pipeline
) -> None:
    _accept(httpserver)
    clock = pipeline.context.clock
    assert isinstance(clock, FakeClock)
    reporter = TelemetryReporter(pipeline, session_id="s")
    async with anyio.create_task_group() as tg:
        tg.start_soon(reporter.run)
        while reporter.sent == 0:
            await anyio.lowlevel.checkpoint()
        reporter.log("late")
        await reporter.aclose()
        tg.cancel_scope.cancel()
    assert clock.sleeps[0] == 10.0
    assert reporter.pending() == 0
    names = [e["event"] for b in _batches(httpserver) for e in b["events"]]
    assert names == ["SESSION_START", "GENERIC_EVENT", "SESSION_END"]
    await reporter.aclose()  # idempotent


def test_pipeline_retries_and_errors_are_forwarded_others_ignored(pipeline: Pipeline) -> None:
    reporter = TelemetryReporter(pipeline, session_id=None)
    reporter.emit(TelemetryEvent("request_start", "asample"))
    reporter.emit(TelemetryEvent("request_retry", "asample", None, {"attempt": 1}))
    reporter.emit(TelemetryEvent("request_error", "asample", 1.5, {"error": "boom"}))
    assert reporter.pending() == 2
    reporter.log_exception(InternalServerError("down", status_code=500))
    assert reporter.pending() == 3


@pytest.mark.parametrize(
    ("value", "enabled"),
    [(None, True), ("1", True), ("0", False), ("false", False), ("off", False)],
)
def test_tinker_telemetry_switch(value: str | None, enabled: bool, pipeline: Pipeline) -> None:
    env = Env({} if value is None else {"TINKER_TELEMETRY": value})
    assert telemetry_enabled(env) is enabled
    reporter = TelemetryReporter.create(pipeline, session_id="s", env=env)
    assert (reporter is not None) is enabled


def test_bad_sizes_are_rejected(pipeline: Pipeline) -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        TelemetryReporter(pipeline, session_id=None, max_batch_size=0)
