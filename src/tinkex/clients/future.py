"""`APIFuture`: the result of a client call, usable from sync and async code alike.

Client methods return at once with an `APIFuture` so that a caller can queue the next request
(say, `optim_step` after `forward_backward`) before waiting; the work itself runs on the
client's private event-loop thread. Wait with `.result(timeout)`, `await future` or
`await future.result_async()`; `.future()` hands out the plain `concurrent.futures.Future`.

The combiners `all` (alias `all_of`), `race` and `first_successful` wait on several futures at
once; each is also a staticmethod of `APIFuture`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import warnings
from collections.abc import Callable, Generator, Sequence
from typing import Any, Generic, TypeVar

__all__ = [
    "DEFAULT_RESULT_TIMEOUT_S",
    "LOOP_THREAD_NAME",
    "APIFuture",
    "BackcompatFuture",
    "all",
    "all_of",
    "completed",
    "failed",
    "first_successful",
    "race",
]

T = TypeVar("T")
U = TypeVar("U")

LOOP_THREAD_NAME = "tinkex-loop"
"""The name of the private event-loop threads the clients' coroutines run on."""

DEFAULT_RESULT_TIMEOUT_S = 3600.0
"""How long `result()` waits when no timeout is given: long enough for a queued training step
on a busy service, yet finite so that a lost request never hangs a program forever."""


class APIFuture(concurrent.futures.Future[T], Generic[T]):
    """A `concurrent.futures.Future` that can also be awaited from any event loop."""

    def result(self, timeout: float | None = None) -> T:
        """Block until the result is ready; `timeout` (seconds) defaults to one hour.

        Raises `TimeoutError` naming the wait, or the call's own error.
        """
        wait_s = DEFAULT_RESULT_TIMEOUT_S if timeout is None else timeout
        if not self.done() and _in_running_loop():
            _refuse_or_warn_blocking_wait()
        try:
            return super().result(wait_s)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(
                f"APIFuture.result() waited {wait_s} s without a result; pass a larger "
                "timeout=, or cancel() the future if it is no longer needed"
            ) from None

    async def result_async(self, timeout: float | None = None) -> T:  # noqa: ASYNC109 -- official API
        """Await the result without blocking the caller's event loop."""
        wait_s = DEFAULT_RESULT_TIMEOUT_S if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self)), wait_s)
        except TimeoutError:
            raise TimeoutError(
                f"APIFuture.result_async() waited {wait_s} s without a result; pass a larger "
                "timeout="
            ) from None

    def future(self) -> concurrent.futures.Future[T]:
        """This future as a plain `concurrent.futures.Future` (it already is one)."""
        return self

    async def coroutine(self) -> T:
        """The result as a coroutine (for `asyncio.gather` and friends)."""
        return await self.result_async()

    def __await__(self) -> Generator[Any, None, T]:
        return self.result_async().__await__()

    @staticmethod
    def all(
        futures: Sequence[concurrent.futures.Future[U]],
        combine: Callable[[list[U]], Any] | None = None,
    ) -> APIFuture[Any]:
        """Every future's result, in order (see the module-level `all`)."""
        return all_of(futures, combine)

    @staticmethod
    def race(futures: Sequence[concurrent.futures.Future[U]]) -> APIFuture[U]:
        """The outcome of whichever future finishes first (see the module-level `race`)."""
        return race(futures)

    @staticmethod
    def first_successful(futures: Sequence[concurrent.futures.Future[U]]) -> APIFuture[U]:
        """The first result to arrive (see the module-level `first_successful`)."""
        return first_successful(futures)

    def chain(self, source: concurrent.futures.Future[T]) -> APIFuture[T]:
        """Complete this future when `source` does (and cancel `source` when this is)."""
        _link(source, self)
        return self


class BackcompatFuture(APIFuture[T]):
    """A future of a client that also acts as that client (waiting for it on first use).

    The official SDK once returned clients directly; code written that way keeps working.
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.result(), name)


def completed(value: T) -> APIFuture[T]:
    """An already finished future holding `value`."""
    future: APIFuture[T] = APIFuture()
    future.set_result(value)
    return future


def failed(error: BaseException) -> APIFuture[Any]:
    """An already finished future holding `error`."""
    future: APIFuture[Any] = APIFuture()
    future.set_exception(error)
    return future


def _link(source: concurrent.futures.Future[Any], target: concurrent.futures.Future[Any]) -> None:
    """Copy `source`'s outcome to `target` (unless it is done), and `target`'s cancel back."""

    def copy(done: concurrent.futures.Future[Any]) -> None:
        if target.done():
            return
        if done.cancelled():
            target.cancel()
        elif (error := done.exception()) is not None:
            target.set_exception(error)
        else:
            target.set_result(done.result())

    def propagate_cancel(done: concurrent.futures.Future[Any]) -> None:
        if done.cancelled():
            source.cancel()

    source.add_done_callback(copy)
    target.add_done_callback(propagate_cancel)


def all_of(
    futures: Sequence[concurrent.futures.Future[T]],
    combine: Callable[[list[T]], U] | None = None,
) -> APIFuture[Any]:
    """Wait for every future; their results in order (or `combine` of them).

    Fails with the first error seen; an empty sequence completes at once.
    """
    target: APIFuture[Any] = APIFuture()
    results: list[Any] = [None] * len(futures)
    remaining = [len(futures)]
    finish = combine if combine is not None else (lambda values: values)
    if not futures:
        target.set_result(finish([]))
        return target

    def on_done(index: int, done: concurrent.futures.Future[T]) -> None:
        if target.done():
            return
        if done.cancelled():
            target.cancel()
            return
        if (error := done.exception()) is not None:
            target.set_exception(error)
            return
        results[index] = done.result()
        remaining[0] -= 1
        if remaining[0] == 0:
            try:
                target.set_result(finish(results))
            except BaseException as error:
                target.set_exception(error)

    for index, future in enumerate(futures):
        future.add_done_callback(functools.partial(on_done, index))
    return target


def race(futures: Sequence[concurrent.futures.Future[T]]) -> APIFuture[T]:
    """The outcome (result or error) of whichever future finishes first."""
    _require_some("race", futures)
    target: APIFuture[T] = APIFuture()
    for future in futures:
        _link(future, target)
    return target


def first_successful(futures: Sequence[concurrent.futures.Future[T]]) -> APIFuture[T]:
    """The first result to arrive; fails only when all fail (with the last error)."""
    _require_some("first_successful", futures)
    target: APIFuture[T] = APIFuture()
    remaining = [len(futures)]

    def on_done(done: concurrent.futures.Future[T]) -> None:
        remaining[0] -= 1
        if target.done():
            return
        if not done.cancelled() and done.exception() is None:
            target.set_result(done.result())
        elif remaining[0] == 0:
            error = None if done.cancelled() else done.exception()
            target.set_exception(error or concurrent.futures.CancelledError())

    for future in futures:
        future.add_done_callback(on_done)
    return target


all = all_of
"""`all_of` under the name the issue gives it (shadows the builtin only in this module)."""


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _refuse_or_warn_blocking_wait() -> None:
    """A blocking wait inside an event loop: on the clients' own loop it would wait on itself
    forever, so refuse; elsewhere it only stalls the caller's loop, so warn (as the official
    client does) and go on — the work runs on the private loop thread, so it cannot deadlock."""
    if threading.current_thread().name == LOOP_THREAD_NAME:
        raise RuntimeError(
            "APIFuture.result() was called on the Tinker client's own event loop, where it "
            "would wait on itself forever; `await` the future instead"
        )
    warnings.warn(
        "APIFuture.result() (or a blocking client method) was called from inside a running "
        "event loop, which blocks that loop until it returns; await the future or use the "
        "method's `_async` twin",
        RuntimeWarning,
        stacklevel=3,
    )


def _require_some(name: str, futures: Sequence[object]) -> None:
    if not futures:
        raise ValueError(f"{name}() needs at least one future; got an empty sequence")
