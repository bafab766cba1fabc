"""One SQLite file, one connection per thread, explicit write transactions.

Settings, and why:
- WAL journal: readers never block the writer, so REST listings stay fast while training
  threads record futures and checkpoints.
- `synchronous=NORMAL`: in WAL mode this never corrupts the database; a power cut may roll
  back the last few commits, but not an application crash. Checkpoint files are fsynced
  before their row is written, and recovery (`Store.open`) removes directories without a row,
  so a lost commit can only lose a checkpoint, never show a half one. FULL would add an fsync
  to every future's bookkeeping on the request path for no visible gain.
- `foreign_keys=ON`: a checkpoint cannot point at a run that does not exist.
- Writers use `BEGIN IMMEDIATE` so two threads never deadlock upgrading read locks.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tinkex.local.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Database", "SchemaVersionError"]


class SchemaVersionError(RuntimeError):
    """The database was written by a newer tinkex than this one."""


class Database:
    """Thread-safe access to the store's SQLite file (one connection per thread)."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self._migrate()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise RuntimeError("the store is closed; open it again with Store.open(data_dir)")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: commits on success, rolls back on any exception."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def integrity_check(self) -> list[str]:
        """Problems `PRAGMA integrity_check` and `foreign_key_check` report; empty when healthy."""
        conn = self.connection()
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [
            f"foreign key violation in {row[0]} rowid {row[1]} -> {row[2]}"
            for row in conn.execute("PRAGMA foreign_key_check")
        ]
        return problems

    def close(self) -> None:
        """Close every thread's connection. Idempotent."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    def _migrate(self) -> None:
        conn = self.connection()
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self._path} has schema version {version}, newer than this tinkex "
                f"({SCHEMA_VERSION}); upgrade tinkex or use another data directory"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
                )
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
