"""Getting sample submissions through: throttles that queue rather than fail, and retries.

A sampling session may have thousands of samples in flight. Three gates stand between a
sample and the network, shared by every `SamplingClient` of one holder:

- a concurrency limit (400 submissions at once, 10 while the server is pushing back);
- a byte budget (`BytesSemaphore`): estimated prompt bytes in flight, 20x weight while the
  server is pushing back;
- a shared backoff window (`BackoffWindow`): after a 429 every sample of the session waits
  1 s (5 s for prompts over 128 KiB) before resubmitting.

A 402 (billing) pauses sampling the same way, within the session's billing incident
(`tinkex.clients.billing`); past its limit the 402 is raised. `RetryHandler` retries a
whole sample (submit + poll) on transient failures with exponential backoff, and fails with
a clear error when no sample of the client made progress for `RetryConfig.progress_timeout`
(stuck detection). Numbers and names follow the official client
(`lib/internal_client_holder.py`, `lib/retry_handler.py`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import anyio

from pristine.adapters.admission import BackoffWindow, BytesSemaphore
from pristine.errors import APIConnectionError, APIStatusError
from pristine.futures import FutureExpiredError
from pristine.ports.clock import Clock

__all__ = [
    "DispatchLimits",
    "RetryConfig",
    "RetryHandler",
    "SampleDispatcher",
    "StuckError",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)

LARGE_PROMPT_BYTES = 128 * 1024
"""Prompts above this size back off for the long pause after a 429."""


@dataclass(frozen=True, slots=True)
class DispatchLimits:
    """The numbers behind the gates; defaults are the official client's."""

    max_concurrent: int = 400
    throttled_concurrent: int = 10
    bytes_budget: int = 10 * 1024 * 1024
    throttled_bytes_factor: int = 20
    short_backoff_s: float = 1.0
    long_backoff_s: float = 5.0
    recent_backoff_s: float = 10.0
    """How long after a backoff ends the tighter (throttled) gates stay on."""

    def __post_init__(self) -> None:
        for name in ("max_concurrent", "throttled_concurrent", "bytes_budget"):
            if getattr(self, name) < 1:
                raise ValueError(f"DispatchLimits.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("short_backoff_s", "long_backoff_s", "recent_backoff_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"DispatchLimits.{name} must be a finite number >= 0, got {value}")


class SampleDispatcher:
    """The gates a sample submission passes; one per holder, shared by its sampling clients."""

    def __init__(self, clock: Clock, limits: DispatchLimits | None = None) -> None:
        self.limits = limits or DispatchLimits()
        self._clock = clock
        self._window = BackoffWindow(clock)
        self._slots = anyio.Semaphore(self.limits.max_concurrent)
        self._throttled_slots = anyio.Semaphore(self.limits.throttled_concurrent)
        self._bytes = BytesSemaphore(self.limits.bytes_budget)
        self._backoff_until: float | None = None

    @asynccontextmanager
    async def slot(self, estimated_bytes: int) -> AsyncIterator[None]:
        """Hold a dispatch slot and `estimated_bytes` of the budget; waits, never fails."""
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self._slots)
            throttled = self.backed_off_recently()
            if throttled:
                await stack.enter_async_context(self._throttled_slots)
            weight = estimated_bytes * (self.limits.throttled_bytes_factor if throttled else 1)
            await stack.enter_async_context(self._bytes.hold(weight))
            yield

    async def wait_for_window(self) -> None:
        """Sleep while a backoff window is open (extensions made meanwhile included)."""
        await self._window.wait()

    def back_off(self, estimated_bytes: int) -> float:
        """The server pushed back: pause every sample of the session; return the pause."""
        large = estimated_bytes > LARGE_PROMPT_BYTES
        pause = self.limits.long_backoff_s if large else self.limits.short_backoff_s
        self._window.extend(pause)
        self._backoff_until = self._clock.monotonic() + pause
        return pause

    def backed_off_recently(self) -> bool:
        """Whether a backoff ended less than `recent_backoff_s` ago (or is still running)."""
        if self._backoff_until is None:
            return False
        return self._clock.monotonic() - self._backoff_until < self.limits.recent_backoff_s

    def in_backoff(self) -> float:
        """Seconds left in the current backoff window (0.0 when none)."""
        return self._window.remaining()


RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable(error: BaseException) -> bool:
    """Transient failures worth submitting the sample again for."""
    if isinstance(error, (TimeoutError, APIConnectionError, FutureExpiredError)):
        return True
    if isinstance(error, APIStatusError):
        return error.status_code in RETRYABLE_STATUSES or 500 <= error.status_code < 600
    return False


@dataclass(frozen=True)
class RetryConfig:
    """How samples are retried; names and defaults are the official client's."""

    max_connections: int | None = 1000
    """Samples in the retry loop at once; None for no limit."""
    progress_timeout: float = 120 * 60
    """Fail when no sample of the client finished for this long (stuck detection)."""
    retry_delay_base: float = 0.5
    retry_delay_max: float = 10.0
    jitter_factor: float = 0.25
    enable_retry_logic: bool = True
    enable_stuck_detection: bool = True

    def __post_init__(self) -> None:
        if self.max_connections is not None and self.max_connections <= 0:
            raise ValueError(
                f"RetryConfig.max_connections must be positive or None, got {self.max_connections}"
            )
        if not (math.isfinite(self.progress_timeout) and self.progress_timeout > 0):
            raise ValueError(
                "RetryConfig.progress_timeout must be a finite number of seconds > 0, "
                f"got {self.progress_timeout}; use enable_stuck_detection=False to turn it off"
            )
        if not 0 <= self.jitter_factor <= 1:
            raise ValueError(
                f"RetryConfig.jitter_factor must be between 0 and 1, got {self.jitter_factor}"
            )


class StuckError(APIConnectionError):
    """No request of the handler made progress within `RetryConfig.progress_timeout`."""


class RetryHandler:
    """Runs attempts with retries, a concurrency limit and stuck detection, on a `Clock`."""

    def __init__(
        self,
        config: RetryConfig,
        *,
        clock: Clock,
        name: str = "default",
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self._clock = clock
        self._rng = rng or random.Random()
        self._limit = (
            anyio.Semaphore(config.max_connections) if config.max_connections is not None else None
        )
        self._last_progress = clock.monotonic()
        self._in_flight = 0
        self.retries = 0

    async def execute(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt()` until it succeeds, fails for good, or nothing progresses for too long."""
        async with self._limit if self._limit is not None else contextlib.nullcontext():
            if self._in_flight == 0:
                self._last_progress = self._clock.monotonic()
            self._in_flight += 1
            try:
                if not self.config.enable_stuck_detection:
                    return await self._with_retries(attempt)
                return await self._watched(attempt)
            finally:
                self._in_flight -= 1

    async def _watched(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run the retry loop while a watchdog cancels it if nothing progresses in time."""
        stuck = False
        failure: Exception | None = None
        result: list[T] = []

        async def watchdog(scope: anyio.CancelScope) -> None:
            nonlocal stuck
            timeout = self.config.progress_timeout
            while (left := self._last_progress + timeout - self._clock.monotonic()) > 0:
                await self._clock.sleep(left)
            stuck = True
            scope.cancel()

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(watchdog, scope)
                try:
                    result.append(await self._with_retries(attempt))
                except Exception as error:  # re-raised below, outside the task group
                    failure = error
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure
        if stuck and not result:
            raise StuckError(
                f"[{self.name}] no progress made in {self.config.progress_timeout}s; requests "
                "appear to be stuck. Check the server's health, or raise "
                "RetryConfig.progress_timeout (or set enable_stuck_detection=False)"
            )
        return result[0]

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]]) -> T:
        attempts = 0
        while True:
            attempts += 1
            try:
                value = await attempt()
            except Exception as error:
                if not (self.config.enable_retry_logic and is_retryable(error)):
                    raise
                self.retries += 1
                delay = self._delay(attempts - 1)
                logger.debug(
                    "[%s] attempt %d failed (%s); retrying in %.2fs",
                    self.name,
                    attempts,
                    error,
                    delay,
                )
                await self._clock.sleep(delay)
            else:
                self._last_progress = self._clock.monotonic()
                return value

    def _delay(self, retry: int) -> float:
        cap = self.config.retry_delay_max
        delay = min(self.config.retry_delay_base * 2.0 ** min(retry, 62), cap)
        jitter = delay * self.config.jitter_factor * (2 * self._rng.random() - 1)
        return max(0.0, min(delay + jitter, cap))
