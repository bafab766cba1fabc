"""Future polling: scripted retrieve answers on a fake clock."""

from __future__ import annotations

import pickle
import random
from collections.abc import Sequence

import anyio
import orjson
import pytest

from pristine.adapters.admission import BytesSemaphore
from pristine.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    BadRequestError,
    NotFoundError,
)
from pristine.futures import (
    FutureExpiredError,
    FuturePolicy,
    FutureTimeoutError,
    PollResult,
    QueueState,
    RequestFailedError,
    poll_future,
)
from pristine.ports.transport import RawResponse
from pristine.telemetry import ListSink
from pristine.testing import FakeClock

Step = RawResponse | Exception

JSON = {"content-type": "application/json"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def answer(body: object, status: int = 200, headers: dict[str, str] | None = None) -> RawResponse:
    return RawResponse(status=status, headers=headers or JSON, content=orjson.dumps(body))


def try_again(state: str = "active", reason: str | None = None) -> RawResponse:
    return answer({"type": "try_again", "queue_state": state, "queue_state_reason": reason})


class Script:
    """A poll_once that replays fixed steps and records the attempt numbers it was given."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self._steps = list(steps)
        self.attempts: list[int] = []

    async def __call__(self, attempt: int) -> RawResponse:
        self.attempts.append(attempt)
        step = self._steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


async def run(
    steps: Sequence[Step],
    clock: FakeClock,
    policy: FuturePolicy | None = None,
    **kwargs: object,
) -> PollResult:
    return await poll_future(
        Script(steps),
        request_id="req-1",
        policy=policy or FuturePolicy(jitter=0.0),
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


# --- completion ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_returns_the_first_completed_answer(clock: FakeClock) -> None:
    result = await run([answer({"loss": 0.5})], clock)
    assert result.json == {"loss": 0.5}
    assert result.content == b'{"loss":0.5}'
    assert result.headers == JSON
    assert not result.metadata_only


@pytest.mark.anyio
async def test_a_non_json_answer_completes_with_raw_bytes(clock: FakeClock) -> None:
    proto = RawResponse(200, {"content-type": "application/x-protobuf"}, b"\x08\x01")
    result = await run([proto], clock)
    assert result.json is None
    assert result.content == b"\x08\x01"


@pytest.mark.anyio
async def test_a_json_answer_that_is_not_an_object_completes(clock: FakeClock) -> None:
    assert (await run([answer([1, 2])], clock)).json == [1, 2]


@pytest.mark.anyio
async def test_an_answer_without_content_type_is_read_as_json(clock: FakeClock) -> None:
    result = await run([RawResponse(200, {}, b'{"ok": true}')], clock)
    assert result.json == {"ok": True}


@pytest.mark.anyio
async def test_a_json_answer_that_does_not_parse_is_a_validation_error(clock: FakeClock) -> None:
    with pytest.raises(APIResponseValidationError):
        await run([RawResponse(200, JSON, b"{nope")], clock)


# --- try_again and queue state -------------------------------------------------------------


@pytest.mark.anyio
async def test_try_again_repolls_at_once_and_reports_queue_state_changes(
    clock: FakeClock,
) -> None:
    seen: list[QueueState] = []
    script = Script(
        [
            try_again("paused_capacity", "busy"),
            try_again("paused_capacity", "busy"),
            try_again("paused_rate_limit"),
            try_again("weird", "??"),
            answer({"done": True}),
        ]
    )
    result = await poll_future(
        script,
        request_id="req-1",
        policy=FuturePolicy(),
        clock=clock,
        on_queue_state=seen.append,
    )
    assert result.json == {"done": True}
    assert script.attempts == [0, 1, 2, 3, 4]
    assert clock.sleeps == []
    assert seen == [
        QueueState("paused_capacity", "busy"),
        QueueState("paused_rate_limit", None),
        QueueState("unknown", "??"),
        QueueState("active", None),
    ]


@pytest.mark.anyio
async def test_active_is_not_reported_when_the_queue_never_paused(clock: FakeClock) -> None:
    seen: list[QueueState] = []
    await run([try_again("active"), answer({})], clock, on_queue_state=seen.append)
    assert seen == [QueueState("active", None)]


@pytest.mark.anyio
async def test_try_again_without_a_queue_state_is_not_reported(clock: FakeClock) -> None:
    seen: list[QueueState] = []
    await run([answer({"type": "try_again"}), answer({})], clock, on_queue_state=seen.append)
    assert seen == []


@pytest.mark.anyio
async def test_408_repolls_at_once_and_reports_its_queue_state(clock: FakeClock) -> None:
    seen: list[QueueState] = []
    steps = [
        answer({"queue_state": "paused_capacity"}, status=408),
        RawResponse(408, {}, b"not json"),
        answer({"ok": 1}),
    ]
    result = await run(steps, clock, on_queue_state=seen.append)
    assert result.json == {"ok": 1}
    assert clock.sleeps == []
    assert seen == [QueueState("paused_capacity", None), QueueState("active", None)]


@pytest.mark.anyio
async def test_a_failing_queue_state_callback_does_not_stop_polling(clock: FakeClock) -> None:
    def broken(_: QueueState) -> None:
        raise RuntimeError("observer bug")

    result = await run([try_again("paused_capacity"), answer({})], clock, on_queue_state=broken)
    assert result.json == {}


# --- server errors, rate limits, connection errors -----------------------------------------


@pytest.mark.anyio
async def test_5xx_repolls_at_once(clock: FakeClock) -> None:
    steps = [answer({}, status=500), answer({}, status=503), answer({"ok": 1})]
    assert (await run(steps, clock)).json == {"ok": 1}
    assert clock.sleeps == []


@pytest.mark.anyio
async def test_repoll_delay_paces_try_again_408_and_5xx(clock: FakeClock) -> None:
    steps = [try_again(), answer({}, status=408), answer({}, status=502), answer({})]
    await run(steps, clock, FuturePolicy(repoll_delay_s=0.5, jitter=0.0))
    assert clock.sleeps == [0.5, 0.5, 0.5]


@pytest.mark.anyio
async def test_429_and_connection_errors_back_off_exponentially(clock: FakeClock) -> None:
    steps: list[Step] = [
        answer({}, status=429),
        APIConnectionError("refused"),
        APITimeoutError("slow"),
        answer({}, status=429),
        answer({}, status=429),
        answer({}, status=429),
        answer({"ok": 1}),
    ]
    policy = FuturePolicy(backoff_base_s=1.0, backoff_max_s=10.0, jitter=0.0)
    await run(steps, clock, policy)
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.anyio
async def test_any_http_answer_resets_the_backoff(clock: FakeClock) -> None:
    steps: list[Step] = [
        APIConnectionError("refused"),
        APIConnectionError("refused"),
        answer({}, status=500),
        APIConnectionError("refused"),
        answer({}),
    ]
    await run(steps, clock, FuturePolicy(backoff_base_s=1.0, jitter=0.0))
    assert clock.sleeps == [1.0, 2.0, 1.0]


@pytest.mark.anyio
async def test_backoff_jitter_shortens_the_delay_by_at_most_the_jitter_fraction(
    clock: FakeClock,
) -> None:
    errors: list[Step] = [APIConnectionError("x")] * 20
    steps = [*errors, answer({})]
    policy = FuturePolicy(backoff_base_s=1.0, backoff_max_s=1.0, jitter=0.5)
    await run(steps, clock, policy, rng=random.Random(7))
    assert all(0.5 <= s <= 1.0 for s in clock.sleeps)
    assert len(set(clock.sleeps)) > 1


# --- client errors and expiry --------------------------------------------------------------


@pytest.mark.anyio
async def test_a_bare_400_is_retried_up_to_the_bound_then_raised(clock: FakeClock) -> None:
    steps = [answer({}, status=400)] * 4
    with pytest.raises(BadRequestError, match="req-1") as info:
        await run(steps, clock, FuturePolicy(max_client_error_retries=3))
    assert info.value.status_code == 400


@pytest.mark.anyio
async def test_a_408_restores_the_client_error_budget(clock: FakeClock) -> None:
    bad = answer({}, status=400)
    steps = [bad, bad, answer({}, status=408), bad, bad, answer({"ok": 1})]
    result = await run(steps, clock, FuturePolicy(max_client_error_retries=2))
    assert result.json == {"ok": 1}


@pytest.mark.anyio
async def test_other_4xx_raise_at_once(clock: FakeClock) -> None:
    steps = [RawResponse(404, {"x-request-id": "srv-9"}, b'{"detail": "no such future"}')]
    with pytest.raises(NotFoundError) as info:
        await run(steps, clock)
    assert info.value.request_id == "srv-9"
    assert info.value.body == {"detail": "no such future"}


@pytest.mark.anyio
async def test_a_4xx_with_a_non_json_body_keeps_the_text(clock: FakeClock) -> None:
    with pytest.raises(NotFoundError) as info:
        await run([RawResponse(404, {}, b"gone fishing")], clock)
    assert info.value.body == "gone fishing"


@pytest.mark.anyio
async def test_410_raises_future_expired_so_the_caller_can_resubmit(clock: FakeClock) -> None:
    sink = ListSink()
    with pytest.raises(FutureExpiredError, match=r"req-1.*submit") as info:
        await run([answer({}, status=410)], clock, telemetry=sink)
    assert info.value.status_code == 410
    assert info.value.request_id == "req-1"
    assert sink.names()[-1] == "future_error"


# --- request failed ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("category", "expected", "retryable"),
    [("user", "user", False), ("server", "server", True), ("bogus", "unknown", True)],
)
async def test_a_failed_request_raises_with_its_category(
    clock: FakeClock, category: str, expected: str, retryable: bool
) -> None:
    seen: list[QueueState] = []
    steps = [try_again("paused_capacity"), answer({"error": "bad tokens", "category": category})]
    with pytest.raises(RequestFailedError, match="bad tokens") as info:
        await run(steps, clock, on_queue_state=seen.append)
    assert info.value.category == expected
    assert info.value.request_id == "req-1"
    assert info.value.retryable is retryable
    assert seen[-1] == QueueState("active", None)
    clone = pickle.loads(pickle.dumps(info.value))
    assert (clone.category, clone.request_id) == (expected, "req-1")


# --- deadline ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_past_the_deadline_raises_a_timeout_naming_the_request(clock: FakeClock) -> None:
    errors: list[Step] = [APIConnectionError("down")] * 10
    steps = [try_again("paused_capacity", "full"), *errors]
    policy = FuturePolicy(deadline_s=5.0, backoff_base_s=2.0, jitter=0.0)
    with pytest.raises(FutureTimeoutError) as info:
        await run(steps, clock, policy)
    error = info.value
    assert isinstance(error, APITimeoutError)
    assert error.request_id == "req-1"
    assert error.elapsed_s == pytest.approx(5.0)
    assert error.queue_state == QueueState("paused_capacity", "full")
    assert "req-1" in str(error)
    assert "paused_capacity" in str(error)
    assert isinstance(error.__cause__, APIConnectionError)
    # The last sleep is cut to the time left, so the deadline is not overshot.
    assert clock.sleeps == [2.0, 3.0]


@pytest.mark.anyio
async def test_a_deadline_without_queue_state_or_error_still_explains(clock: FakeClock) -> None:
    async def slow_poll(attempt: int) -> RawResponse:
        clock.advance(10.0)
        return answer({"type": "try_again"})

    with pytest.raises(FutureTimeoutError, match="no queue state") as info:
        await poll_future(
            slow_poll, request_id="r", policy=FuturePolicy(deadline_s=5.0), clock=clock
        )
    assert info.value.__cause__ is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deadline_s", 0.0),
        ("deadline_s", float("inf")),
        ("backoff_base_s", -1.0),
        ("backoff_max_s", -1.0),
        ("repoll_delay_s", -0.1),
        ("jitter", 1.5),
        ("max_client_error_retries", -1),
    ],
)
def test_policy_rejects_bad_values_naming_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        FuturePolicy(**{field: value})  # type: ignore[arg-type]


# --- metadata-only completions -------------------------------------------------------------


def metadata(size: int) -> RawResponse:
    return answer({"status": "complete_metadata", "response_payload_size": size})


@pytest.mark.anyio
async def test_metadata_only_completion_is_returned_as_such_without_a_payload_fetcher(
    clock: FakeClock,
) -> None:
    result = await run([metadata(123)], clock)
    assert result.metadata_only
    assert result.json == {"status": "complete_metadata", "response_payload_size": 123}


@pytest.mark.anyio
async def test_metadata_only_completion_holds_the_bytes_while_fetching_the_payload(
    clock: FakeClock,
) -> None:
    budget = BytesSemaphore(1000)
    held: list[int] = []
    script = Script([try_again(), metadata(300)])

    async def fetch_payload(attempt: int) -> RawResponse:
        held.append(budget.available)
        return answer({"big": attempt})

    result = await poll_future(
        script,
        request_id="req-1",
        policy=FuturePolicy(),
        clock=clock,
        fetch_payload=fetch_payload,
        payload_budget=budget,
    )
    assert result.json == {"big": 2}
    assert not result.metadata_only
    assert held == [700]
    assert budget.available == 1000


@pytest.mark.anyio
async def test_metadata_only_fetch_works_without_a_byte_budget(clock: FakeClock) -> None:
    async def fetch_payload(attempt: int) -> RawResponse:
        return answer({"payload": True})

    result = await run([metadata(0)], clock, fetch_payload=fetch_payload)
    assert result.json == {"payload": True}


@pytest.mark.anyio
async def test_a_second_metadata_only_answer_is_a_protocol_error(clock: FakeClock) -> None:
    async def fetch_payload(attempt: int) -> RawResponse:
        return metadata(5)

    with pytest.raises(APIResponseValidationError, match="metadata-only"):
        await run([metadata(5)], clock, fetch_payload=fetch_payload)


# --- telemetry and cancellation ------------------------------------------------------------


@pytest.mark.anyio
async def test_emits_start_attempt_queue_state_and_complete(clock: FakeClock) -> None:
    sink = ListSink()
    await run([try_again("paused_capacity"), answer({})], clock, telemetry=sink, endpoint_id="fwd")
    assert sink.names() == [
        "future_poll_start",
        "future_poll_attempt",
        "future_queue_state",
        "future_poll_attempt",
        "future_queue_state",
        "future_complete",
    ]
    assert {e.endpoint_id for e in sink.events} == {"fwd"}
    assert sink.events[1].attributes == {"request_id": "req-1", "attempt": 0}
    assert sink.events[2].attributes["queue_state"] == "paused_capacity"
    assert sink.events[-1].attributes["attempts"] == 2


@pytest.mark.anyio
async def test_emits_future_error_with_status_and_category(clock: FakeClock) -> None:
    sink = ListSink()
    with pytest.raises(RequestFailedError):
        await run([answer({"error": "x", "category": "user"})], clock, telemetry=sink)
    error = sink.events[-1]
    assert error.name == "future_error"
    assert error.attributes["error_type"] == "RequestFailedError"
    assert error.attributes["category"] == "user"


@pytest.mark.anyio
async def test_cancellation_stops_polling_at_once(clock: FakeClock) -> None:
    polls: list[int] = []
    started = anyio.Event()

    async def endless(attempt: int) -> RawResponse:
        polls.append(attempt)
        if attempt == 3:
            started.set()
        return try_again()

    async with anyio.create_task_group() as tg:

        async def poll() -> None:
            await poll_future(endless, request_id="r", policy=FuturePolicy(), clock=clock)

        tg.start_soon(poll)
        await started.wait()
        tg.cancel_scope.cancel()
    count = len(polls)
    assert 4 <= count <= 5
