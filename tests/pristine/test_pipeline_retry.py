"""Retries through the pipeline against a loopback server; the fake clock records every wait."""

from __future__ import annotations

import email.utils
import socket
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from pristine.errors import (
    APIConnectionError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)
from pristine.manifest import RetryPolicy
from pristine.telemetry import ListSink
from pristine.testing import FakeClock, endpoint_dict, manifest_dict

pytestmark = pytest.mark.anyio


def api(**policy: Any) -> dict[str, Any]:
    fields = {"max_attempts": 3, "base_delay_s": 1, "max_delay_s": 10, "jitter": 0, **policy}
    return manifest_dict(
        endpoint_dict("make", "/things", method="POST", idempotency_header="Idempotency-Key"),
        endpoint_dict("get", "/things/{id}"),
        retry_policies={"default": fields},
    )


def fail_then_succeed(server: HTTPServer, status: int, headers: dict[str, str]) -> None:
    server.expect_ordered_request("/things").respond_with_json(
        {"error": "busy"}, status=status, headers=headers
    )
    server.expect_ordered_request("/things").respond_with_json({"ok": True})


async def test_retries_5xx_with_exponential_backoff(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    for _ in range(2):
        httpserver.expect_ordered_request("/things").respond_with_data("down", status=503)
    httpserver.expect_ordered_request("/things").respond_with_json({"id": 1})
    async with make_pipeline(api()) as pipeline:
        assert await pipeline.call("make", {"name": "x"}) == {"id": 1}
    assert clock.sleeps == [1.0, 2.0]


def test_backoff_is_capped_and_jitter_only_shortens() -> None:
    import random

    from pristine.adapters.retry import backoff_delay

    policy = RetryPolicy(base_delay_s=1, max_delay_s=5, jitter=0.5)
    rng = random.Random(1)
    delays = [backoff_delay(policy, n, rng) for n in range(100)]
    assert all(0 < d <= 5 for d in delays)
    assert delays[80] >= 2.5


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "junk", "Retry-After": "4"}, 4.0),
        ({"Retry-After": "1000"}, 60.0),
        ({"Retry-After": "not a date"}, 1.0),
    ],
)
async def test_honours_retry_after_up_to_the_cap(
    httpserver: HTTPServer,
    make_pipeline: Any,
    clock: FakeClock,
    headers: dict[str, str],
    expected: float,
) -> None:
    fail_then_succeed(httpserver, 429, headers)
    async with make_pipeline(api()) as pipeline:
        assert await pipeline.call("make", {}) == {"ok": True}
    assert clock.sleeps == [expected]


async def test_honours_retry_after_as_an_http_date(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    date = email.utils.formatdate(clock.wall() + 5, usegmt=True)
    fail_then_succeed(httpserver, 503, {"Retry-After": date})
    async with make_pipeline(api()) as pipeline:
        await pipeline.call("make", {})
    assert clock.sleeps == [5.0]


async def test_past_http_date_means_retry_at_once(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    date = email.utils.formatdate(clock.wall() - 50, usegmt=True)
    fail_then_succeed(httpserver, 503, {"Retry-After": date})
    async with make_pipeline(api()) as pipeline:
        await pipeline.call("make", {})
    assert clock.sleeps == [0.0]


async def test_retry_after_is_ignored_when_the_policy_says_so(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    fail_then_succeed(httpserver, 429, {"Retry-After": "30"})
    async with make_pipeline(api(respect_retry_after=False)) as pipeline:
        await pipeline.call("make", {})
    assert clock.sleeps == [1.0]


async def test_x_should_retry_false_stops_a_retryable_status(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    httpserver.expect_ordered_request("/things").respond_with_data(
        "no", status=503, headers={"x-should-retry": "false"}
    )
    async with make_pipeline(api()) as pipeline:
        with pytest.raises(InternalServerError) as caught:
            await pipeline.call("make", {})
    assert clock.sleeps == []
    assert caught.value.status_code == 503
    assert len(httpserver.log) == 1


async def test_x_should_retry_true_retries_a_client_error(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    fail_then_succeed(httpserver, 400, {"x-should-retry": "true"})
    async with make_pipeline(api()) as pipeline:
        assert await pipeline.call("make", {}) == {"ok": True}
    assert clock.sleeps == [1.0]


async def test_client_errors_are_not_retried_and_name_the_endpoint(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    httpserver.expect_request("/things/7").respond_with_json(
        {"detail": "no such thing"}, status=404, headers={"x-request-id": "req-9"}
    )
    async with make_pipeline(api()) as pipeline:
        with pytest.raises(NotFoundError) as caught:
            await pipeline.call("get", path_params={"id": 7})
    error = caught.value
    assert error.request_id == "req-9"
    assert error.body == {"detail": "no such thing"}
    assert error.category == "user"
    assert error.message.startswith("HTTP 404 from get (GET http://")
    assert error.message.endswith("/things/7): no such thing")
    assert clock.sleeps == []


async def test_deadline_stops_retries_before_attempts_run_out(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    httpserver.expect_request("/things").respond_with_data("down", status=502)
    policy = api(max_attempts=10, base_delay_s=10, max_delay_s=100, deadline_s=15)
    async with make_pipeline(policy) as pipeline:
        with pytest.raises(InternalServerError, match="15s retry deadline would pass"):
            await pipeline.call("make", {})
    assert clock.sleeps == [10.0]
    assert len(httpserver.log) == 2


async def test_exhausted_retries_raise_the_last_error_with_a_helpful_message(
    httpserver: HTTPServer, make_pipeline: Any, sink: ListSink
) -> None:
    httpserver.expect_request("/things").respond_with_json(
        {"error": "slow down"}, status=429, headers={"Retry-After": "1"}
    )
    async with make_pipeline(api()) as pipeline:
        with pytest.raises(RateLimitError) as caught:
            await pipeline.call("make", {})
    message = caught.value.message
    assert message.startswith("endpoint 'make' (POST http://")
    assert "/things) failed after 3 attempt(s), last: HTTP 429" in message
    assert "gave up because all 3 attempts used" in message
    assert "slow down (rate limited)" in message
    assert caught.value.retry_after_ms == 1000
    assert sink.names() == ["request_start"] + ["request_retry"] * 2 + ["request_error"]


async def test_idempotency_key_is_stable_across_retries_and_fresh_per_call(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    fail_then_succeed(httpserver, 500, {})
    httpserver.expect_ordered_request("/things").respond_with_json({"ok": True})
    httpserver.expect_ordered_request("/things").respond_with_json({"ok": True})
    async with make_pipeline(api()) as pipeline:
        await pipeline.call("make", {})
        await pipeline.call("make", {})
        await pipeline.call("make", {}, idempotency_key="mine-1")
    keys = [request.headers["Idempotency-Key"] for request, _ in httpserver.log]
    assert keys[0] == keys[1]
    assert keys[0].startswith("pristine-")
    assert keys[2] != keys[0]
    assert keys[3] == "mine-1"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_connection_errors_are_retried_then_raised(
    make_pipeline: Any, clock: FakeClock
) -> None:
    async with make_pipeline(api(), base_url=closed_port_url()) as pipeline:
        with pytest.raises(APIConnectionError, match="failed after 3 attempt"):
            await pipeline.call("make", {})
    assert clock.sleeps == [1.0, 2.0]


async def test_connection_errors_can_be_excluded_from_retries(
    make_pipeline: Any, clock: FakeClock
) -> None:
    policy = api(retry_on_connection_errors=False)
    async with make_pipeline(policy, base_url=closed_port_url()) as pipeline:
        with pytest.raises(APIConnectionError) as caught:
            await pipeline.call("make", {})
    assert caught.value.request is not None
    assert caught.value.request.endpoint_id == "make"
    assert clock.sleeps == []


async def test_context_retry_policy_overrides_the_manifest(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    httpserver.expect_request("/things").respond_with_data("bad", status=400)
    override = {"default": RetryPolicy(max_attempts=1)}
    async with make_pipeline(api(), retry_policies=override) as pipeline:
        with pytest.raises(BadRequestError):
            await pipeline.call("make", {})
    assert clock.sleeps == []


async def test_telemetry_reports_start_retry_and_stop(
    httpserver: HTTPServer, make_pipeline: Any, sink: ListSink
) -> None:
    fail_then_succeed(httpserver, 503, {})
    async with make_pipeline(api()) as pipeline:
        await pipeline.call("make", {})
    start, retry, stop = sink.events
    assert (start.name, retry.name, stop.name) == ("request_start", "request_retry", "request_stop")
    assert retry.attributes["attempt"] == 1
    assert retry.attributes["delay_s"] == 1.0
    assert "HTTP 503" in retry.attributes["reason"]
    assert stop.attributes["status"] == 200
    assert stop.attributes["attempts"] == 2
    assert stop.endpoint_id == "make"
    assert stop.duration_s == 1.0
