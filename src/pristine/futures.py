"""Polling a server-side future until it is done: the Tinker futures protocol, transport-free.

Some endpoints answer at once with a request id; the result is fetched later from a poll
endpoint. `poll_future` drives that loop given `poll_once(attempt)`, one poll request that
raises `APIConnectionError`/`APITimeoutError` only when no HTTP answer came back. How each
answer is handled:

| answer                                    | action                                             |
|-------------------------------------------|----------------------------------------------------|
| 200 `{"type": "try_again", queue_state}`  | report the queue state, re-poll at once (long poll)|
| 200 `{"status": "complete_metadata"}`     | hold the payload's bytes, fetch it (`fetch_payload`)|
| 200 `{"error": ..., "category": ...}`     | raise `RequestFailedError`                         |
| any other 200                             | done: `PollResult`                                 |
| 408 (queue state in body), 5xx            | re-poll at once (after `repoll_delay_s`)           |
| 429, connection error                     | exponential backoff with jitter                    |
| `pause_statuses` (e.g. 402, a billing hold)| pause: capped backoff, re-poll while `on_pause` ok |
| 400 (`client_error_retry_statuses`)       | re-poll, at most `max_client_error_retries` times  |
| 410                                       | raise `FutureExpiredError`: submit the call again  |
| other 4xx                                 | raise the status error                             |

Everything is bounded by `FuturePolicy.deadline_s` (`FutureTimeoutError`, which names the
pausing status if the poll was paused), and a cancelled task stops polling at its next await.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import anyio.lowlevel
import orjson

from pristine.adapters.admission import BytesSemaphore
from pristine.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    ErrorCategory,
    status_error_class,
)
from pristine.ports.clock import Clock
from pristine.ports.transport import RawResponse
from pristine.telemetry import NullSink, TelemetryEvent, TelemetrySink

__all__ = [
    "FutureExpiredError",
    "FuturePolicy",
    "FutureTimeoutError",
    "PollOnce",
    "PollResult",
    "QueueState",
    "QueueStateName",
    "RequestFailedError",
    "poll_future",
]

PollOnce = Callable[[int], Awaitable[RawResponse]]
QueueStateName = Literal["active", "paused_rate_limit", "paused_capacity", "unknown"]
_logger = logging.getLogger(__name__)
_QUEUE_STATES: frozenset[str] = frozenset(get_args(QueueStateName))
_ERROR_CATEGORIES: frozenset[str] = frozenset(get_args(ErrorCategory))


@dataclass(frozen=True, slots=True)
class QueueState:
    """Where the request waits server-side; `reason` is the server's explanation, if any."""

    state: QueueStateName
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PollResult:
    """The finished future's answer. `json` is None for non-JSON (e.g. protobuf) bodies.

    `metadata_only` is True when the server sent only the payload's size (and no
    `fetch_payload` was given to get the payload itself); `json` then holds that metadata.
    """

    content: bytes
    headers: Mapping[str, str]
    json: Any
    metadata_only: bool = False


@dataclass(frozen=True, slots=True)
class FuturePolicy:
    """How long and how hard to poll. Defaults follow the official Tinker client."""

    deadline_s: float = 3600.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    jitter: float = 0.25
    """Fraction of each backoff delay removed at random, so clients do not poll in step."""
    repoll_delay_s: float = 0.0
    """Pause before re-polling after try_again/408/5xx; 0 because the server long-polls."""
    max_client_error_retries: int = 3
    client_error_retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({400}))
    """Statuses re-polled a few times: an upstream proxy may inject a bare 400."""
    pause_statuses: frozenset[int] = frozenset()
    """Statuses meaning "not now, until someone fixes something" (e.g. 402, a billing hold):
    polling pauses and resumes instead of failing. None by default: opt in per API."""
    pause_max_delay_s: float = 5.0
    """Cap on the wait between polls while paused; it grows from `backoff_base_s`."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.deadline_s) and self.deadline_s > 0):
            raise ValueError(
                f"FuturePolicy.deadline_s must be a finite number > 0, got {self.deadline_s}"
            )
        for name in ("backoff_base_s", "backoff_max_s", "repoll_delay_s", "pause_max_delay_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"FuturePolicy.{name} must be a finite number >= 0, got {value}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"FuturePolicy.jitter must be between 0 and 1, got {self.jitter}")
        if self.max_client_error_retries < 0:
            raise ValueError(
                "FuturePolicy.max_client_error_retries must be >= 0, "
                f"got {self.max_client_error_retries}"
            )
        if not all(400 <= status <= 599 for status in self.pause_statuses):
            raise ValueError(
                "FuturePolicy.pause_statuses must hold HTTP error statuses (400-599), "
                f"got {sorted(self.pause_statuses)}"
            )


class RequestFailedError(APIError):
    """The server ran the request and it failed. `category` "user" means fix the request;
    "server"/"unknown" failures may succeed if the call is submitted again (`retryable`)."""

    def __init__(
        self, message: str, *, request_id: str, category: ErrorCategory, body: object = None
    ) -> None:
        super().__init__(message, body=body)
        self.request_id = request_id
        self.category = category

    @property
    def retryable(self) -> bool:
        return self.category != "user"


class FutureExpiredError(APIStatusError):
    """HTTP 410: the server no longer knows the future; submit the original call again."""


class FutureTimeoutError(APITimeoutError):
    """The future did not finish within `FuturePolicy.deadline_s`."""

    def __init__(
        self, message: str, *, request_id: str, elapsed_s: float, queue_state: QueueState | None
    ) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.elapsed_s = elapsed_s
        self.queue_state = queue_state


async def poll_future(
    poll_once: PollOnce,
    *,
    request_id: str,
    policy: FuturePolicy,
    clock: Clock,
    on_queue_state: Callable[[QueueState], None] | None = None,
    telemetry: TelemetrySink | None = None,
    endpoint_id: str | None = None,
    fetch_payload: PollOnce | None = None,
    payload_budget: BytesSemaphore | None = None,
    rng: random.Random | None = None,
    on_pause: Callable[[APIStatusError], bool] | None = None,
) -> PollResult:
    """Poll until the future is done and return its answer, or raise why it never will be.

    `fetch_payload` is the poll to use once the server said "complete, metadata only" (the
    same request with metadata-only answers turned off); the payload's size is held on
    `payload_budget` meanwhile, which bounds how many large results download at once.
    `on_pause` sees the error of every answer in `policy.pause_statuses` before the wait: it
    returns False (or raises its own error) to fail instead, e.g. once a pause limit shared
    with other calls is spent.
    """
    poller = _Poller(
        poll_once,
        request_id=request_id,
        policy=policy,
        clock=clock,
        on_queue_state=on_queue_state,
        telemetry=telemetry,
        endpoint_id=endpoint_id,
        fetch_payload=fetch_payload,
        payload_budget=payload_budget,
        rng=rng or random.Random(),
        on_pause=on_pause,
    )
    return await poller.run()


@dataclass
class _Poller:
    """The mutable state of one `poll_future` call."""

    poll: PollOnce
    request_id: str
    policy: FuturePolicy
    clock: Clock
    on_queue_state: Callable[[QueueState], None] | None
    telemetry: TelemetrySink | None
    endpoint_id: str | None
    fetch_payload: PollOnce | None
    payload_budget: BytesSemaphore | None
    rng: random.Random
    on_pause: Callable[[APIStatusError], bool] | None
    attempt: int = 0
    backoff_exponent: int = 0
    pause_exponent: int = 0
    paused_since: float | None = None
    client_error_retries: int = 0
    queue_state: QueueState | None = None
    last_error: BaseException | None = None
    started: float = 0.0

    async def run(self) -> PollResult:
        self.started = self.clock.monotonic()
        self._emit("future_poll_start", request_id=self.request_id)
        try:
            async with AsyncExitStack() as holds:
                result = await self._loop(holds)
        except APIError as error:
            self._emit_error(error)
            raise
        if self.queue_state is not None and self.queue_state.state != "active":
            self._report(QueueState("active"))
        self._emit(
            "future_complete",
            duration_s=self._elapsed(),
            request_id=self.request_id,
            attempts=self.attempt,
            metadata_only=result.metadata_only,
        )
        return result

    async def _loop(self, holds: AsyncExitStack) -> PollResult:
        while True:
            await anyio.lowlevel.checkpoint()
            self._check_deadline()
            response = await self._poll_once()
            if response is None:
                await self._sleep(self._backoff())
                continue
            if response.status != 429:  # any other answer proves the server is reachable
                self.backoff_exponent = 0
            if response.status not in self.policy.pause_statuses:
                self.paused_since = None
            if 200 <= response.status < 300:
                done = await self._on_ok(response, holds)
                if done is not None:
                    return done
            else:
                await self._on_status(response)

    async def _poll_once(self) -> RawResponse | None:
        attempt = self.attempt
        self.attempt += 1
        self._emit("future_poll_attempt", request_id=self.request_id, attempt=attempt)
        try:
            return await self.poll(attempt)
        except APIConnectionError as error:
            self.last_error = error
            return None

    async def _on_ok(self, response: RawResponse, holds: AsyncExitStack) -> PollResult | None:
        body = _json_or_none(response)
        if not isinstance(body, dict):
            return PollResult(response.content, response.headers, body)
        if body.get("type") == "try_again":
            self.client_error_retries = 0
            self._report_from(body)
            await self._sleep(self.policy.repoll_delay_s)
            return None
        if body.get("status") == "complete_metadata":
            return await self._on_metadata_only(response, body, holds)
        if "error" in body:
            self._report(QueueState("active"))
            raise self._request_failed(body)
        return PollResult(response.content, response.headers, body)

    async def _on_metadata_only(
        self, response: RawResponse, body: dict[str, Any], holds: AsyncExitStack
    ) -> PollResult | None:
        if self.fetch_payload is None:
            return PollResult(response.content, response.headers, body, metadata_only=True)
        if self.poll is self.fetch_payload:
            raise APIResponseValidationError(
                f"future {self.request_id}: the server sent a metadata-only answer to a poll "
                "that asked for the payload; this is a server bug, report it",
                body=body,
            )
        if self.payload_budget is not None:
            size = int(body.get("response_payload_size") or 0)
            await holds.enter_async_context(self.payload_budget.hold(size))
        self.poll = self.fetch_payload
        return None

    async def _on_status(self, response: RawResponse) -> None:
        status = response.status
        if status in self.policy.pause_statuses:
            await self._pause(response)
        elif status == 408 or status >= 500:
            if status == 408:
                self.client_error_retries = 0
                body = _json_or_none(response)
                if isinstance(body, dict):
                    self._report_from(body)
            self.last_error = self._status_error(response, "re-polling")
            await self._sleep(self.policy.repoll_delay_s)
        elif status == 429:
            self.last_error = self._status_error(response, "backing off")
            await self._sleep(self._backoff())
        elif status == 410:
            raise FutureExpiredError(
                f"future {self.request_id} expired on the server (HTTP 410); "
                "submit the original request again",
                status_code=410,
                headers=response.headers,
                body=_body_for_error(response),
                request_id=self.request_id,
            )
        elif (
            status in self.policy.client_error_retry_statuses
            and self.client_error_retries < self.policy.max_client_error_retries
        ):
            self.client_error_retries += 1
            self.last_error = self._status_error(response, "re-polling")
        else:
            raise self._status_error(response, f"gave up after {self.attempt} poll(s)")

    async def _pause(self, response: RawResponse) -> None:
        """Wait (longer each time, capped) and re-poll, unless `on_pause` ends the pause."""
        now = self.clock.monotonic()
        if self.paused_since is None:
            self.paused_since, self.pause_exponent = now, 0
            self._emit("future_paused", request_id=self.request_id, status=response.status)
        error = self._status_error(response, "paused, re-polling until the deadline")
        if self.on_pause is not None and not self.on_pause(error):
            raise self._status_error(response, "the caller ended the pause")
        self.last_error = error
        delay = self._jittered(self._grown(self.pause_exponent, self.policy.pause_max_delay_s))
        self.pause_exponent = min(self.pause_exponent + 1, 62)
        await self._sleep(delay)

    def _status_error(self, response: RawResponse, action: str) -> APIStatusError:
        body = _body_for_error(response)
        return status_error_class(response.status)(
            f"polling future {self.request_id}: HTTP {response.status} ({_detail(body)}), {action}",
            status_code=response.status,
            headers=response.headers,
            body=body,
            request_id=response.headers.get("x-request-id"),
        )

    def _request_failed(self, body: dict[str, Any]) -> RequestFailedError:
        category = body.get("category")
        return RequestFailedError(
            f"request {self.request_id} failed on the server: {body['error']}",
            request_id=self.request_id,
            category=category if category in _ERROR_CATEGORIES else "unknown",
            body=body,
        )

    def _report_from(self, body: dict[str, Any]) -> None:
        raw = body.get("queue_state")
        reason = body.get("queue_state_reason")
        if not raw and reason is None:
            return  # nothing worth telling an observer
        self._report(QueueState(raw if raw in _QUEUE_STATES else "unknown", reason))

    def _report(self, state: QueueState) -> None:
        if state == self.queue_state:
            return
        self.queue_state = state
        self._emit(
            "future_queue_state",
            request_id=self.request_id,
            queue_state=state.state,
            reason=state.reason,
        )
        if self.on_queue_state is not None:
            try:
                self.on_queue_state(state)
            except Exception:  # an observer bug must not lose the user's result
                _logger.warning(
                    "queue state observer failed for %s", self.request_id, exc_info=True
                )

    def _backoff(self) -> float:
        delay = self._grown(self.backoff_exponent, self.policy.backoff_max_s)
        self.backoff_exponent = min(self.backoff_exponent + 1, 62)
        return self._jittered(delay)

    def _grown(self, exponent: int, cap: float) -> float:
        """`backoff_base_s` doubled `exponent` times, at most `cap`."""
        return min(self.policy.backoff_base_s * 2.0**exponent, cap)

    def _jittered(self, delay: float) -> float:
        return delay * (1.0 - self.policy.jitter * self.rng.random())

    async def _sleep(self, seconds: float) -> None:
        # Never sleep past the deadline: the next deadline check then fails at once.
        wait = min(seconds, self.policy.deadline_s - self._elapsed())
        if wait > 0:
            await self.clock.sleep(wait)

    def _check_deadline(self) -> None:
        elapsed = self._elapsed()
        if elapsed < self.policy.deadline_s:
            return
        where = (
            f"last queue state {self.queue_state.state}"
            + (f" ({self.queue_state.reason})" if self.queue_state.reason else "")
            if self.queue_state
            else "no queue state reported"
        )
        last = f"; last error: {self.last_error}" if self.last_error else ""
        hint = "raise FuturePolicy.deadline_s or retrieve it later"
        if self.paused_since is not None and isinstance(self.last_error, APIStatusError):
            paused_s = self.clock.monotonic() - self.paused_since
            where = f"paused by HTTP {self.last_error.status_code} for {paused_s:.1f}s"
            hint = "resolve what the server asked for (see last error), then retrieve it later"
        raise FutureTimeoutError(
            f"future {self.request_id} not done after {elapsed:.1f}s "
            f"(deadline {self.policy.deadline_s:g}s, {self.attempt} poll(s), {where}{last}); "
            f"{hint}",
            request_id=self.request_id,
            elapsed_s=elapsed,
            queue_state=self.queue_state,
        ) from self.last_error

    def _elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def _emit_error(self, error: APIError) -> None:
        self._emit(
            "future_error",
            duration_s=self._elapsed(),
            request_id=self.request_id,
            attempts=self.attempt,
            error_type=type(error).__name__,
            status=getattr(error, "status_code", None),
            category=getattr(error, "category", None),
        )

    def _emit(self, name: str, duration_s: float | None = None, **attributes: Any) -> None:
        if self.telemetry is not None and not isinstance(self.telemetry, NullSink):
            self.telemetry.emit(
                TelemetryEvent(name, self.endpoint_id, duration_s, attributes=attributes)
            )


def _json_or_none(response: RawResponse) -> Any:
    """The JSON body, or None when the Content-Type says it is something else."""
    content_type = response.headers.get("content-type", "")
    if content_type and "json" not in content_type:
        return None
    if not 200 <= response.status < 300:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return None
    return response.json()


def _body_for_error(response: RawResponse) -> object:
    body = _json_or_none(response)
    return body if body is not None else response.content[:500].decode("utf-8", "replace")


def _detail(body: object) -> str:
    """The server's explanation in an error body, short enough for a message."""
    if isinstance(body, dict):
        body = next((body[key] for key in ("detail", "message", "error") if key in body), body)
    text = str(body) or "no detail"
    return text if len(text) <= 200 else text[:200] + "..."
