"""Training runs (models): what `create_model` made and the REST `training_runs` views show."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from pristine.ports.clock import Clock
from tinkex.local.store.checkpoints import checkpoint_from_row
from tinkex.local.store.columns import check_page, from_json, to_json
from tinkex.local.store.database import Database
from tinkex.local.store.errors import ConflictError, NotFoundError, UserInputError
from tinkex.local.store.names import validate_identifier
from tinkex.local.store.records import CheckpointRecord, LoraSettings, Page, RunRecord

__all__ = ["RunRepository"]


class RunRepository:
    """Create, get, list and annotate training runs."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def create(
        self,
        model_id: str,
        *,
        session_id: str,
        base_model: str,
        owner: str,
        lora: LoraSettings,
        model_seq_id: int | None = None,
        user_metadata: Mapping[str, object] | None = None,
        optimizer: str = "adamw",
    ) -> RunRecord:
        validate_identifier("model_id", model_id)
        if not base_model:
            raise UserInputError("base_model", "must name a model, got an empty string")
        if lora.rank is not None and lora.rank < 1:
            raise UserInputError("lora_config.rank", f"must be >= 1, got {lora.rank}")
        now = self._clock.wall()
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO training_runs (model_id, session_id, model_seq_id, owner,"
                    " base_model, is_lora, lora_rank, lora_seed, train_mlp, train_attn,"
                    " train_unembed, user_metadata, created_at, last_request_at, optimizer)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        model_id,
                        session_id,
                        model_seq_id,
                        owner,
                        base_model,
                        int(lora.rank is not None),
                        lora.rank,
                        lora.seed,
                        int(lora.train_mlp),
                        int(lora.train_attn),
                        int(lora.train_unembed),
                        to_json(None if user_metadata is None else dict(user_metadata)),
                        now,
                        now,
                        optimizer,
                    ),
                )
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" in str(exc):
                raise NotFoundError("session", session_id) from None
            raise ConflictError(
                "model_id", f"{model_id!r} (or model_seq_id {model_seq_id}) already exists"
            ) from None
        return self.get(model_id)

    def get(self, model_id: str) -> RunRecord:
        """The run with its newest training and sampler checkpoints."""
        return self._run(self._row(model_id, "*"))

    def owner_of(self, model_id: str) -> str:
        """The key that created the run: the ownership check of every training request,
        without `get`'s checkpoint lookups."""
        owner: str = self._row(model_id, "owner")[0]
        return owner

    def _row(self, model_id: str, columns: str) -> sqlite3.Row:
        row: sqlite3.Row | None = (
            self._db.connection()
            .execute(f"SELECT {columns} FROM training_runs WHERE model_id = ?", (model_id,))
            .fetchone()
        )
        if row is None:
            raise NotFoundError("training run", model_id)
        return row

    def list_page(
        self, *, owner: str | None = None, limit: int = 20, offset: int = 0
    ) -> Page[RunRecord]:
        """Newest first; `owner=None` lists every owner's runs."""
        check_page(limit, offset)
        conn = self._db.connection()
        where, args = ("WHERE owner = ?", (owner,)) if owner is not None else ("", ())
        total = conn.execute(f"SELECT count(*) FROM training_runs {where}", args).fetchone()[0]
        rows = conn.execute(
            f"SELECT * FROM training_runs {where} ORDER BY created_at DESC, model_id"
            " LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return Page([self._run(row) for row in rows], offset, limit, int(total))

    def ids_for_session(self, session_id: str) -> list[str]:
        rows = self._db.connection().execute(
            "SELECT model_id FROM training_runs WHERE session_id = ? ORDER BY created_at, model_id",
            (session_id,),
        )
        return [row[0] for row in rows]

    def touch(self, model_id: str) -> None:
        """Record that a request reached the model now."""
        self._update(model_id, "last_request_at = ?", (self._clock.wall(),))

    def mark_corrupted(self, model_id: str) -> None:
        """Flag a model whose state can no longer be trusted (a step died half way)."""
        self._update(model_id, "corrupted = 1", ())

    def _update(self, model_id: str, assignment: str, args: tuple[object, ...]) -> None:
        with self._db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE training_runs SET {assignment} WHERE model_id = ?", (*args, model_id)
            )
        if cursor.rowcount == 0:
            raise NotFoundError("training run", model_id)

    def _run(self, row: sqlite3.Row) -> RunRecord:
        model_id: str = row["model_id"]
        return RunRecord(
            model_id=model_id,
            session_id=row["session_id"],
            model_seq_id=row["model_seq_id"],
            owner=row["owner"],
            base_model=row["base_model"],
            lora=LoraSettings(
                rank=row["lora_rank"],
                seed=row["lora_seed"],
                train_mlp=bool(row["train_mlp"]),
                train_attn=bool(row["train_attn"]),
                train_unembed=bool(row["train_unembed"]),
            ),
            user_metadata=from_json(row["user_metadata"]),
            created_at=row["created_at"],
            last_request_at=row["last_request_at"],
            corrupted=bool(row["corrupted"]),
            optimizer=row["optimizer"],
            last_checkpoint=self._latest(model_id, "training"),
            last_sampler_checkpoint=self._latest(model_id, "sampler"),
        )

    def _latest(self, model_id: str, kind: str) -> CheckpointRecord | None:
        row = (
            self._db.connection()
            .execute(
                "SELECT * FROM checkpoints WHERE model_id = ? AND checkpoint_type = ?"
                " ORDER BY created_at DESC, tinker_path LIMIT 1",
                (model_id, kind),
            )
            .fetchone()
        )
        return None if row is None else checkpoint_from_row(row)
