"""APIFuture (blocking, awaitable, cancellable, finite default wait) and its combiners."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from pristine.sync import LoopThread
from tinkex.clients import future as futures
from tinkex.clients.future import (
    LOOP_THREAD_NAME,
    APIFuture,
    BackcompatFuture,
    completed,
    failed,
)


def pending() -> APIFuture[int]:
    return APIFuture()


def test_result_returns_value_and_raises_error() -> None:
    assert completed(3).result() == 3
    with pytest.raises(KeyError):
        failed(KeyError("x")).result()
    assert completed(1).future().result() == 1


def test_result_timeout_names_the_fix() -> None:
    with pytest.raises(TimeoutError, match="larger timeout"):
        pending().result(timeout=0)


@pytest.mark.anyio
async def test_await_and_result_async() -> None:
    assert await completed(5) == 5
    assert await completed(6).result_async() == 6
    assert await completed(7).coroutine() == 7
    with pytest.raises(TimeoutError, match="larger timeout"):
        await pending().result_async(timeout=0)


@pytest.mark.anyio
async def test_await_a_future_completed_from_another_thread() -> None:
    target = pending()
    loop = asyncio.get_running_loop()
    loop.call_soon(lambda: concurrent.futures.ThreadPoolExecutor(1).submit(target.set_result, 9))
    assert await target == 9


def test_chain_copies_outcome_and_propagates_cancellation() -> None:
    source: concurrent.futures.Future[int] = concurrent.futures.Future()
    target = pending().chain(source)
    source.set_result(4)
    assert target.result() == 4
    source2: concurrent.futures.Future[int] = concurrent.futures.Future()
    target2 = pending().chain(source2)
    assert target2.cancel()
    assert source2.cancelled()
    source3: concurrent.futures.Future[int] = concurrent.futures.Future()
    target3 = pending().chain(source3)
    source3.cancel()
    assert target3.cancelled()


def test_backcompat_future_acts_as_its_value() -> None:
    future: BackcompatFuture[str] = BackcompatFuture()
    future.set_result("hello")
    assert future.upper() == "HELLO"
    with pytest.raises(AttributeError):
        future.__missing_dunder__  # noqa: B018


def test_all_in_order_with_combine_and_first_error() -> None:
    first, second = pending(), pending()
    combined = futures.all([first, second], combine=sum)
    second.set_result(2)
    assert not combined.done()
    first.set_result(1)
    assert combined.result() == 3
    assert futures.all([completed(1), completed(2)]).result() == [1, 2]
    assert futures.all([]).result() == []
    assert isinstance(futures.all([completed(1), failed(ValueError())]).exception(), ValueError)
    cancelled = pending()
    cancelled.cancel()
    assert futures.all([cancelled]).cancelled()
    assert isinstance(
        futures.all([completed(1)], combine=lambda _: 1 / 0).exception(), ZeroDivisionError
    )


def test_race_takes_the_first_outcome() -> None:
    slow, fast = pending(), pending()
    winner = futures.race([slow, fast])
    fast.set_exception(ValueError("fast"))
    slow.set_result(1)
    with pytest.raises(ValueError, match="fast"):
        winner.result()
    with pytest.raises(ValueError, match="at least one"):
        futures.race([])


def test_first_successful_skips_failures() -> None:
    bad, good = pending(), pending()
    winner = futures.first_successful([bad, good])
    bad.set_exception(ValueError("bad"))
    assert not winner.done()
    good.set_result(2)
    assert winner.result() == 2
    assert isinstance(
        futures.first_successful([failed(KeyError()), failed(ValueError())]).exception(),
        ValueError,
    )
    cancelled = pending()
    cancelled.cancel()
    assert isinstance(
        futures.first_successful([cancelled]).exception(), concurrent.futures.CancelledError
    )
    with pytest.raises(ValueError, match="at least one"):
        futures.first_successful([])


def test_combiners_are_also_staticmethods_of_api_future() -> None:
    assert APIFuture.all([completed(1), completed(2)]).result(1) == [1, 2]
    assert futures.all_of([completed(3)], combine=sum).result(1) == 3
    assert APIFuture.race([completed(4), APIFuture[int]()]).result(1) == 4
    assert APIFuture.first_successful([failed(ValueError()), completed(5)]).result(1) == 5


@pytest.mark.anyio
async def test_blocking_result_inside_a_running_loop_warns() -> None:
    future = pending()
    with pytest.warns(RuntimeWarning, match="running event loop"), pytest.raises(TimeoutError):
        future.result(0)
    assert completed(7).result() == 7  # a finished future returns quietly anywhere


def test_blocking_result_on_the_clients_own_loop_is_refused() -> None:
    future = pending()

    async def wait_on_itself() -> int:
        return future.result(1)

    with LoopThread(name=LOOP_THREAD_NAME) as loop, pytest.raises(RuntimeError, match="await"):
        loop.run(wait_on_itself())
    future.cancel()
