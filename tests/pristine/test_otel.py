"""OpenTelemetry sink: request events become spans, checked with the SDK's in-memory exporter."""

from __future__ import annotations

import sys

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pristine.adapters.otel import OpenTelemetrySink
from pristine.telemetry import TelemetryEvent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def sink(exporter: InMemorySpanExporter) -> OpenTelemetrySink:
    provider = TracerProvider()  # a private provider: no global state
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OpenTelemetrySink(provider.get_tracer("test"))


START_ATTRS = {"method": "POST", "url": "https://api.test/v1/fwd", "pool": "train"}


def start(endpoint: str = "forward") -> TelemetryEvent:
    return TelemetryEvent("request_start", endpoint, attributes=START_ATTRS)


def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


def test_start_and_stop_make_one_client_span(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    sink.emit(start())
    sink.emit(TelemetryEvent("request_stop", "forward", 0.2, {"status": 200, "attempts": 1}))
    (span,) = finished(exporter)
    assert span.name == "forward"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes == {
        "http.request.method": "POST",
        "url.full": "https://api.test/v1/fwd",
        "pristine.endpoint_id": "forward",
        "pristine.pool": "train",
        "http.response.status_code": 200,
        "pristine.attempts": 1,
        "pristine.duration_s": 0.2,
    }


def test_retries_become_span_events(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    sink.emit(start())
    sink.emit(TelemetryEvent("request_retry", "forward", attributes={"attempt": 1, "delay_s": 0.5}))
    sink.emit(TelemetryEvent("request_stop", "forward", 1.0, {"status": 200}))
    (span,) = finished(exporter)
    (event,) = span.events
    assert event.name == "request_retry"
    assert event.attributes == {"pristine.attempt": 1, "pristine.delay_s": 0.5}


def test_an_error_ends_the_span_with_error_status(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    sink.emit(start())
    sink.emit(TelemetryEvent("request_error", "forward", 3.0, {"error": "HTTP 500", "attempts": 3}))
    (span,) = finished(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "HTTP 500"
    assert span.attributes is not None
    assert span.attributes["pristine.attempts"] == 3


def test_other_events_attach_to_the_open_span_and_are_dropped_without_one(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    sink.emit(TelemetryEvent("future_poll_attempt", None, attributes={"attempt": 0}))
    sink.emit(start())
    sink.emit(TelemetryEvent("cache_hit", "forward", attributes={"key": ("a", "b"), "n": None}))
    sink.emit(TelemetryEvent("request_stop", "forward", 0.1, {"status": 200}))
    sink.emit(TelemetryEvent("request_stop", "forward", 0.1, {"status": 200}))  # unmatched
    (span,) = finished(exporter)
    assert [e.name for e in span.events] == ["cache_hit"]
    assert span.events[0].attributes == {"pristine.key": "('a', 'b')"}


def test_nested_calls_become_parent_and_child(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    sink.emit(start("outer"))
    sink.emit(start("inner"))
    sink.emit(TelemetryEvent("request_stop", "inner", 0.1, {"status": 200}))
    sink.emit(TelemetryEvent("request_stop", "outer", 0.2, {"status": 200}))
    inner, outer = finished(exporter)
    assert (inner.name, outer.name) == ("inner", "outer")
    assert inner.parent is not None
    assert outer.context is not None
    assert inner.parent.span_id == outer.context.span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.anyio
async def test_concurrent_calls_in_separate_tasks_do_not_mix(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    both_started = anyio.Event()
    started: list[str] = []

    async def call(endpoint: str) -> None:
        sink.emit(start(endpoint))
        started.append(endpoint)
        if len(started) == 2:
            both_started.set()
        await both_started.wait()
        sink.emit(TelemetryEvent("request_stop", endpoint, 0.1, {"status": 200}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "a")
        tg.start_soon(call, "b")
    spans = finished(exporter)
    assert sorted(s.name for s in spans) == ["a", "b"]
    assert all(s.parent is None for s in spans)


def test_default_tracer_comes_from_the_global_provider() -> None:
    sink = OpenTelemetrySink()
    sink.emit(start())
    sink.emit(TelemetryEvent("request_stop", "forward", 0.1, {"status": 200}))


def test_a_clear_error_when_opentelemetry_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    with pytest.raises(ImportError, match=r"pip install .*opentelemetry-api"):
        OpenTelemetrySink()


def test_a_call_without_endpoint_id_or_duration_is_still_a_span(
    sink: OpenTelemetrySink, exporter: InMemorySpanExporter
) -> None:
    sink.emit(TelemetryEvent("request_start", None, attributes={"method": "GET"}))
    sink.emit(TelemetryEvent("request_error", None))
    (span,) = finished(exporter)
    assert span.name == "request"
    assert span.attributes == {"http.request.method": "GET"}
    assert span.status.description == "request failed"
