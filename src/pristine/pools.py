"""Connection pools and their admission gates: one set per pool name, created on first use.

A call admitted to a pool has passed, in order: the shared 429 backoff window, the counting
semaphore, the bytes semaphore and the circuit breaker. The order matters: waiting on the
window first means a paused pool holds no semaphore slots while it waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio

from pristine.adapters.admission import BackoffWindow, BytesSemaphore, CircuitBreaker
from pristine.adapters.classify import breaker_outcome
from pristine.context import Context
from pristine.errors import CircuitOpenError
from pristine.manifest import PoolPolicy
from pristine.ports.transport import Transport

__all__ = ["Pool", "Pools"]


class Pool:
    """One pool: its transport and the admission state every call on it shares."""

    def __init__(self, name: str, policy: PoolPolicy, context: Context) -> None:
        self.name = name
        self.policy = policy
        self.transport: Transport = context.transport_factory(name, policy)
        self.window = BackoffWindow(context.clock) if policy.share_rate_limit_window else None
        self._slots = anyio.Semaphore(policy.concurrency) if policy.concurrency else None
        self._bytes = BytesSemaphore(policy.bytes_budget) if policy.bytes_budget else None
        breaker = policy.circuit_breaker
        self.breaker = (
            CircuitBreaker(
                name,
                failure_threshold=breaker.failure_threshold,
                reset_timeout_s=breaker.reset_timeout_s,
                clock=context.clock,
            )
            if breaker
            else None
        )

    @asynccontextmanager
    async def admit(self, body_bytes: int) -> AsyncIterator[None]:
        """Wait for every gate, in order; raise `CircuitOpenError` when the breaker refuses."""
        if self.window is not None:
            await self.window.wait()
        async with AsyncExitStack() as stack:
            if self._slots is not None:
                await stack.enter_async_context(self._slots)
            if self._bytes is not None:
                await stack.enter_async_context(self._bytes.hold(body_bytes))
            if self.breaker is not None and not self.breaker.allow():
                raise CircuitOpenError(
                    f"circuit breaker of pool {self.name!r} is {self.breaker.state} after "
                    f"repeated failures; calls fail fast for "
                    f"{self.breaker.remaining_open_s():.1f}s more, then one trial call probes "
                    "the server",
                    breaker=self.name,
                )
            try:
                yield
            except BaseException:
                # A trial call that ends without an outcome (cancelled, say) must not hold
                # the half-open slot forever: count it as failed, so a new trial comes later.
                if self.breaker is not None and self.breaker.state == "half_open":
                    self.breaker.record_failure()
                raise

    def record(self, status: int | None) -> None:
        """Tell the breaker how an attempt went (`None`: no HTTP answer at all)."""
        if self.breaker is None:
            return
        outcome = breaker_outcome(status)
        if outcome == "success":
            self.breaker.record_success()
        elif outcome == "failure":
            self.breaker.record_failure()


class Pools:
    """The pools of one pipeline, keyed by name; no global state."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self._pools: dict[str, Pool] = {}

    def get(self, name: str, policy: PoolPolicy) -> Pool:
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = Pool(name, policy, self._context)
        return pool

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.transport.aclose()
