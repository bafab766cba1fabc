"""Checkpoints: crash-safe writes, listings, publish, TTL and deletion (files included).

Layout: `DATA_DIR/checkpoints/<model_id>/<weights|sampler_weights>/<name>/`. A writer fills a
staging directory under `DATA_DIR/tmp/`; publishing fsyncs it, computes its sha256, renames it
into place and records the row. A row in `pending_file_ops` brackets the rename, so recovery
(`recover`, run by `Store.open`) can remove whatever an interrupted write or delete left behind:
no reader ever sees half a checkpoint.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pristine.ports.clock import Clock
from tinkex.local.store.audit import AuditLog
from tinkex.local.store.columns import check_page, from_json, to_json
from tinkex.local.store.database import Database
from tinkex.local.store.errors import ConflictError, NotFoundError, UserInputError
from tinkex.local.store.files import fsync_directory, fsync_tree, remove_tree, tree_digest
from tinkex.local.store.names import (
    CheckpointKind,
    TinkerPath,
    checkpoint_kind_for_segment,
    parse_tinker_path,
)
from tinkex.local.store.records import CheckpointRecord, Page

__all__ = [
    "TTL_MAX_SECONDS",
    "TTL_MIN_SECONDS",
    "CheckpointDraft",
    "CheckpointRepository",
    "Storage",
    "checkpoint_from_row",
]

# The range the official API documents for `ttl_seconds`: 1 hour to 10 years.
TTL_MIN_SECONDS = 3600
TTL_MAX_SECONDS = 10 * 365 * 24 * 3600


class CheckpointDraft:
    """A staging directory to fill; `record` is set once the checkpoint is published."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.record: CheckpointRecord | None = None


@dataclass(frozen=True)
class Storage:
    """How many checkpoints, and how many bytes they take."""

    count: int
    size_bytes: int


class CheckpointRepository:
    """All checkpoint rows and their directories; every change is also an audit entry."""

    def __init__(self, db: Database, data_dir: Path, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit
        self._data_dir = data_dir
        self._root = data_dir / "checkpoints"
        self._staging_root = data_dir / "tmp"
        self._clock = clock
        # Serialises renames so two writers (or a writer and a delete) of one name never interleave.
        self._files_lock = threading.Lock()

    @contextmanager
    def writer(
        self,
        model_id: str,
        kind: CheckpointKind,
        name: str,
        *,
        ttl_seconds: int | None = None,
        user_metadata: Mapping[str, str] | None = None,
        overwrite: bool = False,
    ) -> Iterator[CheckpointDraft]:
        """Yield a draft whose `directory` the caller fills; publish it when the block exits.

        If the block raises, nothing is recorded and the staging directory is removed.
        """
        path = TinkerPath.build(model_id, kind, name)
        _check_ttl(ttl_seconds)
        _check_metadata(user_metadata)
        self._require_run(model_id)
        if not overwrite and self._row(path) is not None:
            raise _name_taken(path)
        self._staging_root.mkdir(parents=True, exist_ok=True)
        draft = CheckpointDraft(Path(tempfile.mkdtemp(prefix="ckpt-", dir=self._staging_root)))
        try:
            yield draft
            draft.record = self._publish(
                path, draft.directory, ttl_seconds, user_metadata, overwrite
            )
        finally:
            remove_tree(draft.directory)

    def get(self, tinker_path: str) -> CheckpointRecord:
        path = parse_tinker_path(tinker_path)
        row = self._row(path)
        if row is None:
            raise NotFoundError("checkpoint", str(path))
        return checkpoint_from_row(row)

    def directory(self, tinker_path: str) -> Path:
        """Where a recorded checkpoint's files are, for the engine to load."""
        return self._data_dir / self.get(tinker_path).directory

    def list_for_run(self, model_id: str) -> list[CheckpointRecord]:
        """A run's checkpoints, newest first."""
        self._require_run(model_id)
        rows = self._db.connection().execute(
            "SELECT * FROM checkpoints WHERE model_id = ? ORDER BY created_at DESC, tinker_path",
            (model_id,),
        )
        return [checkpoint_from_row(row) for row in rows]

    def list_for_owner(
        self, owner: str, *, limit: int = 100, offset: int = 0
    ) -> Page[CheckpointRecord]:
        """Every checkpoint of the owner's runs, newest first (`list_user_checkpoints`)."""
        check_page(limit, offset)
        conn = self._db.connection()
        join = "FROM checkpoints c JOIN training_runs r USING (model_id) WHERE r.owner = ?"
        total = conn.execute(f"SELECT count(*) {join}", (owner,)).fetchone()[0]
        rows = conn.execute(
            f"SELECT c.* {join} ORDER BY c.created_at DESC, c.tinker_path LIMIT ? OFFSET ?",
            (owner, limit, offset),
        )
        return Page([checkpoint_from_row(row) for row in rows], offset, limit, int(total))

    def storage(self, *, owner: str, session_id: str | None = None) -> dict[str | None, Storage]:
        """Checkpoints held now (count and bytes) per project of the session that made them,
        for the owner's runs (or one session's)."""
        sql = (
            "SELECT s.project_id AS project, count(*) AS n, coalesce(sum(c.size_bytes), 0) AS b"
            " FROM checkpoints c JOIN training_runs r USING (model_id)"
            " JOIN sessions s ON s.session_id = r.session_id WHERE r.owner = ?"
        )
        args: tuple[str, ...] = (owner,)
        if session_id is not None:
            sql += " AND r.session_id = ?"
            args += (session_id,)
        rows = self._db.connection().execute(sql + " GROUP BY s.project_id", args)
        return {row["project"]: Storage(int(row["n"]), int(row["b"])) for row in rows}

    def set_public(self, tinker_path: str, public: bool) -> CheckpointRecord:
        """Publish (`public=True`) or unpublish a checkpoint."""
        event = "checkpoint_publish" if public else "checkpoint_unpublish"
        return self._update(tinker_path, "public = ?", (int(public),), event, {})

    def set_ttl(self, tinker_path: str, ttl_seconds: int | None) -> CheckpointRecord:
        """Expire the checkpoint `ttl_seconds` from now, or never when `None`."""
        _check_ttl(ttl_seconds)
        expires_at = None if ttl_seconds is None else self._clock.wall() + ttl_seconds
        return self._update(
            tinker_path,
            "expires_at = ?",
            (expires_at,),
            "checkpoint_ttl_set",
            {"ttl_seconds": ttl_seconds},
        )

    def record_read(self, tinker_path: str, *, reader: str, purpose: str) -> None:
        """Audit that `reader` read the checkpoint's weights (to train, sample or download)."""
        path = parse_tinker_path(tinker_path)
        with self._db.transaction() as conn:
            self._log(conn, path, "checkpoint_read", {"reader": reader, "purpose": purpose})

    def delete(self, tinker_path: str, *, reason: str = "requested") -> None:
        """Remove the row and the files (`reason`: why, for the audit log)."""
        path = parse_tinker_path(tinker_path)
        with self._files_lock:
            with self._db.transaction() as conn:
                row = conn.execute(
                    "SELECT directory FROM checkpoints WHERE tinker_path = ?", (str(path),)
                ).fetchone()
                if row is None:
                    raise NotFoundError("checkpoint", str(path))
                directory: str = row["directory"]
                self._log(conn, path, "checkpoint_delete", {"reason": reason})
                conn.execute("DELETE FROM checkpoints WHERE tinker_path = ?", (str(path),))
                self._begin_file_op(conn, directory)
            remove_tree(self._data_dir / directory)
            self._end_file_op(directory)

    def sweep_expired(self, now: float) -> list[str]:
        """Delete every checkpoint whose `expires_at` is at or before `now`; return their paths."""
        rows = self._db.connection().execute(
            "SELECT tinker_path FROM checkpoints WHERE expires_at IS NOT NULL AND expires_at <= ?"
            " ORDER BY expires_at, tinker_path",
            (now,),
        )
        expired = [row[0] for row in rows]
        for tinker_path in expired:
            self.delete(tinker_path, reason="expired")
        return expired

    def verify(self, tinker_path: str) -> bool:
        """Recompute the checksum of the files and compare it with the recorded one."""
        record = self.get(tinker_path)
        directory = self._data_dir / record.directory
        if not directory.is_dir():
            return False
        return tree_digest(directory)[0] == record.sha256

    def recover(self) -> None:
        """Undo what a crash left: interrupted file operations, staging dirs, orphans."""
        conn = self._db.connection()
        for row in conn.execute("SELECT directory FROM pending_file_ops").fetchall():
            remove_tree(self._data_dir / row["directory"])
            with self._db.transaction() as tx:
                tx.execute("DELETE FROM checkpoints WHERE directory = ?", (row["directory"],))
                tx.execute("DELETE FROM pending_file_ops WHERE directory = ?", (row["directory"],))
        remove_tree(self._staging_root)
        recorded = {row[0] for row in conn.execute("SELECT directory FROM checkpoints")}
        for directory in self._root.glob("*/*/*"):
            if directory.relative_to(self._data_dir).as_posix() not in recorded:
                remove_tree(directory)
        missing = [d for d in recorded if not (self._data_dir / d).is_dir()]
        if missing:
            with self._db.transaction() as tx:
                tx.executemany(
                    "DELETE FROM checkpoints WHERE directory = ?", [(d,) for d in missing]
                )

    def _publish(
        self,
        path: TinkerPath,
        staging: Path,
        ttl_seconds: int | None,
        user_metadata: Mapping[str, str] | None,
        overwrite: bool,
    ) -> CheckpointRecord:
        fsync_tree(staging)
        sha256, size = tree_digest(staging)
        final = self._root / path.model_id / path.segment / path.name
        directory = final.relative_to(self._data_dir).as_posix()
        final.parent.mkdir(parents=True, exist_ok=True)
        with self._files_lock:
            with self._db.transaction() as conn:
                if not overwrite and self._row(path, conn) is not None:
                    raise _name_taken(path)
                self._begin_file_op(conn, directory)
            trash = None
            if final.exists():
                trash = self._staging_root / f"trash-{uuid.uuid4().hex}"
                os.rename(final, trash)
            os.rename(staging, final)
            fsync_directory(final.parent)
            now = self._clock.wall()
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO checkpoints (tinker_path, model_id, checkpoint_id,"
                    " checkpoint_type, created_at, size_bytes, public, expires_at, sha256,"
                    " directory, user_metadata) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                    (
                        str(path),
                        path.model_id,
                        path.checkpoint_id,
                        path.kind,
                        now,
                        size,
                        None if ttl_seconds is None else now + ttl_seconds,
                        sha256,
                        directory,
                        to_json(None if user_metadata is None else dict(user_metadata)),
                    ),
                )
                conn.execute(
                    "UPDATE training_runs SET last_request_at = ? WHERE model_id = ?",
                    (now, path.model_id),
                )
                conn.execute("DELETE FROM pending_file_ops WHERE directory = ?", (directory,))
                self._log(conn, path, "checkpoint_create", {"size_bytes": size})
            if trash is not None:
                remove_tree(trash)
        return self.get(str(path))

    def _begin_file_op(self, conn: sqlite3.Connection, directory: str) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO pending_file_ops (directory, started_at) VALUES (?, ?)",
            (directory, self._clock.wall()),
        )

    def _end_file_op(self, directory: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM pending_file_ops WHERE directory = ?", (directory,))

    def _update(
        self,
        tinker_path: str,
        assignment: str,
        args: tuple[object, ...],
        event: str,
        details: Mapping[str, object],
    ) -> CheckpointRecord:
        path = parse_tinker_path(tinker_path)
        with self._db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE checkpoints SET {assignment} WHERE tinker_path = ?", (*args, str(path))
            )
            if cursor.rowcount == 0:
                raise NotFoundError("checkpoint", str(path))
            self._log(conn, path, event, details)
        return self.get(str(path))

    def _log(
        self, conn: sqlite3.Connection, path: TinkerPath, event: str, details: Mapping[str, object]
    ) -> None:
        """An audit entry for the owner of the checkpoint's run, inside `conn`'s transaction."""
        row = conn.execute(
            "SELECT owner FROM training_runs WHERE model_id = ?", (path.model_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError("training run", path.model_id)
        entry = {
            "tinker_path": str(path),
            "model_id": path.model_id,
            "checkpoint_type": path.kind,
            **details,
        }
        self._audit.record(row["owner"], event, entry, conn)

    def _row(self, path: TinkerPath, conn: sqlite3.Connection | None = None) -> sqlite3.Row | None:
        conn = conn or self._db.connection()
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM checkpoints WHERE tinker_path = ?", (str(path),)
        ).fetchone()
        return row

    def _require_run(self, model_id: str) -> None:
        row = (
            self._db.connection()
            .execute("SELECT 1 FROM training_runs WHERE model_id = ?", (model_id,))
            .fetchone()
        )
        if row is None:
            raise NotFoundError("training run", model_id)


def checkpoint_from_row(row: sqlite3.Row) -> CheckpointRecord:
    """Build a record from a `checkpoints` row (also used by the run listing)."""
    segment, name = str(row["checkpoint_id"]).split("/", 1)
    kind = checkpoint_kind_for_segment(segment)
    return CheckpointRecord(
        path=TinkerPath(row["model_id"], kind, name),
        created_at=row["created_at"],
        size_bytes=row["size_bytes"],
        public=bool(row["public"]),
        expires_at=row["expires_at"],
        sha256=row["sha256"],
        directory=row["directory"],
        user_metadata=from_json(row["user_metadata"]),
    )


def _check_ttl(ttl_seconds: int | None) -> None:
    if ttl_seconds is None:
        return
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int):
        raise UserInputError("ttl_seconds", f"must be an integer or null, got {ttl_seconds!r}")
    if not TTL_MIN_SECONDS <= ttl_seconds <= TTL_MAX_SECONDS:
        raise UserInputError(
            "ttl_seconds",
            f"must be between {TTL_MIN_SECONDS} (1 hour) and {TTL_MAX_SECONDS} (10 years), "
            f"or null for no expiry; got {ttl_seconds}",
        )


def _check_metadata(user_metadata: Mapping[str, str] | None) -> None:
    if user_metadata is None:
        return
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in user_metadata.items()):
        raise UserInputError("user_metadata", "must map strings to strings")


def _name_taken(path: TinkerPath) -> ConflictError:
    """The fixes a client can apply: only `save_state` can replace a checkpoint in place."""
    replace = (
        "pass save_state(..., overwrite=True) to replace it, " if path.kind == "training" else ""
    )
    return ConflictError(
        "path",
        f"{path} already exists; save under another name, {replace}or delete it first "
        f"(`tinkex checkpoint delete {path}` or RestClient.delete_checkpoint_from_tinker_path)",
    )
