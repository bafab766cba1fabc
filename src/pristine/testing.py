"""Test doubles that ship with the runtime, so SDKs built on it can test without wall-clock waits."""

from __future__ import annotations

import anyio.lowlevel


class FakeClock:
    """A clock whose `sleep` advances virtual time at once instead of waiting.

    Every requested sleep is recorded in `sleeps`, so a test can assert on backoff schedules
    without ever waiting on the wall clock.
    """

    def __init__(self, start: float = 1_000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move virtual time forward (e.g. to expire a circuit breaker's open state)."""
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await anyio.lowlevel.checkpoint()
