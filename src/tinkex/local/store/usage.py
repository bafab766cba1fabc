"""Token usage, for `GET /billing/usage/events`: what the server computed, per session.

Rows are raw (one per request); readers bucket them by UTC hour, as the official usage API
reports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pristine.ports.clock import Clock
from tinkex.local.store.database import Database

__all__ = ["HOUR_S", "UsageBucket", "UsageKind", "UsageLog"]

HOUR_S = 3600.0
UsageKind = Literal["training", "sampling_prefill", "sampling_sample"]


@dataclass(frozen=True)
class UsageBucket:
    """Tokens of one kind, session and base model within one UTC hour."""

    bucket_start: float
    kind: UsageKind
    session_id: str | None
    base_model: str | None
    token_count: int


class UsageLog:
    """Record token counts; sum them per hour."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        owner: str,
        kind: UsageKind,
        token_count: int,
        *,
        session_id: str | None,
        base_model: str | None,
    ) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO usage_events (at, owner, session_id, base_model, kind, token_count)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (self._clock.wall(), owner, session_id, base_model, kind, token_count),
            )

    def hourly(self, owner: str, start: float, end: float) -> list[UsageBucket]:
        """The owner's usage in `[start, end)` per hour, kind, session and model; by hour,
        then descending token count (the official ordering)."""
        rows = self._db.connection().execute(
            "SELECT CAST(at / ? AS INTEGER) * ? AS bucket, kind, session_id, base_model,"
            " SUM(token_count) AS tokens FROM usage_events"
            " WHERE owner = ? AND at >= ? AND at < ?"
            " GROUP BY bucket, kind, session_id, base_model"
            " ORDER BY bucket, tokens DESC, kind, session_id",
            (HOUR_S, HOUR_S, owner, start, end),
        )
        return [
            UsageBucket(
                float(row["bucket"]),
                row["kind"],
                row["session_id"],
                row["base_model"],
                int(row["tokens"]),
            )
            for row in rows
        ]
