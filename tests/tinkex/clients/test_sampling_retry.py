"""The sampling retry handler: transient failures retried with backoff, permanent ones raised,
stuck detection when nothing progresses, all on a fake clock."""

from __future__ import annotations

import random

import anyio
import pytest

from pristine.errors import (
    APIConnectionError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
)
from pristine.futures import FutureExpiredError, RequestFailedError
from pristine.testing import FakeClock
from tinkex.clients.dispatch import RetryConfig, RetryHandler, StuckError, is_retryable


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _handler(clock: FakeClock, **config: object) -> RetryHandler:
    return RetryHandler(RetryConfig(**config), clock=clock, rng=random.Random(0))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (TimeoutError(), True),
        (APIConnectionError("reset"), True),
        (FutureExpiredError("gone", status_code=410), True),
        (RateLimitError("slow", status_code=429), True),
        (InternalServerError("down", status_code=503), True),
        (BadRequestError("bad", status_code=400), False),
        (RequestFailedError("x", request_id="r", category="server"), False),
        (ValueError("x"), False),
    ],
)
def test_which_failures_are_retried(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


@pytest.mark.anyio
async def test_transient_failures_are_retried_with_capped_exponential_backoff() -> None:
    clock = FakeClock()
    handler = _handler(clock, jitter_factor=0.0, enable_stuck_detection=False)
    failures = [InternalServerError("down", status_code=503)] * 6

    async def attempt() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    assert await handler.execute(attempt) == "ok"
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert handler.retries == 6


@pytest.mark.anyio
async def test_permanent_failures_and_disabled_retries_raise_at_once() -> None:
    clock = FakeClock()

    async def bad() -> None:
        raise BadRequestError("bad", status_code=400)

    with pytest.raises(BadRequestError):
        await _handler(clock, enable_stuck_detection=False).execute(bad)

    async def flaky() -> None:
        raise APIConnectionError("reset")

    with pytest.raises(APIConnectionError):
        await _handler(clock, enable_retry_logic=False).execute(flaky)  # watched, no retry
    assert all(s == RetryConfig().progress_timeout for s in clock.sleeps)  # watchdog only


@pytest.mark.anyio
async def test_stuck_requests_fail_with_a_clear_error_after_the_progress_timeout() -> None:
    clock = FakeClock()
    handler = _handler(clock, progress_timeout=60.0)
    never = anyio.Event()

    async def hang() -> None:
        await never.wait()

    with pytest.raises(StuckError, match=r"no progress made in 60.0s.*progress_timeout"):
        await handler.execute(hang)
    assert sum(clock.sleeps) == pytest.approx(60.0)


@pytest.mark.anyio
async def test_progress_of_one_request_keeps_the_others_alive() -> None:
    clock = FakeClock()
    handler = _handler(clock, progress_timeout=100.0, max_connections=None)
    results: list[int] = []

    async def quick() -> int:
        return 1

    results.append(await handler.execute(quick))
    clock.advance(50)
    results.append(await handler.execute(quick))
    assert results == [1, 1]


def test_config_rejects_nonsense_naming_the_field() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        RetryConfig(max_connections=0)
    with pytest.raises(ValueError, match="progress_timeout"):
        RetryConfig(progress_timeout=float("inf"))
    with pytest.raises(ValueError, match="jitter_factor"):
        RetryConfig(jitter_factor=2)
