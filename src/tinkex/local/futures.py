"""Server-side futures: every accepted request gets a `request_id` the client polls.

The official client polls `retrieve_future` (one id, long-poll) and, when the server's client
config enables it, `retrieve_futures` (every completion of one sampling session after a
cursor). This registry serves both:

- `wait(request_id, timeout_s)` returns as soon as the request finishes, or a `Pending` after
  the timeout so the route can answer `try_again` with the queue state;
- `wait_completions(group, prev_cursor=..., timeout_s=...)` returns the group's completions
  after the cursor.

Failures carry the official `RequestFailedResponse` shape (`{"error", "category"}`).
An id that was never issued raises `FutureNotFound` (answer 404: the client gives up); an id
whose result is no longer kept raises `FutureExpired` (answer 410: the official client then
retries its original request). Finished results are kept `retention_s` after their last
poll and at most `max_retained` of them; a result with a poll in progress is never dropped.

All methods must be called from the event loop that runs the server; the optional journal
(the store's `futures` table) makes finished results survive a restart.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

import anyio
import orjson

from pristine.ports.clock import Clock
from tinkex.local.store.records import FutureRecord

__all__ = [
    "JSON_CONTENT_TYPE",
    "MAX_WAIT_SECONDS",
    "PROTOBUF_CONTENT_TYPE",
    "Completion",
    "ErrorCategory",
    "Failure",
    "FutureExpired",
    "FutureJournalPort",
    "FutureNotFound",
    "FutureRegistry",
    "FutureState",
    "Outcome",
    "Pending",
    "RequestFailed",
    "Result",
]

JSON_CONTENT_TYPE = "application/json"
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
MAX_WAIT_SECONDS = 300.0


class FutureState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


class ErrorCategory(StrEnum):
    """The official `RequestErrorCategory` values: only `user` errors stop a client at once."""

    UNKNOWN = "unknown"
    SERVER = "server"
    USER = "user"


@dataclass(frozen=True)
class Result:
    """A finished request's payload: a JSON-able object, or encoded bytes (protobuf)."""

    body: object
    content_type: str = JSON_CONTENT_TYPE

    @classmethod
    def protobuf(cls, data: bytes) -> Result:
        return cls(data, PROTOBUF_CONTENT_TYPE)

    def encode(self) -> bytes:
        """The bytes the route sends (and the journal stores)."""
        if isinstance(self.body, bytes):
            return self.body
        return orjson.dumps(self.body)


@dataclass(frozen=True)
class Failure:
    """A failed request, as the official `RequestFailedResponse`."""

    message: str
    category: ErrorCategory

    def to_wire(self) -> dict[str, str]:
        return {"error": self.message, "category": self.category.value}


@dataclass(frozen=True)
class Pending:
    """Not finished when the wait ended; the route answers `try_again`."""

    request_id: str
    state: FutureState


Outcome = Result | Failure | Pending


@dataclass(frozen=True)
class Completion:
    """One entry of `retrieve_futures`: the official `FutureFinished` / `FutureFailed`."""

    request_id: str
    state: Literal["finished", "failed"]
    cursor: int
    response_payload_uncompressed_size: int | None = None


class FutureNotFound(LookupError):
    """No request with this id was ever issued by this server (answer 404)."""

    def __init__(self, request_id: str, detail: str = "unknown request id") -> None:
        super().__init__(f"{detail}: {request_id!r}")
        self.request_id = request_id


class FutureExpired(FutureNotFound):
    """The request existed but its result is no longer kept (answer 410: submit it again)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id, "result expired; submit the request again")


class RequestFailed(Exception):
    """Raised by work to fail its request with an explicit category and message."""

    def __init__(self, message: str, category: ErrorCategory = ErrorCategory.USER) -> None:
        super().__init__(message)
        self.failure = Failure(message, category)


class FutureJournalPort(Protocol):
    """Where finished futures are persisted (`tinkex.local.store.FutureJournal`)."""

    def record_submitted(
        self, request_id: str, *, model_id: str | None, kind: str, created_at: float
    ) -> None: ...

    def record_complete(
        self, request_id: str, *, finished_at: float, content_type: str, result: bytes
    ) -> None: ...

    def record_failed(
        self, request_id: str, *, finished_at: float, error: str, category: str
    ) -> None: ...

    def get(self, request_id: str) -> FutureRecord | None: ...

    def forget(self, request_ids: Iterable[str]) -> None: ...


@dataclass
class _Entry:
    request_id: str
    group: str | None
    state: FutureState = FutureState.PENDING
    outcome: Result | Failure | None = None
    done: anyio.Event = field(default_factory=anyio.Event)
    last_access: float = 0.0
    waiters: int = 0
    delivered: bool = False


@dataclass
class _GroupLog:
    completions: list[Completion] = field(default_factory=list)
    last_cursor: int = 0
    changed: anyio.Event = field(default_factory=anyio.Event)


class FutureRegistry:
    """Request ids, their states and results, with long-poll waits and bounded retention."""

    def __init__(
        self,
        *,
        clock: Clock,
        journal: FutureJournalPort | None = None,
        retention_s: float = 900.0,
        max_retained: int = 10_000,
        max_expired_ids: int = 100_000,
    ) -> None:
        if retention_s <= 0:
            raise ValueError(f"retention_s must be > 0, got {retention_s}")
        if max_retained < 1:
            raise ValueError(f"max_retained must be >= 1, got {max_retained}")
        self._clock = clock
        self._journal = journal
        self._retention_s = retention_s
        self._max_retained = max_retained
        self._max_expired_ids = max_expired_ids
        self._entries: dict[str, _Entry] = {}
        # Finished ids, least recently polled first.
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._expired: OrderedDict[str, None] = OrderedDict()
        self._groups: dict[str, _GroupLog] = {}

    def submit(self, *, kind: str, model_id: str | None = None, group: str | None = None) -> str:
        """Issue a new request id in state `pending`.

        `group` names the `retrieve_futures` target (a sampling session and clone) that
        should report this request's completion.
        """
        request_id = str(uuid.uuid4())
        self._entries[request_id] = _Entry(request_id, group, last_access=self._now())
        if self._journal is not None:
            self._journal.record_submitted(
                request_id, model_id=model_id, kind=kind, created_at=self._clock.wall()
            )
        return request_id

    def mark_running(self, request_id: str) -> None:
        """In memory only: a restart fails pending and running requests alike, so the
        journal need not know (one write fewer on the way to the worker)."""
        self._live(request_id).state = FutureState.RUNNING

    def complete(self, request_id: str, result: Result) -> None:
        entry = self._unfinished(request_id)
        encoded = result.encode()
        if self._journal is not None:
            self._journal.record_complete(
                request_id,
                finished_at=self._clock.wall(),
                content_type=result.content_type,
                result=encoded,
            )
        self._finish(entry, FutureState.COMPLETE, result, len(encoded))

    def fail(self, request_id: str, failure: Failure) -> None:
        entry = self._unfinished(request_id)
        if self._journal is not None:
            self._journal.record_failed(
                request_id,
                finished_at=self._clock.wall(),
                error=failure.message,
                category=failure.category.value,
            )
        self._finish(entry, FutureState.FAILED, failure, None)

    def knows(self, request_id: str) -> bool:
        """True while the id's state or result is still kept in memory."""
        return request_id in self._entries

    def state(self, request_id: str) -> FutureState:
        """The request's state; raises `FutureNotFound` / `FutureExpired` like `wait`."""
        entry = self._entries.get(request_id)
        if entry is not None:
            return entry.state
        outcome = self._from_journal(request_id)
        return FutureState.COMPLETE if isinstance(outcome, Result) else FutureState.FAILED

    async def wait(self, request_id: str, timeout_s: float) -> Outcome:
        """Wait up to `timeout_s` for the request to finish (0 answers at once)."""
        _check_timeout(timeout_s)
        entry = self._entries.get(request_id)
        if entry is None:
            return self._from_journal(request_id)
        if entry.outcome is None:
            entry.waiters += 1
            try:
                with anyio.move_on_after(timeout_s):
                    await entry.done.wait()
            finally:
                entry.waiters -= 1
        self._touch(entry)
        if entry.outcome is None:
            return Pending(request_id, entry.state)
        entry.delivered = True
        return entry.outcome

    async def wait_completions(
        self,
        group: str,
        *,
        prev_cursor: int,
        timeout_s: float,
        retrieved: Iterable[str] = (),
    ) -> tuple[list[Completion], int]:
        """The group's completions after `prev_cursor`, waiting up to `timeout_s` for one.

        Completions at or before `prev_cursor` are trimmed; ids in `retrieved` were fully
        read by the client, so their results are dropped now. Returns the completions and the
        cursor to pass back next time.
        """
        _check_timeout(timeout_s)
        self._release(retrieved)
        log = self._groups.setdefault(group, _GroupLog())
        if prev_cursor > log.last_cursor:
            # A cursor from before a restart: report everything this server still has.
            prev_cursor = 0
        log.completions = [c for c in log.completions if c.cursor > prev_cursor]
        if not log.completions and timeout_s > 0:
            with anyio.move_on_after(timeout_s):
                await log.changed.wait()
        new = list(log.completions)
        return new, (new[-1].cursor if new else prev_cursor)

    def prune(self) -> list[str]:
        """Drop results `retention_s` after their last poll, and delivered results beyond
        `max_retained` (oldest first); a result nobody has received yet is kept until its
        retention ends, and one being waited on is always kept. Returns the dropped ids."""
        now = self._now()
        dropped: list[str] = []
        for request_id in list(self._finished):
            entry = self._entries[request_id]
            expired = now - entry.last_access >= self._retention_s
            over_count = len(self._finished) > self._max_retained
            if not expired and not over_count:
                break
            if entry.waiters or not (expired or entry.delivered):
                continue
            self._drop(request_id)
            dropped.append(request_id)
        if dropped and self._journal is not None:
            self._journal.forget(dropped)
        return dropped

    def _unfinished(self, request_id: str) -> _Entry:
        entry = self._live(request_id)
        if entry.outcome is not None:
            raise RuntimeError(f"request {request_id} already finished")
        return entry

    def _finish(
        self, entry: _Entry, state: FutureState, outcome: Result | Failure, size: int | None
    ) -> None:
        entry.state, entry.outcome = state, outcome
        entry.done.set()
        self._touch(entry)
        if entry.group is not None:
            log = self._groups.setdefault(entry.group, _GroupLog())
            log.last_cursor += 1
            finished = state is FutureState.COMPLETE
            log.completions.append(
                Completion(
                    entry.request_id,
                    "finished" if finished else "failed",
                    log.last_cursor,
                    size if finished else None,
                )
            )
            # A target nobody polls must not grow without bound.
            del log.completions[: -self._max_retained]
            log.changed.set()
            log.changed = anyio.Event()
        self.prune()

    def _live(self, request_id: str) -> _Entry:
        entry = self._entries.get(request_id)
        if entry is None:
            raise FutureNotFound(request_id)
        return entry

    def _touch(self, entry: _Entry) -> None:
        entry.last_access = self._now()
        if entry.outcome is not None:
            self._finished[entry.request_id] = None
            self._finished.move_to_end(entry.request_id)

    def _release(self, request_ids: Iterable[str]) -> None:
        released = []
        for request_id in request_ids:
            entry = self._entries.get(request_id)
            if entry is not None and entry.outcome is not None and not entry.waiters:
                self._drop(request_id)
                released.append(request_id)
        if released and self._journal is not None:
            self._journal.forget(released)

    def _drop(self, request_id: str) -> None:
        del self._entries[request_id]
        self._finished.pop(request_id, None)
        self._expired[request_id] = None
        while len(self._expired) > self._max_expired_ids:
            self._expired.popitem(last=False)

    def _from_journal(self, request_id: str) -> Result | Failure:
        record = None if self._journal is None else self._journal.get(request_id)
        if record is None:
            if request_id in self._expired:
                raise FutureExpired(request_id)
            raise FutureNotFound(request_id)
        if record.state == FutureState.FAILED:
            return Failure(record.error or "request failed", _category(record.error_category))
        if record.state == FutureState.COMPLETE and record.result is not None:
            if record.content_type == JSON_CONTENT_TYPE:
                return Result(orjson.loads(record.result))
            return Result(record.result, record.content_type or PROTOBUF_CONTENT_TYPE)
        raise FutureExpired(request_id)

    def _now(self) -> float:
        return self._clock.monotonic()


def _category(value: str | None) -> ErrorCategory:
    try:
        return ErrorCategory(value or ErrorCategory.UNKNOWN)
    except ValueError:
        return ErrorCategory.UNKNOWN


def _check_timeout(timeout_s: float) -> None:
    if not 0 <= timeout_s <= MAX_WAIT_SECONDS:
        raise ValueError(f"timeout_s must be between 0 and {MAX_WAIT_SECONDS}, got {timeout_s}")
