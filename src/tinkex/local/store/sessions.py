"""Sessions: one per connected client (`create_session`), kept alive by heartbeats."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence

from pristine.ports.clock import Clock
from tinkex.local.store.columns import check_page, from_json, to_json
from tinkex.local.store.database import Database
from tinkex.local.store.errors import ConflictError, NotFoundError, UserInputError
from tinkex.local.store.names import validate_identifier
from tinkex.local.store.records import Page, SessionRecord

__all__ = ["SessionRepository"]


class SessionRepository:
    """Create, heartbeat, finish, get and list sessions."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def create(
        self,
        session_id: str,
        *,
        sdk_version: str,
        owner: str,
        tags: Sequence[str] = (),
        user_metadata: Mapping[str, object] | None = None,
        project_id: str | None = None,
        display_name: str | None = None,
    ) -> SessionRecord:
        validate_identifier("session_id", session_id)
        if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
            raise UserInputError("tags", "must be a list of strings")
        now = self._clock.wall()
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO sessions (session_id, owner, created_at, last_heartbeat_at,"
                    " sdk_version, tags, user_metadata, project_id, display_name)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        session_id,
                        owner,
                        now,
                        now,
                        sdk_version,
                        to_json(list(tags)),
                        to_json(None if user_metadata is None else dict(user_metadata)),
                        project_id,
                        display_name,
                    ),
                )
        except sqlite3.IntegrityError:
            raise ConflictError("session_id", f"{session_id!r} already exists") from None
        return self.get(session_id)

    def heartbeat(self, session_id: str) -> None:
        """Record that the client is still alive."""
        self._update(session_id, "last_heartbeat_at = ?", (self._clock.wall(),))

    def finish(self, session_id: str, reason: str) -> None:
        """Record the client's `sessions/{id}/finish` call."""
        self._update(session_id, "finished_at = ?, finish_reason = ?", (self._clock.wall(), reason))

    def get(self, session_id: str) -> SessionRecord:
        row = (
            self._db.connection()
            .execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,))
            .fetchone()
        )
        if row is None:
            raise NotFoundError("session", session_id)
        return _session(row)

    def list_page(
        self, *, owner: str | None = None, limit: int = 20, offset: int = 0
    ) -> Page[SessionRecord]:
        """Newest first; `owner=None` lists every owner's sessions."""
        check_page(limit, offset)
        conn = self._db.connection()
        where, args = ("WHERE owner = ?", (owner,)) if owner is not None else ("", ())
        total = conn.execute(f"SELECT count(*) FROM sessions {where}", args).fetchone()[0]
        rows = conn.execute(
            f"SELECT * FROM sessions {where} ORDER BY created_at DESC, session_id LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return Page([_session(row) for row in rows], offset, limit, int(total))

    def newest_first(self, owner: str | None) -> Iterator[SessionRecord]:
        """Sessions newest first (ties by id); `owner=None` means every owner's. Lazy, for
        searches that filter and stop after a page."""
        where, args = ("WHERE owner = ?", (owner,)) if owner is not None else ("", ())
        rows = self._db.connection().execute(
            f"SELECT * FROM sessions {where} ORDER BY created_at DESC, session_id", args
        )
        for row in rows:
            yield _session(row)

    def _update(self, session_id: str, assignments: str, args: tuple[object, ...]) -> None:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE sessions SET {assignments} WHERE session_id = ?", (*args, session_id)
            )
        if cursor.rowcount == 0:
            raise NotFoundError("session", session_id)


def _session(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(
        session_id=row["session_id"],
        owner=row["owner"],
        created_at=row["created_at"],
        last_heartbeat_at=row["last_heartbeat_at"],
        sdk_version=row["sdk_version"],
        tags=from_json(row["tags"]),
        user_metadata=from_json(row["user_metadata"]),
        project_id=row["project_id"],
        display_name=row["display_name"],
        finished_at=row["finished_at"],
        finish_reason=row["finish_reason"],
    )
