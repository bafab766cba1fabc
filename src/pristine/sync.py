"""Blocking use of the async pipeline, without a second code path.

`LoopThread` runs an event loop on a private daemon thread; `run(coro, timeout)` hands it a
coroutine and blocks until it is done. Because the coroutine never runs on the caller's
thread, a blocking call made from inside a running event loop (a notebook, an async web
handler) does not deadlock: it only blocks that loop, as any blocking call does.
`SyncPipeline` is `Pipeline` through a `LoopThread`, method for method.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncGenerator, Coroutine, Generator
from types import TracebackType
from typing import Any, TypeVar

from pristine.context import Context
from pristine.pipeline import Pipeline
from pristine.ports.transport import RawResponse
from pristine.streaming import SSEEvent

__all__ = ["LoopBoundPipeline", "LoopThread", "SyncPipeline"]

T = TypeVar("T")
# Upper bound on one blocking call, retries and future polling included (futures poll for up
# to an hour by default); pass a smaller `timeout` where a call is known to be quick.
DEFAULT_WAIT_S = 3900.0
_SHUTDOWN_WAIT_S = 10.0


class LoopThread:
    """A private event loop on a daemon thread. Close it (or use `with`) to stop the thread."""

    def __init__(self, name: str = "pristine-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop and return at once."""
        if self._closed:
            coro.close()
            raise RuntimeError("LoopThread is closed; create a new one")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def is_current(self) -> bool:
        """True when called from code running on this loop's thread."""
        return threading.current_thread() is self._thread

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on this loop from any loop; cancelling the caller cancels it there."""
        if self.is_current():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_WAIT_S) -> T:
        """Run `coro` on the loop and block for its result (cancelled after `timeout` s)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "LoopThread.run() called from its own loop would deadlock; await the coroutine"
            )
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(
                f"call did not finish within {timeout}s; pass a larger timeout"
            ) from None

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it and join the thread. Idempotent."""
        if self._closed:
            return
        future = asyncio.run_coroutine_threadsafe(_cancel_other_tasks(), self._loop)
        self._closed = True
        future.result(_SHUTDOWN_WAIT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_SHUTDOWN_WAIT_S)

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _cancel_other_tasks() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class SyncPipeline:
    """The blocking face of `Pipeline`: same methods and arguments, results instead of awaits.

    `timeout` bounds each blocking call as a whole; per-attempt HTTP timeouts are still the
    pipeline's `timeout=` argument.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        loop: LoopThread | None = None,
        timeout: float = DEFAULT_WAIT_S,
    ) -> None:
        self.pipeline = pipeline
        self._owns_loop = loop is None
        self._loop = loop or LoopThread()
        self._timeout = timeout

    def call(self, endpoint_id: str, payload: object = None, **options: Any) -> Any:
        return self._loop.run(self.pipeline.call(endpoint_id, payload, **options), self._timeout)

    def send_once(self, endpoint_id: str, payload: object = None, **options: Any) -> RawResponse:
        coro = self.pipeline.send_once(endpoint_id, payload, **options)
        return self._loop.run(coro, self._timeout)

    def call_future(self, endpoint_id: str, payload: object = None, **options: Any) -> Any:
        coro = self.pipeline.call_future(endpoint_id, payload, **options)
        return self._loop.run(coro, self._timeout)

    def stream(
        self, endpoint_id: str, payload: object = None, **options: Any
    ) -> Generator[SSEEvent, None, None]:
        """Events as they arrive; leaving the loop early closes the stream."""
        events = self.pipeline.stream(endpoint_id, payload, **options)
        try:
            while (event := self._loop.run(_next(events), self._timeout)) is not None:
                yield event
        finally:
            self._loop.run(events.aclose(), _SHUTDOWN_WAIT_S)

    def close(self) -> None:
        """Close the pipeline's connections, then the loop thread if this object made it."""
        self._loop.run(self.pipeline.aclose(), _SHUTDOWN_WAIT_S)
        if self._owns_loop:
            self._loop.close()

    def __enter__(self) -> SyncPipeline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _next(events: AsyncGenerator[SSEEvent, None]) -> SSEEvent | None:
    return await anext(events, None)


class LoopBoundPipeline:
    """`Pipeline` whose work always runs on one `LoopThread`, awaited from any event loop.

    Why: connection pools (aiohttp sessions, pyqwest callbacks) belong to the loop that
    opened them. A client that owns a loop thread and also offers `async` methods would
    otherwise open a second set of connections on each caller's loop and leave them
    unclosed when that loop ends.
    """

    def __init__(self, pipeline: Pipeline, loop: LoopThread) -> None:
        self.pipeline = pipeline
        self.loop = loop

    @property
    def context(self) -> Context:
        return self.pipeline.context

    @property
    def base_url(self) -> str:
        return self.pipeline.base_url

    async def call(self, endpoint_id: str, payload: object = None, **options: Any) -> Any:
        return await self.loop.run_async(self.pipeline.call(endpoint_id, payload, **options))

    async def send_once(
        self, endpoint_id: str, payload: object = None, **options: Any
    ) -> RawResponse:
        coro = self.pipeline.send_once(endpoint_id, payload, **options)
        return await self.loop.run_async(coro)

    async def call_future(self, endpoint_id: str, payload: object = None, **options: Any) -> Any:
        coro = self.pipeline.call_future(endpoint_id, payload, **options)
        return await self.loop.run_async(coro)

    async def stream(
        self, endpoint_id: str, payload: object = None, **options: Any
    ) -> AsyncGenerator[SSEEvent, None]:
        """Events as they arrive; leaving early closes the stream on the loop thread."""
        events = self.pipeline.stream(endpoint_id, payload, **options)
        try:
            while (event := await self.loop.run_async(_next(events))) is not None:
                yield event
        finally:
            await self.loop.run_async(events.aclose())

    async def aclose(self) -> None:
        await self.loop.run_async(self.pipeline.aclose())
