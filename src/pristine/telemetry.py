"""Telemetry events emitted by the runtime, and the sinks that receive them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TelemetryEvent:
    """One thing that happened: `name` is e.g. `request_start`, `request_retry`."""

    name: str
    endpoint_id: str | None = None
    duration_s: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


class TelemetrySink(Protocol):
    def emit(self, event: TelemetryEvent) -> None: ...


class NullSink:
    """Drops every event."""

    def emit(self, event: TelemetryEvent) -> None:
        return None


class ListSink:
    """Keeps events in memory (tests, debugging)."""

    def __init__(self) -> None:
        self.events: list[TelemetryEvent] = []

    def emit(self, event: TelemetryEvent) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.name for e in self.events]


class CallbackSink:
    """Forwards every event to a callable."""

    def __init__(self, callback: Callable[[TelemetryEvent], None]) -> None:
        self._callback = callback

    def emit(self, event: TelemetryEvent) -> None:
        self._callback(event)
