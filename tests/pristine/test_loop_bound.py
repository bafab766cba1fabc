"""`LoopBoundPipeline`: awaited from any loop, every request runs on the one loop thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pristine.context import Context
from pristine.manifest import load_manifest
from pristine.pipeline import Pipeline
from pristine.ports.transport import RawRequest, RawResponse
from pristine.sync import LoopBoundPipeline, LoopThread
from pristine.testing import FakeClock, ScriptedTransport, endpoint_dict, manifest_dict

SSE = b"data: one\n\ndata: two\n\ndata: three\n\n"


def bound_pipeline(loop: LoopThread) -> tuple[LoopBoundPipeline, list[str]]:
    threads: list[str] = []

    async def handler(request: RawRequest) -> RawResponse:
        threads.append(threading.current_thread().name)
        if request.url.endswith("/events"):
            return RawResponse(200, {"content-type": "text/event-stream"}, SSE)
        return RawResponse(200, {"content-type": "application/json"}, b'{"ok": 1}')

    manifest = load_manifest(
        manifest_dict(
            endpoint_dict("ping", "/ping"),
            endpoint_dict("events", "/events", streaming=True),
            retry_policies={"default": {"max_attempts": 1}},
        )
    )
    context = Context(
        base_url="http://api.test",
        transport_factory=ScriptedTransport(handler).factory,
        clock=FakeClock(),
    )
    return LoopBoundPipeline(Pipeline(manifest, context), loop), threads


def test_calls_from_a_foreign_loop_run_on_the_loop_thread() -> None:
    with LoopThread(name="home") as loop:
        bound, threads = bound_pipeline(loop)

        async def main() -> tuple[object, object, list[str]]:
            result = await bound.call("ping")
            raw = await bound.send_once("ping")
            events = [event.data async for event in bound.stream("events")]
            return result, raw.status, events

        result, status, events = asyncio.run(main())
        assert (result, status, events) == ({"ok": 1}, 200, ["one", "two", "three"])
        assert loop.run(bound.call("ping"), timeout=5) == {"ok": 1}  # already home: no hop
        loop.run(bound.aclose(), timeout=5)
    assert set(threads) == {"home"}
    assert bound.base_url == "http://api.test"
    assert isinstance(bound.context.clock, FakeClock)


def test_leaving_a_stream_early_closes_it_on_the_loop_thread() -> None:
    with LoopThread(name="home") as loop:
        bound, _ = bound_pipeline(loop)

        async def first_only() -> str:
            async for event in bound.stream("events"):
                return event.data
            raise AssertionError("no event")

        assert asyncio.run(first_only()) == "one"


def test_cancelling_the_caller_cancels_the_work_on_the_loop_thread() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def hang() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with LoopThread() as loop:

        async def main() -> None:
            task = asyncio.ensure_future(loop.run_async(hang()))
            assert await asyncio.to_thread(started.wait, 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert cancelled.wait(5)
