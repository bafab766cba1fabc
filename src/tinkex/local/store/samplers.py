"""Sampling sessions (sampler ids): what `GET /samplers/{id}` and `get_session` report."""

from __future__ import annotations

import sqlite3

from pristine.ports.clock import Clock
from tinkex.local.store.database import Database
from tinkex.local.store.errors import ConflictError, NotFoundError
from tinkex.local.store.names import parse_tinker_path, validate_identifier
from tinkex.local.store.records import SamplerRecord

__all__ = ["SamplerRepository"]


class SamplerRepository:
    """Record and look up sampling sessions."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def create(
        self,
        sampler_id: str,
        *,
        session_id: str,
        base_model: str,
        sampling_session_seq_id: int | None = None,
        model_path: str | None = None,
    ) -> SamplerRecord:
        """Record a sampler; `model_path`, when given, must be a valid `tinker://` path."""
        validate_identifier("sampler_id", sampler_id)
        if model_path is not None:
            parse_tinker_path(model_path, "model_path")
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO samplers (sampler_id, session_id, sampling_session_seq_id,"
                    " base_model, model_path, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        sampler_id,
                        session_id,
                        sampling_session_seq_id,
                        base_model,
                        model_path,
                        self._clock.wall(),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" in str(exc):
                raise NotFoundError("session", session_id) from None
            raise ConflictError(
                "sampler_id", f"{sampler_id!r} or its sampling_session_seq_id already exists"
            ) from None
        return self.get(sampler_id)

    def get(self, sampler_id: str) -> SamplerRecord:
        row = (
            self._db.connection()
            .execute("SELECT * FROM samplers WHERE sampler_id = ?", (sampler_id,))
            .fetchone()
        )
        if row is None:
            raise NotFoundError("sampler", sampler_id)
        return _sampler(row)

    def find(self, session_id: str, sampling_session_seq_id: int) -> SamplerRecord | None:
        """The sampler a retried `create_sampling_session` already made, if any."""
        row = (
            self._db.connection()
            .execute(
                "SELECT * FROM samplers WHERE session_id = ? AND sampling_session_seq_id = ?",
                (session_id, sampling_session_seq_id),
            )
            .fetchone()
        )
        return None if row is None else _sampler(row)

    def ids_for_session(self, session_id: str) -> list[str]:
        rows = self._db.connection().execute(
            "SELECT sampler_id FROM samplers WHERE session_id = ? ORDER BY created_at, sampler_id",
            (session_id,),
        )
        return [row[0] for row in rows]


def _sampler(row: sqlite3.Row) -> SamplerRecord:
    return SamplerRecord(
        sampler_id=row["sampler_id"],
        session_id=row["session_id"],
        sampling_session_seq_id=row["sampling_session_seq_id"],
        base_model=row["base_model"],
        model_path=row["model_path"],
        created_at=row["created_at"],
    )
