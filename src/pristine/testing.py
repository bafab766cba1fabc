"""Test doubles that ship with the runtime, so SDKs built on it test without wall-clock waits
or network: a fake clock, a scripted transport and minimal manifest builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio.lowlevel

from pristine.ports.transport import RawRequest, RawResponse, StreamedResponse

if TYPE_CHECKING:
    from pristine.manifest import PoolPolicy

__all__ = ["FakeClock", "ScriptedTransport", "endpoint_dict", "manifest_dict"]


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


Handler = Callable[[RawRequest], Awaitable[RawResponse]]


class ScriptedTransport:
    """A transport whose answers come from an async `handler`; records every request.

    Pass `Context(transport_factory=transport.factory)` to route every pool through it.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[RawRequest] = []
        self.closed = False

    def factory(self, name: str, pool: PoolPolicy) -> ScriptedTransport:
        """A `TransportFactory` handing every pool this same transport."""
        return self

    async def send(self, request: RawRequest) -> RawResponse:
        self.requests.append(request)
        return await self.handler(request)

    @asynccontextmanager
    async def stream(self, request: RawRequest) -> AsyncIterator[StreamedResponse]:
        response = await self.send(request)

        async def chunks() -> AsyncIterator[bytes]:
            yield response.content

        yield StreamedResponse(response.status, response.headers, chunks())

    async def aclose(self) -> None:
        self.closed = True


def endpoint_dict(id: str, path: str, method: str = "GET", **fields: Any) -> dict[str, Any]:
    """One manifest endpoint entry, for building manifests inline in tests."""
    return {"id": id, "method": method, "path": path, **fields}


def manifest_dict(*endpoints: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A minimal valid manifest mapping around `endpoints`; `top` adds or overrides keys."""
    return {"name": "test-api", "version": "1", "endpoints": list(endpoints), **top}
