"""Admission control: backoff window, bytes semaphore, circuit breaker (all on a fake clock)."""

from __future__ import annotations

import math

import anyio
import pytest

from pristine.adapters.admission import (
    BackoffWindow,
    BytesSemaphore,
    CircuitBreaker,
    CircuitState,
)
from pristine.testing import FakeClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def settle() -> None:
    """Let every runnable task reach its next blocking point."""
    for _ in range(10):
        await anyio.lowlevel.checkpoint()


# --- BackoffWindow -------------------------------------------------------------------------


def test_backoff_window_starts_closed(clock: FakeClock) -> None:
    assert BackoffWindow(clock).remaining() == 0.0


def test_backoff_window_extend_keeps_the_later_end(clock: FakeClock) -> None:
    window = BackoffWindow(clock)
    window.extend(5.0)
    window.extend(2.0)
    assert window.remaining() == 5.0
    clock.advance(1.0)
    window.extend(10.0)
    assert window.remaining() == 10.0


def test_backoff_window_remaining_counts_down_to_zero(clock: FakeClock) -> None:
    window = BackoffWindow(clock)
    window.extend(3.0)
    clock.advance(2.0)
    assert window.remaining() == 1.0
    clock.advance(5.0)
    assert window.remaining() == 0.0


def test_backoff_window_treats_a_negative_extension_as_zero(clock: FakeClock) -> None:
    window = BackoffWindow(clock)
    window.extend(-4.0)
    assert window.remaining() == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_backoff_window_rejects_non_finite_seconds(clock: FakeClock, bad: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        BackoffWindow(clock).extend(bad)


@pytest.mark.anyio
async def test_backoff_window_wait_returns_at_once_when_closed(clock: FakeClock) -> None:
    await BackoffWindow(clock).wait()
    assert clock.sleeps == []


@pytest.mark.anyio
async def test_backoff_window_wait_sleeps_the_remaining_time(clock: FakeClock) -> None:
    window = BackoffWindow(clock)
    window.extend(4.0)
    clock.advance(1.0)
    await window.wait()
    assert clock.sleeps == [3.0]
    assert window.remaining() == 0.0


class ExtendingClock(FakeClock):
    """Extends a window during the first sleep, as a concurrent 429 would."""

    def __init__(self) -> None:
        super().__init__()
        self.window: BackoffWindow | None = None

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if self.window is not None and len(self.sleeps) == 1:
            self.window.extend(7.0)


@pytest.mark.anyio
async def test_backoff_window_wait_rechecks_after_an_extension() -> None:
    clock = ExtendingClock()
    window = BackoffWindow(clock)
    clock.window = window
    window.extend(2.0)
    await window.wait()
    assert clock.sleeps == [2.0, 7.0]


# --- BytesSemaphore ------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [0, -1])
def test_bytes_semaphore_rejects_a_non_positive_budget(budget: int) -> None:
    with pytest.raises(ValueError, match="budget"):
        BytesSemaphore(budget)


@pytest.mark.anyio
async def test_bytes_semaphore_rejects_a_negative_hold() -> None:
    semaphore = BytesSemaphore(10)
    with pytest.raises(ValueError, match="n="):
        async with semaphore.hold(-1):
            pass  # pragma: no cover


@pytest.mark.anyio
async def test_bytes_semaphore_admits_while_non_negative_and_may_go_negative() -> None:
    semaphore = BytesSemaphore(10)
    async with semaphore.hold(4):
        assert semaphore.available == 6
        async with semaphore.hold(25):
            assert semaphore.available == -19
        assert semaphore.available == 6
    assert semaphore.available == 10


@pytest.mark.anyio
async def test_bytes_semaphore_releases_on_error() -> None:
    semaphore = BytesSemaphore(10)
    with pytest.raises(RuntimeError):
        async with semaphore.hold(7):
            raise RuntimeError("boom")
    assert semaphore.available == 10


@pytest.mark.anyio
async def test_bytes_semaphore_blocks_while_negative_and_wakes_fifo() -> None:
    semaphore = BytesSemaphore(10)
    order: list[str] = []
    release_big = anyio.Event()
    release_waiters = anyio.Event()

    async def big() -> None:
        async with semaphore.hold(15):
            order.append("big")
            await release_big.wait()

    async def waiter(name: str, n: int) -> None:
        async with semaphore.hold(n):
            order.append(name)
            await release_waiters.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(big)
        await settle()
        assert semaphore.available == -5
        for name in ("first", "second", "third"):
            tg.start_soon(waiter, name, 4)
            await settle()
        assert order == ["big"]
        release_big.set()
        await settle()
        # 10 back: first (10 -> 6) and second (6 -> 2) and third (2 -> -2) are all admitted,
        # in arrival order, because each admission left the budget non-negative.
        assert order == ["big", "first", "second", "third"]
        assert semaphore.available == -2
        release_waiters.set()
    assert semaphore.available == 10


@pytest.mark.anyio
async def test_bytes_semaphore_newcomer_queues_behind_waiters() -> None:
    semaphore = BytesSemaphore(10)
    order: list[str] = []
    release_big = anyio.Event()

    async def big() -> None:
        async with semaphore.hold(11):
            await release_big.wait()

    async def waiter(name: str, n: int) -> None:
        async with semaphore.hold(n):
            order.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(big)
        await settle()
        tg.start_soon(waiter, "a", 20)
        await settle()
        tg.start_soon(waiter, "b", 1)
        await settle()
        assert order == []
        release_big.set()
    assert order == ["a", "b"]
    assert semaphore.available == 10


@pytest.mark.anyio
async def test_bytes_semaphore_cancelled_waiter_does_not_leak_budget() -> None:
    semaphore = BytesSemaphore(10)
    release_big = anyio.Event()
    admitted: list[str] = []

    async def big() -> None:
        async with semaphore.hold(12):
            await release_big.wait()

    async def waiter(name: str) -> None:
        async with semaphore.hold(3):
            admitted.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(big)
        await settle()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await waiter("cancelled")
        async with anyio.create_task_group() as inner:
            inner.start_soon(waiter, "doomed")
            await settle()
            inner.cancel_scope.cancel()
        tg.start_soon(waiter, "survivor")
        await settle()
        release_big.set()
    assert admitted == ["survivor"]
    assert semaphore.available == 10


@pytest.mark.anyio
async def test_bytes_semaphore_waiter_cancelled_after_grant_gives_the_bytes_back() -> None:
    semaphore = BytesSemaphore(10)
    release_big = anyio.Event()
    admitted: list[str] = []

    async def big() -> None:
        async with semaphore.hold(12):
            await release_big.wait()

    async def waiter(name: str, n: int) -> None:
        async with semaphore.hold(n):
            admitted.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(big)
        await settle()
        async with anyio.create_task_group() as inner:
            inner.start_soon(waiter, "granted-then-cancelled", 20)
            await settle()
            tg.start_soon(waiter, "next", 5)
            await settle()
            # Grant and cancel in the same step: the waiter never runs its body.
            release_big.set()
            inner.cancel_scope.cancel()
    assert admitted == ["next"]
    assert semaphore.available == 10


# --- CircuitBreaker ------------------------------------------------------------------------


def state_of(breaker: CircuitBreaker) -> CircuitState:
    """Read the state through a call, so mypy does not narrow it across transitions."""
    return breaker.state


def make_breaker(clock: FakeClock, **kwargs: int | float) -> CircuitBreaker:
    return CircuitBreaker("pool-a", clock=clock, **kwargs)  # type: ignore[arg-type]


def test_circuit_breaker_starts_closed_and_admits(clock: FakeClock) -> None:
    breaker = make_breaker(clock)
    assert breaker.name == "pool-a"
    assert state_of(breaker) == "closed"
    assert breaker.allow()


def test_circuit_breaker_opens_after_consecutive_failures(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    assert state_of(breaker) == "closed"
    breaker.record_failure()
    assert state_of(breaker) == "open"
    assert not breaker.allow()


def test_circuit_breaker_success_resets_the_failure_count(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert state_of(breaker) == "closed"


def test_circuit_breaker_goes_half_open_after_the_reset_timeout(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=1, reset_timeout_s=30.0)
    breaker.record_failure()
    clock.advance(29.0)
    assert state_of(breaker) == "open"
    assert breaker.remaining_open_s() == 1.0
    clock.advance(1.0)
    assert state_of(breaker) == "half_open"
    assert breaker.remaining_open_s() == 0.0


def test_circuit_breaker_half_open_admits_a_bounded_number_of_trials(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=1, reset_timeout_s=1.0, half_open_max_calls=2)
    breaker.record_failure()
    clock.advance(1.0)
    assert breaker.allow()
    assert breaker.allow()
    assert not breaker.allow()


def test_circuit_breaker_half_open_success_closes(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=1, reset_timeout_s=1.0)
    breaker.record_failure()
    clock.advance(1.0)
    assert breaker.allow()
    breaker.record_success()
    assert state_of(breaker) == "closed"
    assert breaker.allow()


def test_circuit_breaker_half_open_failure_reopens_for_a_full_timeout(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=1, reset_timeout_s=5.0)
    breaker.record_failure()
    clock.advance(5.0)
    assert breaker.allow()
    breaker.record_failure()
    assert state_of(breaker) == "open"
    clock.advance(4.0)
    assert not breaker.allow()
    clock.advance(1.0)
    assert breaker.allow()


def test_circuit_breaker_ignores_late_outcomes_while_open(clock: FakeClock) -> None:
    breaker = make_breaker(clock, failure_threshold=1, reset_timeout_s=5.0)
    breaker.record_failure()
    clock.advance(3.0)
    breaker.record_success()
    breaker.record_failure()
    assert state_of(breaker) == "open"
    clock.advance(2.0)
    assert state_of(breaker) == "half_open"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"half_open_max_calls": 0}, "half_open_max_calls"),
        ({"reset_timeout_s": -1.0}, "reset_timeout_s"),
        ({"reset_timeout_s": math.inf}, "reset_timeout_s"),
    ],
)
def test_circuit_breaker_rejects_bad_settings(
    clock: FakeClock, kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        make_breaker(clock, **kwargs)
