"""The telemetry reporter: SDK events, batched and sent through the pipeline's `telemetry`
endpoint, so the service can see failures users hit without users filing them.

- events are `tinkex.types` telemetry events (session start/end, exceptions, generic events);
- batches of at most 100 events, flushed every 10 s, on `flush()` and on `aclose()`;
- the queue is bounded: when full the oldest event is dropped and `dropped` counts it;
- `TINKER_TELEMETRY=0` (anything but 1/true/yes/on) disables it: `create` returns None;
- nothing secret leaves: strings in events pass through `pristine.errors.redact` with the
  pipeline's secrets, and no header is ever recorded.

`log` may be called from any thread; `run`, `flush` and `aclose` run on the pipeline's loop.
"""

from __future__ import annotations

import logging
import platform
import threading
import traceback
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime

import anyio

from pristine.env import Env
from pristine.errors import APIError, PristineError, redact, redact_value
from pristine.pipeline import Pipeline
from pristine.telemetry import TelemetryEvent as PipelineEvent
from tinkex.types.telemetry import (
    GenericEvent,
    SessionEndEvent,
    SessionStartEvent,
    Severity,
    TelemetryEvent,
    TelemetrySendRequest,
    UnhandledExceptionEvent,
)

__all__ = [
    "FLUSH_INTERVAL_S",
    "MAX_BATCH_SIZE",
    "MAX_QUEUE_SIZE",
    "TelemetryReporter",
    "telemetry_enabled",
]

logger = logging.getLogger(__name__)

MAX_BATCH_SIZE = 100
FLUSH_INTERVAL_S = 10.0
MAX_QUEUE_SIZE = 10_000
SEND_TIMEOUT_S = 5.0
FORWARDED_PIPELINE_EVENTS = frozenset({"request_retry", "request_error"})
"""Pipeline events worth reporting; starts and stops of healthy calls are not."""

_PROCESS_UUID = str(uuid.uuid4())
_ON = frozenset({"1", "true", "yes", "on"})


def telemetry_enabled(env: Env | None = None) -> bool:
    """On by default; any `TINKER_TELEMETRY` other than 1/true/yes/on turns it off, as in the
    official client."""
    value = (env or Env()).get("TINKER_TELEMETRY", "1")
    return value.strip().lower() in _ON


class TelemetryReporter:
    """Queues events and sends them in batches; also a pristine `TelemetrySink`."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        session_id: str | None,
        sdk_version: str = "0.38.0",
        max_batch_size: int = MAX_BATCH_SIZE,
        max_queue_size: int = MAX_QUEUE_SIZE,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        if not 1 <= max_batch_size <= max_queue_size:
            raise ValueError(
                f"TelemetryReporter: need 1 <= max_batch_size ({max_batch_size}) <= "
                f"max_queue_size ({max_queue_size})"
            )
        self._pipeline = pipeline
        self._clock = pipeline.context.clock
        self._sessionless = session_id is None
        self.session_id = session_id or f"sessionless-{uuid.uuid4()}"
        self._sdk_version = sdk_version
        self._max_batch_size = max_batch_size
        self._flush_interval_s = flush_interval_s
        self._queue: deque[TelemetryEvent] = deque(maxlen=max_queue_size)
        self._lock = threading.Lock()
        self._index = 0
        self._started_at = self._clock.wall()
        self._flush_lock = anyio.Lock()
        self.dropped = 0
        """Events dropped because the queue was full."""
        self.sent = 0
        self.closed = False
        if not self._sessionless:
            self._push(SessionStartEvent(**self._header("SESSION_START", "INFO")))

    @classmethod
    def create(
        cls, pipeline: Pipeline, *, session_id: str | None, env: Env | None = None
    ) -> TelemetryReporter | None:
        """A reporter, or None when `TINKER_TELEMETRY` turns telemetry off."""
        return cls(pipeline, session_id=session_id) if telemetry_enabled(env) else None

    # -- recording (any thread) ---------------------------------------------------------------

    def log(
        self,
        event_name: str,
        event_data: Mapping[str, object] | None = None,
        severity: Severity = "INFO",
    ) -> None:
        """Queue a generic event; `event_name` should be low-cardinality."""
        data = redact_value(dict(event_data or {}), self._secrets())
        assert isinstance(data, dict)
        self._push(
            GenericEvent(
                **self._header("GENERIC_EVENT", severity), event_name=event_name, event_data=data
            )
        )

    def log_exception(self, error: BaseException, severity: Severity = "ERROR") -> None:
        """Queue an exception: a `user_error` generic event for 4xx/user failures."""
        if _is_user_error(error):
            data: dict[str, object] = {"error_type": type(error).__name__}
            if message := str(error):
                data["message"] = message
            if isinstance(status := getattr(error, "status_code", None), int):
                data["status_code"] = status
            self.log("user_error", data, "WARNING")
            return
        secrets = self._secrets()
        trace = "".join(traceback.format_exception(error)) if error.__traceback__ else None
        self._push(
            UnhandledExceptionEvent(
                **self._header("UNHANDLED_EXCEPTION", severity),
                error_type=type(error).__name__,
                error_message=redact(str(error), secrets),
                traceback=redact(trace, secrets) if trace is not None else None,
            )
        )

    def emit(self, event: PipelineEvent) -> None:
        """The `TelemetrySink` face: forward retries and errors of pipeline calls."""
        if event.name not in FORWARDED_PIPELINE_EVENTS:
            return
        data: dict[str, object] = {"endpoint_id": event.endpoint_id, **event.attributes}
        if event.duration_s is not None:
            data["duration_s"] = event.duration_s
        self.log(event.name, data, "WARNING" if event.name == "request_retry" else "ERROR")

    def pending(self) -> int:
        """Events queued and not yet sent."""
        with self._lock:
            return len(self._queue)

    # -- sending (on the loop) ----------------------------------------------------------------

    async def flush(self) -> None:
        """Send every queued event, `max_batch_size` at a time; failed batches are dropped."""
        async with self._flush_lock:
            while batch := self._take_batch():
                request = TelemetrySendRequest(
                    events=batch,
                    platform=platform.system(),
                    sdk_version=self._sdk_version,
                    session_id=self.session_id,
                    process_uuid=_PROCESS_UUID,
                )
                try:
                    await self._pipeline.call("telemetry", request, timeout=SEND_TIMEOUT_S)
                except PristineError as error:
                    # The pipeline already retried; a rejected batch will not get better.
                    logger.warning("Dropping a telemetry batch that failed to send: %s", error)
                    continue
                self.sent += len(batch)

    async def run(self) -> None:
        """Flush every `flush_interval_s` until cancelled or closed (start it in a task)."""
        while not self.closed:
            await self._clock.sleep(self._flush_interval_s)
            await self.flush()

    async def aclose(self) -> None:
        """Record the session's end and send everything still queued. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if not self._sessionless:
            duration = self._clock.wall() - self._started_at
            self._push(
                SessionEndEvent(**self._header("SESSION_END", "INFO"), duration=f"{duration:.3f}s")
            )
        await self.flush()

    # -- internals ----------------------------------------------------------------------------

    def _header(self, kind: str, severity: Severity) -> dict[str, object]:
        with self._lock:
            index = self._index
            self._index += 1
        return {
            "event": kind,
            "event_id": str(uuid.uuid4()),
            "event_session_index": index,
            "severity": severity,
            "timestamp": datetime.fromtimestamp(self._clock.wall(), tz=UTC),
        }

    def _push(self, event: TelemetryEvent) -> None:
        with self._lock:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1  # the deque drops the oldest event
            self._queue.append(event)

    def _take_batch(self) -> list[TelemetryEvent]:
        with self._lock:
            count = min(self._max_batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(count)]

    def _secrets(self) -> tuple[str, ...]:
        return self._pipeline.context.all_secrets()


def _is_user_error(error: BaseException) -> bool:
    """A failure the user can fix: a failed request of category `user`, or a 4xx but 408/429."""
    if getattr(error, "category", None) == "user":
        return True
    status = getattr(error, "status_code", None)
    return (
        isinstance(error, APIError)
        and isinstance(status, int)
        and 400 <= status < 500
        and status not in (408, 429)
    )
