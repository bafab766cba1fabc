"""Admission through the pipeline: circuit breaker, shared 429 window, concurrency, bytes."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest
from pytest_httpserver import HTTPServer

from pristine.context import Context
from pristine.errors import CircuitOpenError, InternalServerError, NotFoundError
from pristine.manifest import load_manifest
from pristine.pipeline import Pipeline
from pristine.ports.transport import RawRequest, RawResponse
from pristine.telemetry import ListSink
from pristine.testing import FakeClock, ScriptedTransport, endpoint_dict, manifest_dict

pytestmark = pytest.mark.anyio

NO_RETRY = {"default": {"max_attempts": 1}}


def breaker_api() -> dict[str, Any]:
    return manifest_dict(
        endpoint_dict("get", "/x"),
        endpoint_dict("missing", "/missing"),
        retry_policies=NO_RETRY,
        pools={"default": {"circuit_breaker": {"failure_threshold": 2, "reset_timeout_s": 30}}},
    )


async def test_breaker_opens_half_opens_and_closes_through_the_pipeline(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    for _ in range(2):
        httpserver.expect_ordered_request("/x").respond_with_data("down", status=500)
    async with make_pipeline(breaker_api()) as pipeline:
        for _ in range(2):
            with pytest.raises(InternalServerError):
                await pipeline.call("get")
        with pytest.raises(CircuitOpenError, match="'default' is open") as caught:
            await pipeline.call("get")
        assert caught.value.breaker == "default"
        assert len(httpserver.log) == 2  # the open circuit sent nothing
        clock.advance(30)
        httpserver.expect_request("/x").respond_with_json({"ok": 1})
        assert await pipeline.call("get") == {"ok": 1}  # the half-open trial call succeeds
        assert await pipeline.call("get") == {"ok": 1}  # closed again: calls flow
    assert len(httpserver.log) == 4


async def test_client_errors_do_not_trip_the_breaker(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request("/missing").respond_with_data("no", status=404)
    async with make_pipeline(breaker_api()) as pipeline:
        for _ in range(4):
            with pytest.raises(NotFoundError):
                await pipeline.call("missing")


async def test_failed_trial_call_opens_the_circuit_again(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    httpserver.expect_request("/x").respond_with_data("down", status=503)
    async with make_pipeline(breaker_api()) as pipeline:
        for _ in range(2):
            with pytest.raises(InternalServerError):
                await pipeline.call("get")
        clock.advance(30)
        with pytest.raises(InternalServerError):
            await pipeline.call("get")
        with pytest.raises(CircuitOpenError):
            await pipeline.call("get")
    assert len(httpserver.log) == 3


class HoldingClock(FakeClock):
    """A fake clock whose first sleep blocks until released, freezing one call mid-backoff."""

    def __init__(self) -> None:
        super().__init__()
        self.first_sleep = anyio.Event()
        self.release = anyio.Event()

    async def sleep(self, seconds: float) -> None:
        if not self.first_sleep.is_set():
            self.first_sleep.set()
            await self.release.wait()
        await super().sleep(seconds)


@pytest.mark.parametrize("shared", [True, False])
async def test_one_429_makes_concurrent_calls_on_the_pool_wait(
    httpserver: HTTPServer, make_pipeline: Any, shared: bool
) -> None:
    clock = HoldingClock()
    httpserver.expect_ordered_request("/x").respond_with_data(
        "slow", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_request("/x").respond_with_json({"ok": 1})
    manifest = manifest_dict(
        endpoint_dict("get", "/x"), pools={"default": {"share_rate_limit_window": shared}}
    )
    results: list[object] = []
    async with make_pipeline(manifest, clock=clock) as pipeline:

        async def run() -> None:
            results.append(await pipeline.call("get"))

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await clock.first_sleep.wait()  # call A got its 429 and is about to back off
            await run()  # call B starts now: it must wait out the pool's window first
            clock.release.set()
    assert results == [{"ok": 1}, {"ok": 1}]
    assert clock.sleeps == ([7.0, 7.0] if shared else [7.0])


async def gated_answers(
    limit_calls: int, manifest: dict[str, Any], payload: bytes | None = None
) -> int:
    """Run `limit_calls` calls whose answers wait on a gate; return the max seen in flight."""
    in_flight = 0
    peak = 0
    gate = anyio.Event()

    async def handler(request: RawRequest) -> RawResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await gate.wait()
        in_flight -= 1
        return RawResponse(200, {}, b"{}")

    transport = ScriptedTransport(handler)
    context = Context(
        base_url="http://api.test",
        clock=FakeClock(),
        transport_factory=transport.factory,
        rng=random.Random(0),
    )
    async with (
        Pipeline(load_manifest(manifest), context) as pipeline,
        anyio.create_task_group() as group,
    ):
        for _ in range(limit_calls):
            group.start_soon(pipeline.call, "put", payload)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert len(transport.requests) == limit_calls
    return peak


async def test_concurrency_limit_caps_calls_in_flight() -> None:
    manifest = manifest_dict(
        endpoint_dict("put", "/x", method="PUT"), pools={"default": {"concurrency": 2}}
    )
    assert await gated_answers(5, manifest) == 2


async def test_bytes_budget_caps_bytes_in_flight() -> None:
    manifest = manifest_dict(
        endpoint_dict("put", "/x", method="PUT", request_encoding="raw"),
        pools={"default": {"bytes_budget": 10}},
    )
    # 6 bytes each: the first two fit (budget goes negative once), the rest wait.
    assert await gated_answers(5, manifest, b"123456") == 2


async def test_without_limits_every_call_goes_out_at_once() -> None:
    manifest = manifest_dict(endpoint_dict("put", "/x", method="PUT"))
    assert await gated_answers(5, manifest) == 5


async def test_an_open_circuit_is_reported_as_a_request_error(
    httpserver: HTTPServer, make_pipeline: Any, sink: ListSink
) -> None:
    httpserver.expect_request("/x").respond_with_data("down", status=500)
    async with make_pipeline(breaker_api()) as pipeline:
        for _ in range(2):
            with pytest.raises(InternalServerError):
                await pipeline.call("get")
        sink.events.clear()
        with pytest.raises(CircuitOpenError):
            await pipeline.call("get")
    assert sink.names() == ["request_start", "request_error"]
    assert sink.events[1].attributes["type"] == "CircuitOpenError"


async def test_a_cancelled_trial_call_does_not_wedge_the_half_open_circuit() -> None:
    clock = FakeClock()
    hang = anyio.Event()

    async def handler(request: RawRequest) -> RawResponse:
        if request.url.endswith("/hang"):
            await hang.wait()
        return RawResponse(500, {}, b"down")

    transport = ScriptedTransport(handler)
    manifest = breaker_api()
    manifest["endpoints"].append(endpoint_dict("hang", "/hang"))
    context = Context(base_url="http://api.test", clock=clock, transport_factory=transport.factory)
    async with Pipeline(load_manifest(manifest), context) as pipeline:
        for _ in range(2):
            with pytest.raises(InternalServerError):
                await pipeline.call("get")
        clock.advance(30)
        with anyio.move_on_after(0) as scope:  # the trial call is cancelled mid-flight
            await pipeline.call("hang")
        assert scope.cancelled_caught
        with pytest.raises(CircuitOpenError):
            await pipeline.call("get")
        clock.advance(30)
        with pytest.raises(InternalServerError):  # a new trial call goes out
            await pipeline.call("get")
