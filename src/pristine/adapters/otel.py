"""OpenTelemetry adapter: request telemetry events become client spans.

`request_start` opens a span (child of whatever span is current), `request_retry` and any
other event add a span event to it, and `request_stop` / `request_error` end it. The open
spans live in a context variable, so concurrent calls in different tasks never mix, and
a call made inside another call becomes its child span. Needs `opentelemetry-api`
(the `otel` extra), imported only when the sink is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from pristine.telemetry import TelemetryEvent

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

__all__ = ["OpenTelemetrySink"]

# Semantic-convention names for the attributes that have one; the rest get a prefix.
_SEMCONV = {
    "method": "http.request.method",
    "url": "url.full",
    "status": "http.response.status_code",
}
_PREFIX = "pristine."


class OpenTelemetrySink:
    """A `TelemetrySink` that records each API call as an OpenTelemetry span.

    Pass a `tracer` to use your own provider; by default the global provider's tracer named
    "pristine" is used (a no-op until the application configures OpenTelemetry).
    """

    def __init__(self, tracer: Tracer | None = None) -> None:
        try:
            from opentelemetry import context, trace
        except ImportError as error:
            raise ImportError(
                "OpenTelemetrySink needs the OpenTelemetry API: "
                "pip install 'tinkex[otel]' (or pip install opentelemetry-api)"
            ) from error
        self._context = context
        self._trace = trace
        self._tracer = tracer or trace.get_tracer("pristine")
        self._open: ContextVar[tuple[tuple[Span, Token[Context]], ...]] = ContextVar(
            f"pristine_otel_spans_{id(self)}", default=()
        )

    def emit(self, event: TelemetryEvent) -> None:
        if event.name == "request_start":
            self._start(event)
        elif event.name in ("request_stop", "request_error"):
            self._end(event)
        elif open_spans := self._open.get():
            span, _ = open_spans[-1]
            span.add_event(event.name, _attributes(event.attributes))

    def _start(self, event: TelemetryEvent) -> None:
        attributes = _attributes(event.attributes)
        if event.endpoint_id is not None:
            attributes[f"{_PREFIX}endpoint_id"] = event.endpoint_id
        span = self._tracer.start_span(
            event.endpoint_id or "request",
            kind=self._trace.SpanKind.CLIENT,
            attributes=attributes,
        )
        # Make it current so spans started inside the call (e.g. by HTTP instrumentation)
        # become its children.
        token = self._context.attach(self._trace.set_span_in_context(span))
        self._open.set((*self._open.get(), (span, token)))

    def _end(self, event: TelemetryEvent) -> None:
        open_spans = self._open.get()
        if not open_spans:
            return
        span, token = open_spans[-1]
        self._open.set(open_spans[:-1])
        span.set_attributes(_attributes(event.attributes))
        if event.duration_s is not None:
            span.set_attribute(f"{_PREFIX}duration_s", event.duration_s)
        if event.name == "request_error":
            description = str(event.attributes.get("error", "request failed"))
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))
        span.end()
        self._context.detach(token)


def _attributes(values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """OpenTelemetry accepts str/bool/int/float: other values are shown as text, None dropped."""
    out: dict[str, AttributeValue] = {}
    for key, value in values.items():
        if value is None:
            continue
        name = _SEMCONV.get(key, f"{_PREFIX}{key}")
        out[name] = value if isinstance(value, str | bool | int | float) else str(value)
    return out
