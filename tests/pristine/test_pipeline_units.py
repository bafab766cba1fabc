"""Small pieces of the pipeline checked on their own: adapters, registry, transport errors."""

from __future__ import annotations

import random
import tracemalloc

import httpx
import orjson
import pytest
from pydantic import BaseModel

from pristine.adapters.auth import ApiKeyHeader, BearerToken
from pristine.adapters.classify import status_error
from pristine.adapters.httpx_transport import HttpxTransport
from pristine.adapters.registry import PydanticRegistry
from pristine.adapters.serializers import JsonSerializer
from pristine.context import Context
from pristine.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    RequestInfo,
    redact_value,
)
from pristine.manifest import ManifestError, PoolPolicy, load_manifest
from pristine.pipeline import Pipeline
from pristine.ports.clock import SystemClock
from pristine.ports.transport import RawRequest, RawResponse
from pristine.telemetry import CallbackSink, NullSink, TelemetryEvent
from pristine.testing import FakeClock, ScriptedTransport, endpoint_dict, manifest_dict

pytestmark = pytest.mark.anyio


class Owner(BaseModel):
    name: str


def test_api_key_header_needs_a_name_and_key_and_hides_it() -> None:
    with pytest.raises(ValueError, match="non-empty key"):
        ApiKeyHeader("X-API-Key", "")
    assert repr(ApiKeyHeader("X-API-Key", "tml-abc")) == "ApiKeyHeader('X-API-Key', key=***)"


async def test_bearer_token_remembers_each_token_once() -> None:
    auth = BearerToken("static-token")
    assert await auth.headers() == {"Authorization": "Bearer static-token"}
    await auth.headers()
    assert auth.secrets() == ("static-token",)


async def test_registry_resolves_registered_models_only() -> None:
    registry = PydanticRegistry()
    registry.register(Owner, "Person")
    assert registry.knows("Person")
    assert registry.decode("Person", b'{"name": "ann"}', "json") == Owner(name="ann")
    assert registry.encode("Person", {"name": "bo"}, "json") == b'{"name":"bo"}'
    with pytest.raises(LookupError, match=r"call registry.register\(Model, 'Ghost'\)"):
        registry.model("Ghost")
    with pytest.raises(NotImplementedError, match="json only"):
        registry.encode("Person", {}, "protobuf")


def test_json_serializer_refuses_unknown_objects() -> None:
    with pytest.raises(TypeError):
        JsonSerializer().encode({"when": object()}, None)


def test_small_json_bodies_do_not_hold_a_whole_encoder_buffer() -> None:
    """A call in flight keeps its body for retries: 1,000 small ones should cost their bytes,
    not 1,000 of orjson's 4 KiB output buffers."""
    serializer = JsonSerializer()
    tracemalloc.start()
    try:
        bodies = [serializer.encode({"request_id": f"req-{i}"}, None) for i in range(1000)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 1000 * 400
    assert orjson.loads(bodies[7].content) == {"request_id": "req-7"}


def test_status_error_message_is_shortened_for_huge_bodies() -> None:
    response = RawResponse(500, {}, b"x" * 2000)
    error = status_error(response, RequestInfo("GET", "http://h/a", "a"), now_wall=0.0)
    assert error.message.endswith("x...")
    assert len(error.message) < 600


def test_redact_value_walks_lists_and_dicts() -> None:
    assert redact_value([{"k": "tml-abcdef"}, 3], ["zzzz"]) == [{"k": "tml-***"}, 3]


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ReadTimeout("slow"), APITimeoutError),
        (httpx.ConnectError("refused"), APIConnectionError),
    ],
)
async def test_httpx_errors_become_pristine_errors(
    raised: Exception, expected: type[APIConnectionError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))

    def factory(name: str, pool: PoolPolicy) -> HttpxTransport:
        return HttpxTransport(pool, client=client)

    manifest = load_manifest(
        manifest_dict(endpoint_dict("x", "/x"), retry_policies={"default": {"max_attempts": 1}})
    )
    context = Context(
        base_url="http://api.test",
        transport_factory=factory,
        clock=FakeClock(),
        rng=random.Random(0),
    )
    async with Pipeline(manifest, context) as pipeline:
        with pytest.raises(expected) as caught:
            await pipeline.call("x")
    assert type(caught.value) is expected
    assert caught.value.message.startswith("x: GET http://api.test/x")


def test_manifest_without_endpoints_reports_it() -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest({"name": "a", "version": "1"})
    assert [str(i) for i in caught.value.issues] == ["endpoints: Field required"]


async def test_system_clock_reads_real_time_and_yields() -> None:
    clock = SystemClock()
    assert clock.monotonic() > 0
    assert clock.wall() > 1_600_000_000
    await clock.sleep(-1)  # 0 or less just yields


def test_sinks_drop_or_forward_events() -> None:
    seen: list[TelemetryEvent] = []
    event = TelemetryEvent("request_start", "x")
    NullSink().emit(event)
    CallbackSink(seen.append).emit(event)
    assert seen == [event]


def test_raw_response_json_error_is_a_validation_error() -> None:
    with pytest.raises(APIResponseValidationError, match="expected a JSON body"):
        RawResponse(200, {}, b"{").json()


async def test_scripted_transport_streams_and_closes() -> None:
    async def handler(request: RawRequest) -> RawResponse:
        return RawResponse(200, {"content-type": "text/event-stream"}, b"data: hi\n\n")

    transport = ScriptedTransport(handler)
    manifest = load_manifest(manifest_dict(endpoint_dict("events", "/events", streaming=True)))
    context = Context(base_url="http://api.test", transport_factory=transport.factory)
    async with Pipeline(manifest, context) as pipeline:
        assert [event.data async for event in pipeline.stream("events")] == ["hi"]
    assert transport.closed
    assert transport.requests[0].url == "http://api.test/events"
