"""Admission control: what a request must get past before it may use the network.

Three independent gates, each shared by every call on one pool key:

- `BackoffWindow`: after a 429 the whole pool waits, not just the call that saw it.
- `BytesSemaphore`: bounds the bytes in flight, so many large bodies do not run at once.
- `CircuitBreaker`: stops calling a backend that keeps failing, then probes it again.

They read time only through the injected `Clock`, so tests drive them with `FakeClock`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import anyio

from pristine.ports.clock import Clock

__all__ = ["BackoffWindow", "BytesSemaphore", "CircuitBreaker", "CircuitState"]

CircuitState = Literal["closed", "open", "half_open"]


class BackoffWindow:
    """A shared "nobody sends before T" deadline, pushed forward by 429 answers.

    `extend` never shortens the window, so a short Retry-After seen by one call cannot
    cut short a longer one seen by another.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until = -math.inf

    def extend(self, seconds: float) -> None:
        """End the window no earlier than `seconds` from now (negative counts as 0)."""
        if not math.isfinite(seconds):
            raise ValueError(
                f"BackoffWindow.extend: seconds must be a finite number, got {seconds!r}"
            )
        self._until = max(self._until, self._clock.monotonic() + max(0.0, seconds))

    def remaining(self) -> float:
        """Seconds left before calls may go out again (0.0 when the window is over)."""
        return max(0.0, self._until - self._clock.monotonic())

    async def wait(self) -> None:
        """Sleep until the window is over, including extensions made while sleeping."""
        while (left := self.remaining()) > 0:
            await self._clock.sleep(left)


@dataclass(eq=False)
class _Waiter:
    n: int
    granted: bool = False
    event: anyio.Event = field(default_factory=anyio.Event)


class BytesSemaphore:
    """A budget of bytes in flight, weighted by request size.

    A caller is admitted at once while the budget is not negative, even when its own
    size drives it below zero: one request larger than the whole budget must still be
    able to run. Callers wait only while the budget is negative, and are woken in
    arrival order (a newcomer queues behind earlier waiters).
    """

    def __init__(self, budget: int) -> None:
        if budget <= 0:
            raise ValueError(f"BytesSemaphore: budget must be a positive byte count, got {budget}")
        self._available = budget
        self._waiters: deque[_Waiter] = deque()

    @property
    def available(self) -> int:
        """Bytes left in the budget; negative while over-committed."""
        return self._available

    def hold(self, n: int) -> AbstractAsyncContextManager[None]:
        """Hold `n` bytes of the budget for the duration of the `async with` block."""
        if n < 0:
            raise ValueError(f"BytesSemaphore.hold: n={n} is negative; pass a byte count >= 0")
        return self._holding(n)

    @asynccontextmanager
    async def _holding(self, n: int) -> AsyncIterator[None]:
        await self._acquire(n)
        try:
            yield
        finally:
            self._release(n)

    async def _acquire(self, n: int) -> None:
        if not self._waiters and self._available >= 0:
            self._available -= n
            return
        waiter = _Waiter(n)
        self._waiters.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            # Cancelled: a waiter granted in the same step already holds its bytes.
            if waiter.granted:
                self._release(n)
            else:
                self._waiters.remove(waiter)
            raise

    def _release(self, n: int) -> None:
        self._available += n
        # Bytes are handed over here, on the releaser's side, so a woken waiter that is
        # cancelled before it runs can tell whether it owns them.
        while self._waiters and self._available >= 0:
            waiter = self._waiters.popleft()
            self._available -= waiter.n
            waiter.granted = True
            waiter.event.set()


class CircuitBreaker:
    """Closed → open after `failure_threshold` consecutive failures; open → half-open after
    `reset_timeout_s`; half-open admits `half_open_max_calls` trial calls, whose first
    success closes the circuit and whose first failure opens it again.

    Outcomes reported while open (late answers to calls admitted earlier) are ignored.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        half_open_max_calls: int = 1,
        clock: Clock,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(
                f"CircuitBreaker {name!r}: failure_threshold must be >= 1, got {failure_threshold}"
            )
        if not (math.isfinite(reset_timeout_s) and reset_timeout_s >= 0):
            raise ValueError(
                f"CircuitBreaker {name!r}: reset_timeout_s must be a finite number >= 0, "
                f"got {reset_timeout_s}"
            )
        if half_open_max_calls < 1:
            raise ValueError(
                f"CircuitBreaker {name!r}: half_open_max_calls must be >= 1, "
                f"got {half_open_max_calls}"
            )
        self.name = name
        self._failure_threshold = failure_threshold
        self._reset_timeout_s = reset_timeout_s
        self._half_open_max_calls = half_open_max_calls
        self._clock = clock
        self._state: CircuitState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_calls = 0

    @property
    def state(self) -> CircuitState:
        """The current state; an open circuit turns half-open once its timeout has passed."""
        if self._state == "open" and self.remaining_open_s() == 0.0:
            self._state = "half_open"
            self._trial_calls = 0
        return self._state

    def remaining_open_s(self) -> float:
        """Seconds until an open circuit admits a trial call (0.0 when not open)."""
        if self._state != "open":
            return 0.0
        return max(0.0, self._opened_at + self._reset_timeout_s - self._clock.monotonic())

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open this takes one trial slot."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._trial_calls >= self._half_open_max_calls:
            return False
        self._trial_calls += 1
        return True

    def record_success(self) -> None:
        if self.state != "open":
            self._state = "closed"
            self._failures = 0

    def record_failure(self) -> None:
        state = self.state
        if state == "half_open":
            self._open()
        elif state == "closed":
            self._failures += 1
            if self._failures >= self._failure_threshold:
                self._open()

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock.monotonic()
        self._failures = 0
