"""Client telemetry events and the batch that carries them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeAlias

import pydantic

from ._base import RequestModel, ResponseModel

__all__ = [
    "EventType",
    "GenericEvent",
    "SessionEndEvent",
    "SessionStartEvent",
    "Severity",
    "TelemetryBatch",
    "TelemetryEvent",
    "TelemetryResponse",
    "TelemetrySendRequest",
    "UnhandledExceptionEvent",
]

EventType: TypeAlias = Literal[
    "SESSION_START", "SESSION_END", "UNHANDLED_EXCEPTION", "GENERIC_EVENT"
]

Severity: TypeAlias = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SessionStartEvent(ResponseModel):
    """A session began."""

    event: EventType
    event_id: str
    event_session_index: int
    severity: Severity
    timestamp: datetime


class SessionEndEvent(ResponseModel):
    """A session ended after ``duration`` (ISO 8601)."""

    duration: str
    event: EventType
    event_id: str
    event_session_index: int
    severity: Severity
    timestamp: datetime


class UnhandledExceptionEvent(ResponseModel):
    """An exception escaped user code."""

    error_message: str
    error_type: str
    event: EventType
    event_id: str
    event_session_index: int
    severity: Severity
    timestamp: datetime
    traceback: str | None = None


class GenericEvent(ResponseModel):
    """A named event with an arbitrary JSON payload."""

    event: EventType
    event_id: str
    event_name: str
    """Low-cardinality name."""
    event_session_index: int
    severity: Severity
    timestamp: datetime
    event_data: dict[str, object] = pydantic.Field(default_factory=dict)


TelemetryEvent: TypeAlias = (
    SessionStartEvent | SessionEndEvent | UnhandledExceptionEvent | GenericEvent
)


class TelemetryBatch(ResponseModel):
    """Events of one session, as queued by the client."""

    events: list[TelemetryEvent]
    platform: str
    sdk_version: str
    session_id: str
    process_uuid: str
    """Shared by every session of the client process."""


class TelemetrySendRequest(RequestModel):
    """Upload a batch of telemetry events."""

    events: list[TelemetryEvent]
    platform: str
    sdk_version: str
    session_id: str
    process_uuid: str


class TelemetryResponse(ResponseModel):
    """The batch was accepted."""

    status: Literal["accepted"]
