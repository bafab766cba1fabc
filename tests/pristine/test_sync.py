"""The sync bridge: blocking calls on a private loop thread, even inside a running loop."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import anyio
import pytest
from pytest_httpserver import HTTPServer

from pristine.context import Context
from pristine.errors import NotFoundError
from pristine.manifest import load_manifest
from pristine.pipeline import Pipeline
from pristine.sync import LoopThread, SyncPipeline
from pristine.testing import FakeClock, endpoint_dict, manifest_dict


async def answer(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2


async def current_thread_name() -> str:
    return threading.current_thread().name


def test_run_returns_the_coroutine_result_from_the_private_thread() -> None:
    with LoopThread(name="bridge-test") as loop:
        assert loop.run(answer(21), timeout=5) == 42
        assert loop.run(current_thread_name(), timeout=5) == "bridge-test"


def test_run_works_inside_a_running_event_loop_without_deadlock() -> None:
    with LoopThread() as loop:

        async def main() -> int:
            return loop.run(answer(5), timeout=5)  # a blocking call from async code

        assert asyncio.run(main()) == 10


def test_run_times_out_and_the_loop_stays_usable() -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    with LoopThread() as loop:
        with pytest.raises(TimeoutError, match=r"within 0s; pass a larger timeout"):
            loop.run(forever(), timeout=0)
        assert loop.run(answer(1), timeout=5) == 2


def test_run_from_the_loop_itself_is_refused() -> None:
    with LoopThread() as loop:

        async def reenter() -> None:
            loop.run(answer(1), timeout=1)

        with pytest.raises(RuntimeError, match="would deadlock"):
            loop.run(reenter(), timeout=5)


def test_close_cancels_pending_work_and_stops_the_thread() -> None:
    loop = LoopThread()
    started = threading.Event()

    async def pending() -> None:
        started.set()
        await asyncio.Event().wait()

    future = loop.submit(pending())
    assert started.wait(5)
    loop.close()
    loop.close()  # idempotent
    assert future.cancelled()
    with pytest.raises(RuntimeError, match="closed"):
        loop.submit(answer(1))


def build(httpserver: HTTPServer) -> Pipeline:
    manifest = load_manifest(
        manifest_dict(
            endpoint_dict("get", "/pets/{id}"),
            endpoint_dict("events", "/events", streaming=True),
            endpoint_dict("raw", "/raw"),
            endpoint_dict("adopt", "/adopt", method="POST", future={"poll_endpoint": "status"}),
            endpoint_dict("status", "/status", method="POST"),
            retry_policies={"default": {"max_attempts": 1}},
        )
    )
    context = Context(base_url=httpserver.url_for("/"), clock=FakeClock(), rng=random.Random(1))
    return Pipeline(manifest, context)


def test_sync_pipeline_mirrors_the_async_methods(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/pets/1").respond_with_json({"id": 1})
    httpserver.expect_request("/pets/2").respond_with_json({}, status=404)
    httpserver.expect_request("/raw").respond_with_data("plain", status=202)
    httpserver.expect_request("/events").respond_with_data(
        "data: a\n\ndata: b\n\ndata: c\n\n", content_type="text/event-stream"
    )
    httpserver.expect_request("/adopt").respond_with_json({"request_id": "r1"})
    httpserver.expect_request("/status").respond_with_json({"adopted": True})
    with SyncPipeline(build(httpserver), timeout=30) as api:
        assert api.call("get", path_params={"id": 1}) == {"id": 1}
        with pytest.raises(NotFoundError):
            api.call("get", path_params={"id": 2})
        assert api.send_once("raw").status == 202
        assert [event.data for event in api.stream("events")] == ["a", "b", "c"]
        events = api.stream("events")
        assert next(events).data == "a"
        events.close()  # leaving early closes the stream
        assert api.call_future("adopt", {}) == {"adopted": True}


@pytest.mark.anyio
async def test_sync_pipeline_can_be_used_from_async_code(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/pets/3").respond_with_json({"id": 3})
    with LoopThread() as loop:
        api = SyncPipeline(build(httpserver), loop=loop, timeout=30)
        result: Any = await anyio.to_thread.run_sync(lambda: api.call("get", path_params={"id": 3}))
        assert result == {"id": 3}
        assert api.call("get", path_params={"id": 3}) == {"id": 3}  # blocking, still no deadlock
        api.close()
        assert loop.run(answer(2), timeout=5) == 4  # a shared loop stays open
