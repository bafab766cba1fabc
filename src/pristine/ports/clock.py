"""Time as a port: the runtime never reads the wall clock directly, so tests can fake it."""

from __future__ import annotations

import time
from typing import Protocol

import anyio


class Clock(Protocol):
    """Monotonic time and sleeping. `pristine.testing.FakeClock` is the test double."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (for HTTP dates in Retry-After)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for `seconds` (0 or less yields once)."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))
