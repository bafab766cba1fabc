"""`Store`: everything tinkex.local keeps on disk, opened (and recovered) in one call."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from pristine.ports.clock import Clock, SystemClock
from tinkex.local.store.audit import AuditLog
from tinkex.local.store.checkpoints import CheckpointRepository
from tinkex.local.store.database import Database
from tinkex.local.store.journal import FutureJournal
from tinkex.local.store.runs import RunRepository
from tinkex.local.store.samplers import SamplerRepository
from tinkex.local.store.sessions import SessionRepository
from tinkex.local.store.usage import UsageLog

__all__ = ["DATABASE_NAME", "Store"]

DATABASE_NAME = "tinkex-local.sqlite3"


class Store:
    """Sessions, runs, checkpoints, samplers, the futures journal and the audit and usage
    logs under one `DATA_DIR`.

    Safe to share between the event loop and worker threads (one SQLite connection per
    thread). Use `Store.open(data_dir)`.
    """

    def __init__(self, data_dir: Path, db: Database, clock: Clock) -> None:
        self.data_dir = data_dir
        self._db = db
        self.sessions = SessionRepository(db, clock)
        self.runs = RunRepository(db, clock)
        self.audit = AuditLog(db, clock)
        self.usage = UsageLog(db, clock)
        self.checkpoints = CheckpointRepository(db, data_dir, clock, self.audit)
        self.samplers = SamplerRepository(db, clock)
        self.futures = FutureJournal(db, data_dir)

    @classmethod
    def open(cls, data_dir: Path | str, *, clock: Clock | None = None) -> Store:
        """Open (creating or migrating) the store and recover from any crash.

        Recovery removes half-written checkpoints and marks futures that were still pending
        as failed, so everything visible afterwards is complete.
        """
        clock = clock or SystemClock()
        root = Path(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        store = cls(root, Database(root / DATABASE_NAME), clock)
        store.checkpoints.recover()
        store.futures.fail_interrupted(clock.wall())
        return store

    def integrity_check(self) -> list[str]:
        """Problems SQLite finds in the database file; an empty list means healthy."""
        return self._db.integrity_check()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
