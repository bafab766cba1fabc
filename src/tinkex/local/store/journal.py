"""The futures journal: each request's state and result, so a restart can still answer polls.

Small results are stored inline; larger ones go to `DATA_DIR/results/<request_id>` so the
database stays small. On open, futures that were pending or running when the server stopped
are marked failed (category `server`): their work is gone and the client must resubmit.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from tinkex.local.store.database import Database
from tinkex.local.store.files import fsync_directory
from tinkex.local.store.names import validate_identifier
from tinkex.local.store.records import FutureRecord

__all__ = ["DEFAULT_INLINE_LIMIT", "INTERRUPTED_MESSAGE", "FutureJournal"]

DEFAULT_INLINE_LIMIT = 64 * 1024
INTERRUPTED_MESSAGE = "the server stopped before this request finished; submit it again"


class FutureJournal:
    """Rows of the `futures` table, written by the server-side future registry."""

    def __init__(self, db: Database, data_dir: Path, *, inline_limit: int = DEFAULT_INLINE_LIMIT):
        self._db = db
        self._results = data_dir / "results"
        self._inline_limit = inline_limit

    def record_submitted(
        self, request_id: str, *, model_id: str | None, kind: str, created_at: float
    ) -> None:
        validate_identifier("request_id", request_id)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO futures (request_id, model_id, kind, state, created_at)"
                " VALUES (?, ?, ?, 'pending', ?)",
                (request_id, model_id, kind, created_at),
            )

    def record_complete(
        self, request_id: str, *, finished_at: float, content_type: str, result: bytes
    ) -> None:
        inline: bytes | None = result
        location: str | None = None
        if len(result) > self._inline_limit:
            inline, location = None, self._write_result(request_id, result)
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE futures SET state = 'complete', finished_at = ?, content_type = ?,"
                " result_inline = ?, result_path = ? WHERE request_id = ?",
                (finished_at, content_type, inline, location, request_id),
            )

    def record_failed(
        self, request_id: str, *, finished_at: float, error: str, category: str
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE futures SET state = 'failed', finished_at = ?, error = ?,"
                " error_category = ? WHERE request_id = ?",
                (finished_at, error, category, request_id),
            )

    def get(self, request_id: str) -> FutureRecord | None:
        row = (
            self._db.connection()
            .execute("SELECT * FROM futures WHERE request_id = ?", (request_id,))
            .fetchone()
        )
        return None if row is None else self._record(row)

    def forget(self, request_ids: Iterable[str]) -> None:
        """Drop rows (and result files) whose retention has ended."""
        ids = list(request_ids)
        with self._db.transaction() as conn:
            conn.executemany("DELETE FROM futures WHERE request_id = ?", [(i,) for i in ids])
        for request_id in ids:
            (self._results / request_id).unlink(missing_ok=True)

    def fail_interrupted(self, now: float) -> int:
        """Mark every pending or running future failed (category server); return how many."""
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE futures SET state = 'failed', finished_at = ?, error = ?,"
                " error_category = 'server' WHERE state IN ('pending', 'running')",
                (now, INTERRUPTED_MESSAGE),
            )
        return cursor.rowcount

    def _write_result(self, request_id: str, result: bytes) -> str:
        self._results.mkdir(parents=True, exist_ok=True)
        target = self._results / request_id
        partial = target.with_name(f".{request_id}.partial")
        with partial.open("wb") as handle:
            handle.write(result)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
        fsync_directory(self._results)
        return request_id

    def _record(self, row: sqlite3.Row) -> FutureRecord:
        result: bytes | None = row["result_inline"]
        if row["result_path"] is not None:
            path = self._results / row["result_path"]
            result = path.read_bytes() if path.is_file() else None
        return FutureRecord(
            request_id=row["request_id"],
            model_id=row["model_id"],
            kind=row["kind"],
            state=row["state"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
            content_type=row["content_type"],
            result=result,
            error=row["error"],
            error_category=row["error_category"],
        )
