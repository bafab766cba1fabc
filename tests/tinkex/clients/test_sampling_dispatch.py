"""Sample dispatch throttles: limits queue callers, a 429 pauses everyone."""

from __future__ import annotations

import anyio
import pytest

from pristine.testing import FakeClock
from tinkex.clients.dispatch import DispatchLimits, SampleDispatcher


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_concurrency_limit_queues_instead_of_failing() -> None:
    dispatcher = SampleDispatcher(FakeClock(), DispatchLimits(max_concurrent=2))
    release = anyio.Event()
    inside = 0
    peak = 0
    done = 0

    async def submit() -> None:
        nonlocal inside, peak, done
        async with dispatcher.slot(10):
            inside += 1
            peak = max(peak, inside)
            await release.wait()
            inside -= 1
        done += 1

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(submit)
        await anyio.wait_all_tasks_blocked()
        assert inside == 2
        release.set()
    assert (peak, done) == (2, 5)


@pytest.mark.anyio
async def test_byte_budget_admits_one_large_prompt_at_a_time() -> None:
    dispatcher = SampleDispatcher(FakeClock(), DispatchLimits(bytes_budget=100))
    release = anyio.Event()
    inside = 0

    async def submit() -> None:
        nonlocal inside
        async with dispatcher.slot(150):
            inside += 1
            await release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit)
        tg.start_soon(submit)
        await anyio.wait_all_tasks_blocked()
        assert inside == 1
        release.set()
    assert inside == 2


@pytest.mark.anyio
async def test_backoff_pauses_every_sample_and_tightens_the_gates() -> None:
    clock = FakeClock()
    limits = DispatchLimits(max_concurrent=5, throttled_concurrent=1, bytes_budget=1000)
    dispatcher = SampleDispatcher(clock, limits)
    assert not dispatcher.backed_off_recently()
    assert dispatcher.back_off(10) == 1.0
    assert dispatcher.back_off(200 * 1024) == 5.0
    assert dispatcher.in_backoff() == 5.0
    await dispatcher.wait_for_window()
    assert dispatcher.in_backoff() == 0.0
    assert clock.sleeps == [5.0]
    assert dispatcher.backed_off_recently()

    release = anyio.Event()
    inside = 0

    async def submit() -> None:
        nonlocal inside
        async with dispatcher.slot(10):
            inside += 1
            await release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit)
        tg.start_soon(submit)
        await anyio.wait_all_tasks_blocked()
        assert inside == 1  # throttled: one at a time while recently backed off
        release.set()
    clock.advance(10)
    assert not dispatcher.backed_off_recently()


def test_limits_reject_nonsense_naming_the_field() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        DispatchLimits(max_concurrent=0)
    with pytest.raises(ValueError, match="short_backoff_s"):
        DispatchLimits(short_backoff_s=float("nan"))
