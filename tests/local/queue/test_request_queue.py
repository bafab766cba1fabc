from __future__ import annotations

import threading
from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pristine.testing import FakeClock
from tinkex.local.futures import (
    MAX_WAIT_SECONDS,
    Completion,
    ErrorCategory,
    Failure,
    FutureRegistry,
    Outcome,
    RequestFailed,
    Result,
)
from tinkex.local.queue import QueueFull, QueueState, RequestQueue, SequenceError
from tinkex.local.store import UserInputError

pytestmark = pytest.mark.anyio


class ManualClock:
    """A clock that only moves when the test says so: `sleep` waits until `advance` passes
    its deadline, so timers can be observed both before and after they fire."""

    def __init__(self) -> None:
        self._now = 0.0
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return 1_700_000_000.0 + self._now

    async def sleep(self, seconds: float) -> None:
        event = anyio.Event()
        self._sleepers.append((self._now + seconds, event))
        await event.wait()

    @property
    def sleepers(self) -> int:
        return len(self._sleepers)

    def advance(self, seconds: float) -> None:
        self._now += seconds
        due = [event for deadline, event in self._sleepers if deadline <= self._now]
        self._sleepers = [(d, e) for d, e in self._sleepers if d > self._now]
        for event in due:
            event.set()


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


def recorder(log: list[object], value: object) -> Callable[[], Result]:
    """Work that appends `value` to `log` (from its worker thread) and returns it."""

    def work() -> Result:
        log.append(value)
        return Result(value)

    return work


def blocked_until(gate: threading.Event, value: object = None) -> Callable[[], Result]:
    def work() -> Result:
        assert gate.wait(timeout=30), "test gate never opened"
        return Result(value)

    return work


async def outcome_of(registry: FutureRegistry, request_id: str) -> Outcome:
    return await registry.wait(request_id, MAX_WAIT_SECONDS)


async def test_out_of_order_seq_ids_run_in_order(registry: FutureRegistry) -> None:
    log: list[object] = []
    async with RequestQueue(registry, clock=ManualClock()) as queue:
        ids = {
            seq: queue.submit_training("m", "forward_backward", recorder(log, seq), seq_id=seq)
            for seq in (0, 3, 1, 4, 2)
        }
        outcomes = [await outcome_of(registry, ids[seq]) for seq in range(5)]
    assert log == [0, 1, 2, 3, 4]
    assert outcomes == [Result(seq) for seq in range(5)]


async def test_a_repeated_seq_id_gets_the_same_request_and_runs_once(
    registry: FutureRegistry,
) -> None:
    log: list[object] = []
    async with RequestQueue(registry, clock=ManualClock()) as queue:
        first = queue.submit_training("m", "optim_step", recorder(log, "a"), seq_id=0)
        early = queue.submit_training("m", "optim_step", recorder(log, "c"), seq_id=2)
        assert queue.submit_training("m", "optim_step", recorder(log, "x"), seq_id=2) == early
        await outcome_of(registry, first)
        assert queue.submit_training("m", "optim_step", recorder(log, "y"), seq_id=0) == first
        queue.submit_training("m", "optim_step", recorder(log, "b"), seq_id=1)
        await outcome_of(registry, early)
    assert log == ["a", "b", "c"]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=12).flatmap(
        lambda n: st.tuples(
            st.permutations(list(range(n))),
            st.lists(st.integers(min_value=0, max_value=n - 1), max_size=n),
            st.lists(st.booleans(), min_size=2 * n, max_size=2 * n),
        )
    )
)
def test_any_arrival_order_with_duplicates_runs_each_seq_id_once_in_order(
    case: tuple[list[int], list[int], list[bool]],
) -> None:
    order, repeats, yields = case
    arrivals = list(order)
    for i, seq in enumerate(repeats):
        arrivals.insert(min(len(arrivals), i * 2 + 1), seq)

    async def scenario() -> None:
        registry = FutureRegistry(clock=FakeClock())
        log: list[object] = []
        ids: dict[int, str] = {}
        async with RequestQueue(registry, clock=ManualClock()) as queue:
            for position, seq in enumerate(arrivals):
                request_id = queue.submit_training("m", "f", recorder(log, seq), seq_id=seq)
                assert ids.setdefault(seq, request_id) == request_id
                if yields[position % len(yields)]:
                    await anyio.lowlevel.checkpoint()
            for request_id in ids.values():
                await outcome_of(registry, request_id)
        assert log == sorted(set(order))

    anyio.run(scenario)


async def test_requests_without_seq_id_run_in_arrival_order_on_the_lane(
    registry: FutureRegistry,
) -> None:
    log: list[object] = []
    async with RequestQueue(registry, clock=ManualClock()) as queue:
        ids = [queue.submit_training("m", "unload", recorder(log, i)) for i in range(5)]
        for request_id in ids:
            await outcome_of(registry, request_id)
    assert log == [0, 1, 2, 3, 4]


async def test_one_models_training_is_serialised(registry: FutureRegistry) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def work() -> Result:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        with lock:
            active -= 1
        return Result(None)

    async with RequestQueue(registry, clock=ManualClock(), max_parallel_models=4) as queue:
        ids = [queue.submit_training("m", "f", work, seq_id=i) for i in range(20)]
        for request_id in ids:
            await outcome_of(registry, request_id)
    assert peak == 1


async def test_different_models_train_in_parallel_up_to_the_limit(
    registry: FutureRegistry,
) -> None:
    both_running = threading.Barrier(2, timeout=30)

    def work() -> Result:
        both_running.wait()
        return Result("met")

    async with RequestQueue(registry, clock=ManualClock(), max_parallel_models=2) as queue:
        a = queue.submit_training("a", "f", work, seq_id=0)
        b = queue.submit_training("b", "f", work, seq_id=0)
        assert await outcome_of(registry, a) == Result("met")
        assert await outcome_of(registry, b) == Result("met")


async def test_sampling_never_waits_behind_training(registry: FutureRegistry) -> None:
    gate = threading.Event()
    async with RequestQueue(registry, clock=ManualClock(), max_concurrent_samples=2) as queue:
        training = queue.submit_training("m", "forward_backward", blocked_until(gate), seq_id=0)
        queued = queue.submit_training("m", "optim_step", recorder([], "later"), seq_id=1)
        samples = [queue.submit_sampling("sample", recorder([], i)) for i in range(3)]
        assert [await outcome_of(registry, s) for s in samples] == [Result(i) for i in range(3)]
        assert queue.state_of(queued) is QueueState.PAUSED_CAPACITY
        assert queue.state_of(training) is QueueState.ACTIVE
        gate.set()
        assert await outcome_of(registry, queued) == Result("later")


async def test_sampling_dedup_key_and_group(registry: FutureRegistry) -> None:
    log: list[object] = []
    async with RequestQueue(registry, clock=ManualClock()) as queue:
        first = queue.submit_sampling("sample", recorder(log, 1), dedup_key=("s", 7), group="s/0")
        again = queue.submit_sampling("sample", recorder(log, 2), dedup_key=("s", 7), group="s/0")
        assert first == again
        await outcome_of(registry, first)
        completions, _ = await registry.wait_completions("s/0", prev_cursor=0, timeout_s=0)
    assert log == [1]
    assert [c.request_id for c in completions] == [first]
    assert isinstance(completions[0], Completion)


class TestGaps:
    async def test_a_gap_that_is_never_filled_fails_the_waiting_requests(
        self, registry: FutureRegistry, manual_clock: ManualClock
    ) -> None:
        log: list[object] = []
        async with RequestQueue(registry, clock=manual_clock, gap_timeout_s=30) as queue:
            first = queue.submit_training("m", "f", recorder(log, 0), seq_id=0)
            stuck = queue.submit_training("m", "f", recorder(log, 2), seq_id=2)
            await outcome_of(registry, first)
            await anyio.wait_all_tasks_blocked()
            assert await registry.wait(stuck, 0) != Result(2)
            manual_clock.advance(29)
            await anyio.wait_all_tasks_blocked()
            assert queue.state_of(stuck) is QueueState.ACTIVE
            assert not isinstance(await registry.wait(stuck, 0), Failure)
            manual_clock.advance(1)
            failed = await outcome_of(registry, stuck)
            assert isinstance(failed, Failure)
            assert failed.category is ErrorCategory.USER
            assert "seq_id 1" in failed.message
            assert "30 s" in failed.message
            # The retried request gets the same (failed) future; the late one is refused.
            assert queue.submit_training("m", "f", recorder(log, "x"), seq_id=2) == stuck
            with pytest.raises(SequenceError, match=r"^seq_id: 1 is behind"):
                queue.submit_training("m", "f", recorder(log, "late"), seq_id=1)
            after = queue.submit_training("m", "f", recorder(log, 3), seq_id=3)
            assert await outcome_of(registry, after) == Result(3)
        assert log == [0, 3]

    async def test_progress_restarts_the_gap_timer(
        self, registry: FutureRegistry, manual_clock: ManualClock
    ) -> None:
        log: list[object] = []
        async with RequestQueue(registry, clock=manual_clock, gap_timeout_s=30) as queue:
            queue.submit_training("m", "f", recorder(log, 0), seq_id=0)
            last = queue.submit_training("m", "f", recorder(log, 3), seq_id=3)
            await anyio.wait_all_tasks_blocked()
            manual_clock.advance(20)
            queue.submit_training("m", "f", recorder(log, 1), seq_id=1)
            await anyio.wait_all_tasks_blocked()
            manual_clock.advance(20)  # 40 s since the gap opened, 20 s since progress
            await anyio.wait_all_tasks_blocked()
            queue.submit_training("m", "f", recorder(log, 2), seq_id=2)
            assert await outcome_of(registry, last) == Result(3)
            manual_clock.advance(100)
        assert log == [0, 1, 2, 3]


async def test_work_errors_become_categorised_failures(registry: FutureRegistry) -> None:
    def user_error() -> Result:
        raise RequestFailed("loss_fn 'nope' is not supported")

    def bad_value() -> Result:
        raise ValueError("target_tokens must match")

    def crash() -> Result:
        raise RuntimeError("CUDA fell over")

    def wrong_type() -> Result:
        return {"not": "a Result"}  # type: ignore[return-value]

    async with RequestQueue(registry, clock=ManualClock()) as queue:
        ids = [queue.submit_training("m", "f", w) for w in (user_error, bad_value, crash)]
        ids.append(queue.submit_sampling("sample", wrong_type))
        outcomes = [await outcome_of(registry, i) for i in ids]
    assert outcomes[0] == Failure("loss_fn 'nope' is not supported", ErrorCategory.USER)
    assert outcomes[1] == Failure("target_tokens must match", ErrorCategory.USER)
    assert outcomes[2] == Failure(
        "internal error: RuntimeError: CUDA fell over", ErrorCategory.SERVER
    )
    assert isinstance(outcomes[3], Failure)
    assert outcomes[3].category is ErrorCategory.SERVER
    assert "must return a Result" in outcomes[3].message


async def test_a_full_queue_pauses_for_rate_limit_and_refuses_more(
    registry: FutureRegistry,
) -> None:
    gate = threading.Event()
    async with RequestQueue(registry, clock=ManualClock(), max_queued=2) as queue:
        running = queue.submit_training("m", "f", blocked_until(gate), seq_id=0)
        await anyio.wait_all_tasks_blocked()
        waiting = [queue.submit_training("m", "f", recorder([], i), seq_id=i) for i in (1, 2)]
        assert queue.state_of(waiting[0]) is QueueState.PAUSED_RATE_LIMIT
        with pytest.raises(QueueFull, match="retry"):
            queue.submit_sampling("sample", recorder([], "x"))
        # A repeat of an accepted seq_id is not a new request, so it is still answered.
        assert queue.submit_training("m", "f", recorder([], 1), seq_id=1) == waiting[0]
        gate.set()
        for request_id in (running, *waiting):
            await outcome_of(registry, request_id)
        assert queue.state_of(waiting[0]) is QueueState.ACTIVE


async def test_leaving_the_queue_fails_what_did_not_run(
    registry: FutureRegistry, manual_clock: ManualClock
) -> None:
    gate = threading.Event()
    async with RequestQueue(registry, clock=manual_clock) as queue:
        running = queue.submit_training("m", "f", blocked_until(gate, "done"), seq_id=0)
        queued = queue.submit_training("m", "f", recorder([], 1), seq_id=1)
        buffered = queue.submit_training("m", "f", recorder([], 3), seq_id=3)
        await anyio.wait_all_tasks_blocked()
        gate.set()  # the running thread finishes; cancellation cannot interrupt it
    assert await registry.wait(running, 0) == Result("done")
    for request_id in (queued, buffered):
        outcome = await registry.wait(request_id, 0)
        assert isinstance(outcome, Failure)
        assert outcome.category is ErrorCategory.SERVER
        assert "shut down" in outcome.message


async def test_remembered_seq_ids_are_bounded(registry: FutureRegistry) -> None:
    async with RequestQueue(registry, clock=ManualClock(), remembered_ids=2) as queue:
        ids = [queue.submit_training("m", "f", recorder([], i), seq_id=i) for i in range(4)]
        for request_id in ids:
            await outcome_of(registry, request_id)
        assert queue.submit_training("m", "f", recorder([], 3), seq_id=3) == ids[3]
        with pytest.raises(SequenceError):
            queue.submit_training("m", "f", recorder([], 0), seq_id=0)


@pytest.mark.parametrize("seq_id", [-1, True, 1.5])
async def test_bad_seq_ids_are_refused(registry: FutureRegistry, seq_id: object) -> None:
    async with RequestQueue(registry, clock=ManualClock()) as queue:
        with pytest.raises(UserInputError, match=r"^seq_id: "):
            queue.submit_training("m", "f", recorder([], 0), seq_id=seq_id)  # type: ignore[arg-type]


async def test_submitting_outside_the_context_is_refused(registry: FutureRegistry) -> None:
    queue = RequestQueue(registry, clock=ManualClock())
    with pytest.raises(RuntimeError, match="async with"):
        queue.submit_sampling("sample", recorder([], 0))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_parallel_models": 0}, "max_parallel_models"),
        ({"max_concurrent_samples": 0}, "max_concurrent_samples"),
        ({"max_queued": 0}, "max_queued"),
        ({"remembered_ids": 0}, "remembered_ids"),
        ({"gap_timeout_s": 0}, "gap_timeout_s"),
    ],
)
def test_constructor_refuses_meaningless_limits(
    registry: FutureRegistry, kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        RequestQueue(registry, clock=ManualClock(), **kwargs)  # type: ignore[arg-type]


async def test_a_models_ready_requests_run_back_to_back_without_the_event_loop(
    registry: FutureRegistry,
) -> None:
    """A return to the event loop between a forward_backward and the optim_step queued behind
    it cost ~1.5 ms a step on 2 cores; the lane's worker thread goes straight on."""
    first_running, gate, second_ran = threading.Event(), threading.Event(), threading.Event()

    def first() -> Result:
        first_running.set()
        return blocked_until(gate, 1)()

    def second() -> Result:
        second_ran.set()
        return Result(2)

    async with RequestQueue(registry, clock=ManualClock()) as queue:
        queue.submit_training("m", "forward_backward", first, seq_id=0)
        later = queue.submit_training("m", "optim_step", second, seq_id=1)
        assert await anyio.to_thread.run_sync(first_running.wait, 30)
        gate.set()
        assert second_ran.wait(timeout=30)  # blocks the event loop on purpose
        assert await outcome_of(registry, later) == Result(2)


async def test_a_busy_lane_lets_another_model_take_the_training_slot(
    registry: FutureRegistry,
) -> None:
    log: list[object] = []
    gate, running = threading.Event(), threading.Event()

    def first() -> Result:
        running.set()
        return blocked_until(gate, "a0")()

    async with RequestQueue(registry, clock=ManualClock(), max_parallel_models=1) as queue:
        queue.submit_training("a", "forward_backward", first, seq_id=0)
        assert await anyio.to_thread.run_sync(running.wait, 30)
        queue.submit_training("a", "optim_step", recorder(log, "a1"), seq_id=1)
        other = queue.submit_training("b", "forward_backward", recorder(log, "b0"), seq_id=0)
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()  # model b is now waiting for the slot
        last = queue.submit_training("a", "optim_step", recorder(log, "a2"), seq_id=2)
        gate.set()
        await outcome_of(registry, other)
        await outcome_of(registry, last)
    assert log.index("b0") < log.index("a2")


async def test_an_idle_models_request_starts_before_the_event_loop_runs_again(
    registry: FutureRegistry,
) -> None:
    """Starting it from a task let the route's answer, and the optim_step request right
    behind it, go first: ~0.7 ms a step on 2 cores before the worker began."""
    started = threading.Event()

    def work() -> Result:
        started.set()
        return Result(1)

    async with RequestQueue(registry, clock=ManualClock()) as queue:
        request_id = queue.submit_training("m", "forward_backward", work, seq_id=0)
        assert started.wait(timeout=30)  # blocks the event loop on purpose
        assert await outcome_of(registry, request_id) == Result(1)
        assert queue.state_of(request_id) is QueueState.ACTIVE


async def test_a_sample_starts_before_the_event_loop_runs_again(registry: FutureRegistry) -> None:
    started = threading.Event()

    def work() -> Result:
        started.set()
        return Result("tokens")

    async with RequestQueue(registry, clock=ManualClock()) as queue:
        request_id = queue.submit_sampling("sample", work)
        assert started.wait(timeout=30)  # blocks the event loop on purpose
        assert await outcome_of(registry, request_id) == Result("tokens")
