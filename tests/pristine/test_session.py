"""Session heartbeat: beats on a fake clock, stops on 410, warns once per silence."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
import pytest

from pristine.errors import APIConnectionError, APIStatusError, InternalServerError
from pristine.session import Heartbeat
from pristine.testing import FakeClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=0.0)


def gone() -> APIStatusError:
    return APIStatusError("session is gone", status_code=410)


class ScriptedBeat:
    """Plays outcomes (None = success); when they run out, signals `done` and hangs."""

    def __init__(self, clock: FakeClock, outcomes: Sequence[Exception | None]) -> None:
        self._clock = clock
        self._outcomes = list(outcomes)
        self.times: list[float] = []
        self.done = anyio.Event()

    async def __call__(self) -> None:
        if not self._outcomes:
            self.done.set()
            await anyio.Event().wait()
        self.times.append(self._clock.monotonic())
        outcome = self._outcomes.pop(0)
        if outcome is not None:
            raise outcome


@pytest.mark.anyio
async def test_beats_every_interval(clock: FakeClock) -> None:
    beat = ScriptedBeat(clock, [None, None, None])
    async with Heartbeat(beat, interval_s=10.0, clock=clock) as heartbeat:
        await beat.done.wait()
        running_inside = heartbeat.running
    assert running_inside
    assert beat.times == [10.0, 20.0, 30.0]
    assert not heartbeat.running
    assert heartbeat.stopped_reason is None


@pytest.mark.anyio
async def test_stops_for_good_when_the_session_is_gone(clock: FakeClock) -> None:
    beat = ScriptedBeat(clock, [None, gone(), None])
    heartbeat = Heartbeat(beat, interval_s=5.0, clock=clock)
    async with heartbeat:
        await heartbeat.wait_stopped()
        assert not heartbeat.running
    assert beat.times == [5.0, 10.0]
    assert heartbeat.stopped_reason is not None
    assert "410" in heartbeat.stopped_reason


@pytest.mark.anyio
async def test_other_errors_keep_it_beating(clock: FakeClock) -> None:
    outcomes: list[Exception | None] = [
        APIConnectionError("reset"),
        InternalServerError("boom", status_code=500),
        RuntimeError("bug in beat"),
        None,
    ]
    beat = ScriptedBeat(clock, outcomes)
    async with Heartbeat(beat, interval_s=1.0, clock=clock) as heartbeat:
        await beat.done.wait()
    assert len(beat.times) == 4
    assert heartbeat.last_error is None
    assert heartbeat.consecutive_failures == 0


@pytest.mark.anyio
async def test_warns_once_per_silence_episode(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    down = APIConnectionError("down")
    # Beats at t=10..80: fail 10,20,30,40 (warn at 30 only), succeed at 50, fail 60,70,80 (warn 80).
    beat = ScriptedBeat(clock, [down, down, down, down, None, down, down, down])
    warnings: list[str] = []
    with caplog.at_level(logging.WARNING, logger="pristine.session"):
        async with Heartbeat(
            beat, interval_s=10.0, warn_after_s=25.0, clock=clock, on_warning=warnings.append
        ) as heartbeat:
            await beat.done.wait()
            assert heartbeat.consecutive_failures == 3
            assert heartbeat.last_error is down
    assert len(warnings) == 2
    assert "30s" in warnings[0]
    assert "down" in warnings[0]
    assert "30s" in warnings[1]
    assert [r.getMessage() for r in caplog.records] == warnings


@pytest.mark.anyio
async def test_uses_the_given_logger(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    beat = ScriptedBeat(clock, [APIConnectionError("x")])
    logger = logging.getLogger("my.sdk.session")
    with caplog.at_level(logging.WARNING, logger="my.sdk.session"):
        async with Heartbeat(beat, interval_s=1.0, warn_after_s=0.0, clock=clock, logger=logger):
            await beat.done.wait()
    assert [r.name for r in caplog.records] == ["my.sdk.session"]


@pytest.mark.anyio
async def test_a_hung_beat_times_out_and_counts_as_a_failure(clock: FakeClock) -> None:
    calls = 0
    second = anyio.Event()

    async def beat() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await anyio.Event().wait()  # never answers; the per-beat timeout cuts it
        second.set()
        await anyio.Event().wait()

    # A timeout this small expires at the event loop's next timer check, without waiting.
    async with Heartbeat(beat, interval_s=1.0, timeout_s=1e-9, clock=clock) as heartbeat:
        await second.wait()
        assert isinstance(heartbeat.last_error, TimeoutError)
        assert heartbeat.consecutive_failures == 1


@pytest.mark.anyio
async def test_start_and_stop_without_a_with_block(clock: FakeClock) -> None:
    beat = ScriptedBeat(clock, [None])
    heartbeat = Heartbeat(beat, interval_s=1.0, clock=clock)
    await heartbeat.start()
    await beat.done.wait()
    await heartbeat.stop()
    await heartbeat.stop()  # idempotent
    assert not heartbeat.running
    assert beat.times == [1.0]


@pytest.mark.anyio
async def test_starting_twice_is_an_error(clock: FakeClock) -> None:
    beat = ScriptedBeat(clock, [])
    async with Heartbeat(beat, clock=clock) as heartbeat:
        with pytest.raises(RuntimeError, match="already running"):
            await heartbeat.start()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("interval_s", 0.0),
        ("interval_s", float("inf")),
        ("timeout_s", -1.0),
        ("warn_after_s", -1.0),
    ],
)
def test_rejects_bad_settings_naming_the_field(clock: FakeClock, field: str, value: float) -> None:
    async def beat() -> None:
        return None

    with pytest.raises(ValueError, match=field):
        Heartbeat(beat, clock=clock, **{field: value})  # type: ignore[arg-type]
