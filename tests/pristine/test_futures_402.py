"""Pausing statuses while polling a future: a 402 (e.g. a billing hold) waits and re-polls
instead of failing, with a capped backoff, bounded by the future's deadline and by the
caller's `on_pause` verdict. Real loopback server, fake clock: nothing waits on the wall."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pristine.errors import APIStatusError, NotFoundError, PaymentRequiredError
from pristine.futures import FuturePolicy, FutureTimeoutError, PollResult, poll_future
from pristine.pipeline import Pipeline
from pristine.ports.transport import RawResponse
from pristine.telemetry import ListSink
from pristine.testing import FakeClock, endpoint_dict, manifest_dict

pytestmark = pytest.mark.anyio

PAUSE_402 = FuturePolicy(pause_statuses=frozenset({402}), jitter=0.0, pause_max_delay_s=5.0)
HOLD = {"detail": "billing limit reached: add credits"}


def api() -> dict[str, Any]:
    return manifest_dict(
        endpoint_dict(
            "train",
            "/train",
            method="POST",
            future={"poll_endpoint": "retrieve", "request_id_field": "request_id"},
        ),
        endpoint_dict("retrieve", "/retrieve", method="POST", retry="none"),
        retry_policies={"none": {"max_attempts": 1}},
    )


def held_then_done(server: HTTPServer, holds: int, *, submit: bool = True) -> None:
    """The submit answers a request id; its poll answers 402 `holds` times, then the result."""
    if submit:
        server.expect_ordered_request("/train").respond_with_json({"request_id": "r-1"})
    for _ in range(holds):
        server.expect_ordered_request("/retrieve").respond_with_json(HOLD, status=402)
    server.expect_ordered_request("/retrieve").respond_with_json({"loss": 0.25})


def always_held(server: HTTPServer) -> None:
    server.expect_request("/retrieve").respond_with_json(HOLD, status=402)


async def poll(
    pipeline: Pipeline,
    clock: FakeClock,
    policy: FuturePolicy = PAUSE_402,
    **kwargs: Any,
) -> PollResult:
    async def poll_once(attempt: int) -> RawResponse:
        return await pipeline.send_once("retrieve", {"request_id": "r-1"})

    return await poll_future(poll_once, request_id="r-1", policy=policy, clock=clock, **kwargs)


async def test_a_402_pauses_polling_and_the_caller_gets_the_result(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock, sink: ListSink
) -> None:
    held_then_done(httpserver, holds=2)
    async with make_pipeline(api()) as pipeline:
        assert await pipeline.call_future("train", {}, policy=PAUSE_402) == {"loss": 0.25}
    assert clock.sleeps == [1.0, 2.0]  # backoff from backoff_base_s, no re-poll storm
    paused = [e for e in sink.events if e.name == "future_paused"]
    assert [e.attributes["status"] for e in paused] == [402]  # once per pause, not per poll


async def test_the_pause_backoff_is_capped(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    held_then_done(httpserver, holds=6)
    async with make_pipeline(api()) as pipeline:
        assert await pipeline.call_future("train", {}, policy=PAUSE_402) == {"loss": 0.25}
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


async def test_jitter_only_shortens_the_pause(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    held_then_done(httpserver, holds=3)
    policy = FuturePolicy(pause_statuses=frozenset({402}), jitter=0.5)
    async with make_pipeline(api()) as pipeline:
        await pipeline.call_future("train", {}, policy=policy)
    assert all(
        0.5 * full <= slept <= full for slept, full in zip(clock.sleeps, [1, 2, 4], strict=True)
    )


async def test_a_402_forever_ends_at_the_deadline_naming_the_402(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    always_held(httpserver)
    policy = FuturePolicy(
        pause_statuses=frozenset({402}), jitter=0.0, deadline_s=30.0, pause_max_delay_s=5.0
    )
    async with make_pipeline(api()) as pipeline:
        with pytest.raises(FutureTimeoutError) as info:
            await poll(pipeline, clock, policy)
    message = str(info.value)
    assert "paused by HTTP 402" in message
    assert "billing limit reached: add credits" in message
    assert isinstance(info.value.__cause__, PaymentRequiredError)
    assert sum(clock.sleeps) == pytest.approx(30.0)  # the last wait is cut to the deadline
    assert clock.sleeps[-1] <= 5.0


async def test_without_pause_statuses_a_402_fails_at_once_with_the_servers_detail(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    always_held(httpserver)
    async with make_pipeline(api()) as pipeline:
        with pytest.raises(PaymentRequiredError, match="billing limit reached"):
            await poll(pipeline, clock, FuturePolicy())
    assert clock.sleeps == []


async def test_on_pause_sees_each_held_answer_and_may_keep_pausing(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    held_then_done(httpserver, holds=2, submit=False)
    seen: list[APIStatusError] = []

    def keep_pausing(error: APIStatusError) -> bool:
        seen.append(error)
        return True

    async with make_pipeline(api()) as pipeline:
        result = await poll(pipeline, clock, on_pause=keep_pausing)
    assert result.json == {"loss": 0.25}
    assert [type(e) for e in seen] == [PaymentRequiredError, PaymentRequiredError]
    assert seen[0].body == HOLD


async def test_on_pause_returning_false_fails_with_the_status_error(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    always_held(httpserver)
    verdicts = iter([True, False])
    async with make_pipeline(api()) as pipeline:
        with pytest.raises(PaymentRequiredError, match="ended the pause") as info:
            await poll(pipeline, clock, on_pause=lambda error: next(verdicts))
    assert info.value.status_code == 402
    assert info.value.body == HOLD
    assert clock.sleeps == [1.0]


async def test_on_pause_may_raise_its_own_error(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    always_held(httpserver)

    def give_up(error: APIStatusError) -> bool:
        raise error.with_message("fix billing, then retrieve the future again")

    async with make_pipeline(api()) as pipeline:
        with pytest.raises(PaymentRequiredError, match="fix billing"):
            await poll(pipeline, clock, on_pause=give_up)


async def test_a_new_pause_after_progress_starts_the_backoff_again(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    def queued(request: Request) -> Response:
        body = {"type": "try_again", "queue_state": "active"}
        return Response(orjson.dumps(body), content_type="application/json")

    for _ in range(2):
        httpserver.expect_ordered_request("/retrieve").respond_with_json(HOLD, status=402)
    httpserver.expect_ordered_request("/retrieve").respond_with_handler(queued)
    httpserver.expect_ordered_request("/retrieve").respond_with_json(HOLD, status=402)
    httpserver.expect_ordered_request("/retrieve").respond_with_json({"loss": 0.25})
    async with make_pipeline(api()) as pipeline:
        assert (await poll(pipeline, clock)).json == {"loss": 0.25}
    assert clock.sleeps == [1.0, 2.0, 1.0]


async def test_other_client_errors_still_fail_while_pausing_is_on(
    httpserver: HTTPServer, make_pipeline: Any, clock: FakeClock
) -> None:
    httpserver.expect_request("/retrieve").respond_with_json({"detail": "no such"}, status=404)
    async with make_pipeline(api()) as pipeline:
        with pytest.raises(NotFoundError, match="no such"):
            await poll(pipeline, clock)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pause_max_delay_s", -1.0),
        ("pause_max_delay_s", float("nan")),
        ("pause_statuses", frozenset({200})),
        ("pause_statuses", frozenset({600})),
    ],
)
def test_policy_rejects_bad_pause_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        FuturePolicy(**{field: value})  # type: ignore[arg-type]
