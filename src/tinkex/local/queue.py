"""The request queue: ordered training per model, concurrent sampling, try-again states.

Training requests carry the official client's `seq_id`. The client numbers a model's requests
1, 2, 3, ... (its counter starts at 0 and it sends `counter + 1`); the request that creates
the model (`create_model`, or `load_weights` without a model id) is that model's seq 0, so the
route submits it with `seq_id=0`. The client may send chunks of one `forward_backward` out of
order (it deliberately sends the first chunk last), and it retries a request whose response it
lost, so the queue:

- runs one model's requests strictly in `seq_id` order, buffering early arrivals;
- gives a repeated `seq_id` the request id it already has (the work never runs twice);
- runs requests without a `seq_id` in arrival order, in the same lane;
- fails buffered requests (category `user`) when the missing `seq_id` has not arrived within
  `gap_timeout_s`: the official client cannot skip an id, so waiting longer cannot help, and
  the default outlasts the client's own five-minute retry window.

Work is a plain callable run in a worker thread, so the event loop stays responsive (the
queue runs on asyncio, as uvicorn does). The queue owns the threads, one pool each for
training and sampling, and a request whose slot is free starts in its thread at submission,
before the route has answered. They are plain threads: work that must reach the event loop
passes `anyio.from_thread` the loop's token. One model's work is serialised; up to
`max_parallel_models` models train at once. Sampling runs in its own pool of
`max_concurrent_samples` and never waits behind training.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import TypeVar

import anyio
import anyio.abc

from pristine.ports.clock import Clock
from tinkex.local.futures import ErrorCategory, Failure, FutureRegistry, RequestFailed, Result
from tinkex.local.store.errors import UserInputError

__all__ = [
    "DEFAULT_GAP_TIMEOUT_S",
    "FIRST_SEQ_ID",
    "QueueFull",
    "QueueState",
    "RequestQueue",
    "SequenceError",
    "Work",
]

FIRST_SEQ_ID = 0
DEFAULT_GAP_TIMEOUT_S = 360.0
SHUTDOWN_MESSAGE = "the server shut down before this request ran; submit it again"

Work = Callable[[], Result]
K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
_Ran = tuple["_Request", Result | Failure]


class QueueState(StrEnum):
    """The official `TryAgainResponse.queue_state` values."""

    ACTIVE = "active"
    PAUSED_CAPACITY = "paused_capacity"
    PAUSED_RATE_LIMIT = "paused_rate_limit"


class QueueFull(RuntimeError):
    """Too many requests are waiting; the route answers 429 and the client backs off."""


class SequenceError(UserInputError):
    """A `seq_id` that can no longer run: it is behind the model's next expected one."""


@dataclass
class _Request:
    request_id: str
    work: Work
    pool: str


@dataclass
class _Lane:
    model_id: str
    next_seq: int = FIRST_SEQ_ID
    buffered: dict[int, _Request] = field(default_factory=dict)
    ready: deque[_Request] = field(default_factory=deque)
    accepted: OrderedDict[int, str] = field(default_factory=OrderedDict)
    running: bool = False
    blocked_since: float | None = None
    watching: bool = False


class RequestQueue:
    """Accept requests, run them in the right order in worker threads, report queue state.

    Use as `async with RequestQueue(registry, clock=...) as queue:`; `submit_*` must then be
    called from the same event loop. Leaving the block cancels what has not run and fails
    those requests (category `server`).
    """

    def __init__(
        self,
        registry: FutureRegistry,
        *,
        clock: Clock,
        max_parallel_models: int = 1,
        max_concurrent_samples: int = 4,
        gap_timeout_s: float = DEFAULT_GAP_TIMEOUT_S,
        max_queued: int = 10_000,
        remembered_ids: int = 10_000,
    ) -> None:
        for name, value in (
            ("max_parallel_models", max_parallel_models),
            ("max_concurrent_samples", max_concurrent_samples),
            ("max_queued", max_queued),
            ("remembered_ids", remembered_ids),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if gap_timeout_s <= 0:
            raise ValueError(f"gap_timeout_s must be > 0, got {gap_timeout_s}")
        self._registry = registry
        self._clock = clock
        self._gap_timeout_s = gap_timeout_s
        self._max_queued = max_queued
        self._remembered_ids = remembered_ids
        self._slot_counts = {"training": max_parallel_models, "sampling": max_concurrent_samples}
        self._slots: dict[str, anyio.Semaphore] = {}
        self._threads: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        self._lanes: dict[str, _Lane] = {}
        self._sampling_accepted: OrderedDict[Hashable, str] = OrderedDict()
        # Accepted and not yet running: request id -> pool name.
        self._queued: dict[str, str] = {}
        self._unfinished: set[str] = set()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closing = False

    async def __aenter__(self) -> RequestQueue:
        self._slots = {pool: anyio.Semaphore(n) for pool, n in self._slot_counts.items()}
        self._threads = {
            pool: concurrent.futures.ThreadPoolExecutor(n, thread_name_prefix=f"tinkex-{pool}")
            for pool, n in self._slot_counts.items()
        }
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task_group is not None
        self._closing = True  # a lane's worker stops after the request it is running
        self._task_group.cancel_scope.cancel()
        try:
            await self._task_group.__aexit__(exc_type, exc, tb)
        finally:
            self._task_group = None
            for threads in self._threads.values():
                threads.shutdown(wait=False)  # idle: every run was awaited, shielded
            for request_id in sorted(self._unfinished):
                self._registry.fail(request_id, Failure(SHUTDOWN_MESSAGE, ErrorCategory.SERVER))
            self._unfinished.clear()

    def submit_training(
        self, model_id: str, kind: str, work: Work, *, seq_id: int | None = None
    ) -> str:
        """Queue `work` on the model's lane; returns the request id (the same one for a repeat)."""
        lane = self._lanes.setdefault(model_id, _Lane(model_id))
        if seq_id is None:
            request = self._accept(kind, work, "training", model_id)
            lane.ready.append(request)
            self._start_lane(lane)
            return request.request_id
        _check_seq_id(seq_id)
        if seq_id in lane.accepted:
            return lane.accepted[seq_id]
        if seq_id < lane.next_seq:
            raise SequenceError(
                "seq_id",
                f"{seq_id} is behind model {model_id!r}'s next expected seq_id "
                f"{lane.next_seq}: it already ran or was skipped after a gap timeout; "
                "create a new training client",
            )
        request = self._accept(kind, work, "training", model_id)
        _remember(lane.accepted, seq_id, request.request_id, self._remembered_ids)
        lane.buffered[seq_id] = request
        self._release_in_order(lane)
        self._start_lane(lane)
        return request.request_id

    def submit_sampling(
        self,
        kind: str,
        work: Work,
        *,
        dedup_key: Hashable | None = None,
        group: str | None = None,
    ) -> str:
        """Run `work` in the sampling pool; a repeated `dedup_key` returns the first request id.

        `group` names the `retrieve_futures` target that reports the completion.
        """
        if dedup_key is not None and dedup_key in self._sampling_accepted:
            return self._sampling_accepted[dedup_key]
        request = self._accept(kind, work, "sampling", None, group)
        if dedup_key is not None:
            _remember(self._sampling_accepted, dedup_key, request.request_id, self._remembered_ids)
        running = None
        if self._take_free_slot("sampling"):
            running = self._launch(request, _outcome, request.work)
        self._group().start_soon(self._execute, request, running)
        return request.request_id

    def state_of(self, request_id: str) -> QueueState:
        """The queue state to put in a `try_again` answer for this (unfinished) request."""
        if len(self._queued) >= self._max_queued:
            return QueueState.PAUSED_RATE_LIMIT
        pool = self._queued.get(request_id)
        if pool is not None and self._slots[pool].value == 0:
            return QueueState.PAUSED_CAPACITY
        return QueueState.ACTIVE

    def _accept(
        self, kind: str, work: Work, pool: str, model_id: str | None, group: str | None = None
    ) -> _Request:
        self._group()
        if len(self._queued) >= self._max_queued:
            raise QueueFull(
                f"{len(self._queued)} requests are already waiting; retry after some finish"
            )
        request_id = self._registry.submit(kind=kind, model_id=model_id, group=group)
        self._queued[request_id] = pool
        self._unfinished.add(request_id)
        return _Request(request_id, work, pool)

    def _release_in_order(self, lane: _Lane) -> None:
        progressed = False
        while lane.next_seq in lane.buffered:
            lane.ready.append(lane.buffered.pop(lane.next_seq))
            lane.next_seq += 1
            progressed = True
        if not lane.buffered:
            lane.blocked_since = None
        elif progressed or lane.blocked_since is None:
            lane.blocked_since = self._clock.monotonic()
            if not lane.watching:
                lane.watching = True
                self._group().start_soon(self._watch_gap, lane)

    def _start_lane(self, lane: _Lane) -> None:
        """Drain an idle lane; when the training slot is free its first request is handed
        to the worker thread right here, before the route answers: starting it from the
        task let the answer, and the optim_step request right behind it, go first (~0.7 ms
        a step on 2 cores)."""
        if lane.ready and not lane.running:
            lane.running = True
            running = self._launch_lane(lane) if self._take_free_slot("training") else None
            self._group().start_soon(self._drain, lane, running)

    async def _drain(self, lane: _Lane, running: concurrent.futures.Future[_Ran] | None) -> None:
        """Run the lane's ready requests in order, back to back in one worker thread.

        Going back to the event loop between a forward_backward and the optim_step queued
        behind it cost about 1.5 ms a step (two thread hops on 2 cores), so the worker goes
        straight on and tells the loop of each start and finish without waiting for it. It
        gives the slot up when another model waits for it. `running`: the first run, already
        launched with the slot held.
        """
        slot = self._slots["training"]
        try:
            while running is not None or (lane.ready and not self._closing):
                if running is None:
                    await slot.acquire()
                    running = self._launch_lane(lane)
                try:
                    last, outcome = await _joined(running)
                finally:
                    slot.release()
                running = None
                self._finish(last, outcome)  # once the slot is free, as the queue state says
        finally:
            lane.running = False

    def _take_free_slot(self, pool: str) -> bool:
        """Hold a slot of `pool` if one is free and nobody queues for it."""
        slot = self._slots[pool]
        if slot.value == 0 or slot.statistics().tasks_waiting:
            return False
        slot.acquire_nowait()
        return True

    def _launch(
        self, request: _Request, run: Callable[..., T], *args: object
    ) -> concurrent.futures.Future[T]:
        """Start `request` (its pool's slot is held): `run(*args)` in one of its threads."""
        self._start(request)
        return self._threads[request.pool].submit(run, *args)

    def _launch_lane(self, lane: _Lane) -> concurrent.futures.Future[_Ran]:
        """Start the lane's next request, and those ready behind it, in a training thread."""
        first = lane.ready.popleft()
        notify = asyncio.get_running_loop().call_soon_threadsafe
        return self._launch(first, self._run_ready, first, lane, self._slots["training"], notify)

    def _run_ready(
        self,
        request: _Request,
        lane: _Lane,
        slot: anyio.Semaphore,
        notify: Callable[..., object],
    ) -> _Ran:
        """Worker thread: `request` (started), then the lane's next ready ones until none is
        left or a model waits; returns the last one run, which the event loop finishes."""
        while True:
            outcome = _outcome(request.work)
            if not lane.ready or self._closing or slot.statistics().tasks_waiting:
                return request, outcome
            notify(self._finish, request, outcome)
            request = lane.ready.popleft()
            notify(self._start, request)

    async def _watch_gap(self, lane: _Lane) -> None:
        try:
            while lane.blocked_since is not None:
                remaining = lane.blocked_since + self._gap_timeout_s - self._clock.monotonic()
                if remaining <= 0:
                    self._fail_gap(lane)
                    return
                await self._clock.sleep(remaining)
        finally:
            lane.watching = False

    def _fail_gap(self, lane: _Lane) -> None:
        missing = lane.next_seq
        for seq_id in sorted(lane.buffered):
            request = lane.buffered.pop(seq_id)
            message = (
                f"seq_id {missing} of model {lane.model_id!r} did not arrive within "
                f"{self._gap_timeout_s:g} s, so seq_id {seq_id} cannot run in order; "
                "create a new training client"
            )
            self._finish(request, Failure(message, ErrorCategory.USER))
            lane.next_seq = seq_id + 1
        lane.blocked_since = None

    async def _execute(
        self, request: _Request, running: concurrent.futures.Future[Result | Failure] | None
    ) -> None:
        """Run a sample (`running`: already launched, with its slot held)."""
        slot = self._slots[request.pool]
        if running is None:
            await slot.acquire()
            running = self._launch(request, _outcome, request.work)
        try:
            outcome = await _joined(running)
        finally:
            slot.release()
        self._finish(request, outcome)

    def _start(self, request: _Request) -> None:
        self._queued.pop(request.request_id, None)
        self._registry.mark_running(request.request_id)

    def _finish(self, request: _Request, outcome: Result | Failure) -> None:
        self._queued.pop(request.request_id, None)
        self._unfinished.discard(request.request_id)
        if isinstance(outcome, Result):
            self._registry.complete(request.request_id, outcome)
        else:
            self._registry.fail(request.request_id, outcome)

    def _group(self) -> anyio.abc.TaskGroup:
        if self._task_group is None:
            raise RuntimeError("use the queue inside `async with RequestQueue(...) as queue:`")
        return self._task_group


async def _joined(running: concurrent.futures.Future[T]) -> T:
    """The thread's result; a thread cannot be interrupted, so even a cancelled caller (the
    queue shutting down) waits for it to finish."""
    with anyio.CancelScope(shield=True):
        result = await asyncio.wrap_future(running)
    return result


def _outcome(work: Work) -> Result | Failure:
    """Run `work`; a user mistake (ValueError) or a bug becomes a Failure, never a raise."""
    try:
        result = work()
        if not isinstance(result, Result):
            raise TypeError(f"work must return a Result, got {type(result).__name__}")
        return result
    except RequestFailed as exc:
        return exc.failure
    except ValueError as exc:
        return Failure(str(exc), ErrorCategory.USER)
    except Exception as exc:
        return Failure(f"internal error: {type(exc).__name__}: {exc}", ErrorCategory.SERVER)


def _check_seq_id(seq_id: int) -> None:
    if isinstance(seq_id, bool) or not isinstance(seq_id, int) or seq_id < FIRST_SEQ_ID:
        raise UserInputError("seq_id", f"must be an integer >= {FIRST_SEQ_ID}, got {seq_id!r}")


def _remember(memory: OrderedDict[K, str], key: K, request_id: str, limit: int) -> None:
    """Remember which request a key was given, forgetting the oldest beyond `limit`."""
    memory[key] = request_id
    while len(memory) > limit:
        memory.popitem(last=False)
