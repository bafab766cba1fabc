"""The audit log: what the server did to checkpoints, for `GET /audit`.

Why in the store: entries are written in the same place as the change they describe, so the
log never claims an action that did not happen. Each entry belongs to the owner of the
checkpoint's run (the "organization" of a local server) and names the actor in its details.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from pristine.ports.clock import Clock
from tinkex.local.store.columns import from_json, to_json
from tinkex.local.store.database import Database

__all__ = ["AuditEntry", "AuditLog"]


@dataclass(frozen=True)
class AuditEntry:
    at: float
    event: str
    """`<resource>_<action>`, e.g. `checkpoint_create`."""
    details: dict[str, object]


class AuditLog:
    """Append and read audit entries."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        owner: str,
        event: str,
        details: Mapping[str, object],
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Append one entry; pass `conn` to write inside the caller's transaction."""
        row = (self._clock.wall(), owner, event, to_json(dict(details)))
        sql = "INSERT INTO audit_events (at, owner, event, details) VALUES (?, ?, ?, ?)"
        if conn is not None:
            conn.execute(sql, row)
            return
        with self._db.transaction() as tx:
            tx.execute(sql, row)

    def entries(
        self, owner: str, start: float, end: float, resource: str | None = None
    ) -> list[AuditEntry]:
        """The owner's entries in `[start, end)`, oldest first; `resource` keeps only events
        named `<resource>_...`."""
        rows = self._db.connection().execute(
            "SELECT at, event, details FROM audit_events WHERE owner = ? AND at >= ? AND at < ?"
            " ORDER BY at, event_id",
            (owner, start, end),
        )
        return [
            AuditEntry(row["at"], row["event"], from_json(row["details"]))
            for row in rows
            if resource is None or row["event"].startswith(f"{resource}_")
        ]
