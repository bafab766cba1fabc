from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from pristine.testing import FakeClock
from tinkex.local.futures import (
    MAX_WAIT_SECONDS,
    Completion,
    ErrorCategory,
    Failure,
    FutureExpired,
    FutureJournalPort,
    FutureNotFound,
    FutureRegistry,
    FutureState,
    Pending,
    Result,
)
from tinkex.local.store import Store

pytestmark = pytest.mark.anyio


async def test_a_new_request_is_pending_then_running(registry: FutureRegistry) -> None:
    request_id = registry.submit(kind="forward", model_id="m")
    assert await registry.wait(request_id, 0) == Pending(request_id, FutureState.PENDING)
    registry.mark_running(request_id)
    assert registry.state(request_id) is FutureState.RUNNING
    assert await registry.wait(request_id, 0) == Pending(request_id, FutureState.RUNNING)


async def test_wait_returns_as_soon_as_the_result_is_ready(registry: FutureRegistry) -> None:
    request_id = registry.submit(kind="optim_step")
    outcomes = []

    async def poll() -> None:
        outcomes.append(await registry.wait(request_id, MAX_WAIT_SECONDS))

    async with anyio.create_task_group() as tg:
        tg.start_soon(poll)
        await anyio.wait_all_tasks_blocked()
        registry.complete(request_id, Result({"metrics": {"loss:sum": 1.0}}))
    assert outcomes == [Result({"metrics": {"loss:sum": 1.0}})]
    assert registry.state(request_id) is FutureState.COMPLETE


async def test_failures_use_the_official_wire_shape(registry: FutureRegistry) -> None:
    request_id = registry.submit(kind="forward")
    registry.fail(request_id, Failure("bad loss_fn", ErrorCategory.USER))
    outcome = await registry.wait(request_id, 0)
    assert isinstance(outcome, Failure)
    assert outcome.to_wire() == {"error": "bad loss_fn", "category": "user"}
    assert registry.state(request_id) is FutureState.FAILED


async def test_protobuf_results_keep_their_bytes_and_content_type() -> None:
    result = Result.protobuf(b"\x08\x01")
    assert result.content_type == "application/x-protobuf"
    assert result.encode() == b"\x08\x01"
    assert Result({"a": 1}).encode() == b'{"a":1}'


async def test_unknown_ids_are_not_found_and_dropped_ones_are_expired(
    registry: FutureRegistry, fake_clock: FakeClock
) -> None:
    with pytest.raises(FutureNotFound) as unknown:
        await registry.wait("never-issued", 0)
    assert not isinstance(unknown.value, FutureExpired)
    request_id = registry.submit(kind="forward")
    registry.complete(request_id, Result({}))
    fake_clock.advance(61)
    assert registry.prune() == [request_id]
    assert not registry.knows(request_id)
    with pytest.raises(FutureExpired, match="submit the request again"):
        await registry.wait(request_id, 0)
    with pytest.raises(FutureExpired):
        registry.state(request_id)


async def test_finishing_twice_or_an_unknown_id_is_an_error(registry: FutureRegistry) -> None:
    request_id = registry.submit(kind="forward")
    registry.complete(request_id, Result({}))
    with pytest.raises(RuntimeError, match="already finished"):
        registry.fail(request_id, Failure("x", ErrorCategory.SERVER))
    with pytest.raises(FutureNotFound):
        registry.mark_running("nope")


async def test_polling_keeps_a_result_alive(
    registry: FutureRegistry, fake_clock: FakeClock
) -> None:
    request_id = registry.submit(kind="forward")
    registry.complete(request_id, Result({}))
    for _ in range(3):
        fake_clock.advance(40)
        await registry.wait(request_id, 0)
        assert registry.prune() == []
    fake_clock.advance(60)
    assert registry.prune() == [request_id]


async def test_count_bound_drops_only_delivered_results(fake_clock: FakeClock) -> None:
    registry = FutureRegistry(clock=fake_clock, retention_s=60.0, max_retained=2)
    ids = [registry.submit(kind="sample") for _ in range(4)]
    registry.complete(ids[0], Result(0))
    await registry.wait(ids[0], 0)  # delivered
    registry.complete(ids[1], Result(1))
    registry.complete(ids[2], Result(2))
    # ids[0] was delivered, so the bound drops it; undelivered ids[1] and ids[2] stay.
    assert not registry.knows(ids[0])
    registry.complete(ids[3], Result(3))
    assert all(registry.knows(i) for i in ids[1:])
    fake_clock.advance(61)
    assert sorted(registry.prune()) == sorted(ids[1:])


async def test_a_result_being_waited_on_is_never_dropped(fake_clock: FakeClock) -> None:
    registry = FutureRegistry(clock=fake_clock, retention_s=60.0, max_retained=1)
    watched, other = registry.submit(kind="f"), registry.submit(kind="f")
    outcomes = []

    async def poll() -> None:
        outcomes.append(await registry.wait(watched, MAX_WAIT_SECONDS))

    async with anyio.create_task_group() as tg:
        tg.start_soon(poll)
        await anyio.wait_all_tasks_blocked()
        registry.complete(watched, Result("mine"))
        fake_clock.advance(120)
        registry.complete(other, Result("other"))
        assert registry.knows(watched)
    assert outcomes == [Result("mine")]


@pytest.mark.parametrize("bad_timeout", [-1.0, MAX_WAIT_SECONDS + 1])
async def test_wait_timeouts_are_bounded(registry: FutureRegistry, bad_timeout: float) -> None:
    request_id = registry.submit(kind="f")
    with pytest.raises(ValueError, match="timeout_s"):
        await registry.wait(request_id, bad_timeout)


def test_constructor_refuses_meaningless_bounds(fake_clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="retention_s"):
        FutureRegistry(clock=fake_clock, retention_s=0)
    with pytest.raises(ValueError, match="max_retained"):
        FutureRegistry(clock=fake_clock, max_retained=0)


async def test_expired_id_memory_is_bounded(fake_clock: FakeClock) -> None:
    registry = FutureRegistry(clock=fake_clock, retention_s=1.0, max_expired_ids=1)
    first, second = registry.submit(kind="f"), registry.submit(kind="f")
    registry.complete(first, Result(1))
    registry.complete(second, Result(2))
    fake_clock.advance(2)
    registry.prune()
    with pytest.raises(FutureExpired):
        await registry.wait(second, 0)
    with pytest.raises(FutureNotFound) as forgotten:
        await registry.wait(first, 0)
    assert not isinstance(forgotten.value, FutureExpired)


class TestGroupCompletions:
    async def test_completions_after_the_cursor_are_reported_with_payload_size(
        self, registry: FutureRegistry
    ) -> None:
        a = registry.submit(kind="sample", group="sess/0")
        b = registry.submit(kind="sample", group="sess/0")
        registry.submit(kind="sample", group="sess/1")
        registry.complete(a, Result({"x": 1}))
        registry.fail(b, Failure("boom", ErrorCategory.SERVER))
        completions, cursor = await registry.wait_completions("sess/0", prev_cursor=0, timeout_s=0)
        assert completions == [
            Completion(a, "finished", 1, len(b'{"x":1}')),
            Completion(b, "failed", 2, None),
        ]
        assert cursor == 2
        again, cursor_again = await registry.wait_completions(
            "sess/0", prev_cursor=cursor, timeout_s=0
        )
        assert (again, cursor_again) == ([], 2)

    async def test_a_long_poll_wakes_on_the_next_completion(self, registry: FutureRegistry) -> None:
        request_id = registry.submit(kind="sample", group="g")
        seen: list[tuple[list[Completion], int]] = []

        async def poll() -> None:
            seen.append(
                await registry.wait_completions("g", prev_cursor=0, timeout_s=MAX_WAIT_SECONDS)
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.wait_all_tasks_blocked()
            registry.complete(request_id, Result.protobuf(b"abc"))
        assert seen == [([Completion(request_id, "finished", 1, 3)], 1)]

    async def test_retrieved_ids_are_released(self, registry: FutureRegistry) -> None:
        request_id = registry.submit(kind="sample", group="g")
        registry.complete(request_id, Result({}))
        await registry.wait_completions("g", prev_cursor=0, timeout_s=0, retrieved=[request_id])
        assert not registry.knows(request_id)
        with pytest.raises(FutureExpired):
            await registry.wait(request_id, 0)

    async def test_a_cursor_from_a_previous_server_starts_over(
        self, registry: FutureRegistry
    ) -> None:
        request_id = registry.submit(kind="sample", group="g")
        registry.complete(request_id, Result({}))
        completions, cursor = await registry.wait_completions("g", prev_cursor=99, timeout_s=0)
        assert [c.request_id for c in completions] == [request_id]
        assert cursor == 1


class TestJournal:
    async def test_finished_results_survive_a_restart(self, tmp_path: Path) -> None:
        clock = FakeClock()
        with Store.open(tmp_path, clock=clock) as store:
            registry = FutureRegistry(clock=clock, journal=store.futures)
            done = registry.submit(kind="optim_step", model_id="m")
            registry.mark_running(done)
            registry.complete(done, Result({"metrics": {}}))
            proto = registry.submit(kind="forward", model_id="m")
            registry.complete(proto, Result.protobuf(b"\x01\x02"))
            failed = registry.submit(kind="forward", model_id="m")
            registry.fail(failed, Failure("bad input", ErrorCategory.USER))
            interrupted = registry.submit(kind="forward", model_id="m")
        with Store.open(tmp_path, clock=clock) as store:
            fresh = FutureRegistry(clock=clock, journal=store.futures)
            assert await fresh.wait(done, 0) == Result({"metrics": {}})
            assert await fresh.wait(proto, 0) == Result.protobuf(b"\x01\x02")
            assert await fresh.wait(failed, 0) == Failure("bad input", ErrorCategory.USER)
            crashed = await fresh.wait(interrupted, 0)
            assert isinstance(crashed, Failure)
            assert crashed.category is ErrorCategory.SERVER
            assert fresh.state(done) is FutureState.COMPLETE
            assert fresh.state(failed) is FutureState.FAILED
            with pytest.raises(FutureNotFound):
                await fresh.wait("never", 0)

    async def test_a_request_costs_two_journal_writes_and_a_running_one_is_interrupted(
        self, tmp_path: Path
    ) -> None:
        """Starting a request is not journaled (a restart fails pending and running alike),
        so each request writes the journal twice: when accepted and when finished."""
        clock = FakeClock()
        with Store.open(tmp_path, clock=clock) as store:
            journal = _CountingJournal(store.futures)
            registry = FutureRegistry(clock=clock, journal=journal)
            done = registry.submit(kind="optim_step", model_id="m")
            registry.mark_running(done)
            registry.complete(done, Result({"metrics": {}}))
            assert journal.writes == ["record_submitted", "record_complete"]
            running = registry.submit(kind="forward", model_id="m")
            registry.mark_running(running)
        with Store.open(tmp_path, clock=clock) as store:
            crashed = await FutureRegistry(clock=clock, journal=store.futures).wait(running, 0)
            assert isinstance(crashed, Failure)
            assert crashed.category is ErrorCategory.SERVER

    async def test_pruning_forgets_journal_rows(self, tmp_path: Path) -> None:
        clock = FakeClock()
        with Store.open(tmp_path, clock=clock) as store:
            registry = FutureRegistry(clock=clock, journal=store.futures, retention_s=1.0)
            request_id = registry.submit(kind="f", group="g")
            registry.complete(request_id, Result({}))
            clock.advance(2)
            registry.prune()
            assert store.futures.get(request_id) is None
            with pytest.raises(FutureExpired):
                await registry.wait(request_id, 0)
            other = registry.submit(kind="f", group="g")
            registry.complete(other, Result({}))
            await registry.wait_completions("g", prev_cursor=0, timeout_s=0, retrieved=[other])
            assert store.futures.get(other) is None

    async def test_a_journal_row_without_its_result_is_expired(self, tmp_path: Path) -> None:
        clock = FakeClock()
        with Store.open(tmp_path, clock=clock) as store:
            store.futures.record_submitted("r1", model_id=None, kind="f", created_at=0)
            store.futures.record_complete(
                "r1", finished_at=1, content_type="application/json", result=b"x" * 70_000
            )
            (tmp_path / "results" / "r1").unlink()
            store.futures.record_submitted("r2", model_id=None, kind="f", created_at=0)
            store.futures.record_failed("r2", finished_at=1, error="e", category="weird")
            registry = FutureRegistry(clock=clock, journal=store.futures)
            with pytest.raises(FutureExpired):
                await registry.wait("r1", 0)
            assert await registry.wait("r2", 0) == Failure("e", ErrorCategory.UNKNOWN)


async def test_an_unpolled_group_keeps_only_the_newest_completions(fake_clock: FakeClock) -> None:
    registry = FutureRegistry(clock=fake_clock, max_retained=2)
    ids = [registry.submit(kind="sample", group="g") for _ in range(3)]
    for request_id in ids:
        registry.complete(request_id, Result({}))
    completions, cursor = await registry.wait_completions("g", prev_cursor=0, timeout_s=0)
    assert [c.request_id for c in completions] == ids[1:]
    assert cursor == 3


class _CountingJournal:
    """The store's journal, noting each write method called."""

    def __init__(self, journal: FutureJournalPort) -> None:
        self._journal = journal
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("record_"):
            self.writes.append(name)
        return getattr(self._journal, name)
