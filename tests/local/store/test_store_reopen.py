from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pristine.testing import FakeClock
from tinkex.local.store import RunRecord, Store
from tinkex.local.store.database import SchemaVersionError
from tinkex.local.store.journal import INTERRUPTED_MESSAGE
from tinkex.local.store.schema import SCHEMA_VERSION

MakeRun = Callable[..., RunRecord]
WriteCheckpoint = Callable[..., str]


def test_reopening_keeps_runs_checkpoints_and_finished_futures(
    store: Store,
    data_dir: Path,
    clock: FakeClock,
    make_run: MakeRun,
    write_checkpoint: WriteCheckpoint,
) -> None:
    make_run()
    path = write_checkpoint("s1:train:0", "kept", ttl_seconds=7200)
    store.checkpoints.set_public(path, True)
    store.futures.record_submitted("done", model_id="s1:train:0", kind="optim_step", created_at=1)
    store.futures.record_complete(
        "done", finished_at=2, content_type="application/json", result=b"{}"
    )
    store.futures.record_submitted("queued", model_id="s1:train:0", kind="forward", created_at=1)
    store.futures.record_submitted("busy", model_id=None, kind="sample", created_at=1)
    before = store.checkpoints.get(path)
    store.close()

    with Store.open(data_dir, clock=clock) as reopened:
        assert reopened.runs.get("s1:train:0").last_checkpoint == before
        assert reopened.checkpoints.verify(path)
        assert reopened.checkpoints.get(path).public
        done = reopened.futures.get("done")
        assert done is not None
        assert (done.state, done.result) == ("complete", b"{}")
        for request_id in ("queued", "busy"):
            record = reopened.futures.get(request_id)
            assert record is not None
            assert (record.state, record.error_category) == ("failed", "server")
            assert record.error == INTERRUPTED_MESSAGE
        assert reopened.integrity_check() == []


def test_schema_version_is_recorded(store: Store, data_dir: Path) -> None:
    with sqlite3.connect(data_dir / "tinkex-local.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused(store: Store, data_dir: Path, clock: FakeClock) -> None:
    store.close()
    with sqlite3.connect(data_dir / "tinkex-local.sqlite3") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaVersionError, match="newer"):
        Store.open(data_dir, clock=clock)


def test_a_failed_migration_rolls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: FakeClock
) -> None:
    from tinkex.local.store import database

    monkeypatch.setattr(database, "MIGRATIONS", ("CREATE TABLE t (x);", "NOT SQL;"))
    monkeypatch.setattr(database, "SCHEMA_VERSION", 2)
    with pytest.raises(sqlite3.Error):
        database.Database(tmp_path / "db.sqlite3")
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_integrity_check_reports_foreign_key_violations(store: Store, data_dir: Path) -> None:
    assert store.integrity_check() == []
    with sqlite3.connect(data_dir / "tinkex-local.sqlite3") as conn:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute(
            "INSERT INTO training_runs (model_id, session_id, owner, base_model, is_lora,"
            " train_mlp, train_attn, train_unembed, created_at, last_request_at)"
            " VALUES ('m', 'ghost', 'o', 'b', 1, 1, 1, 1, 0, 0)"
        )
    problems = store.integrity_check()
    assert len(problems) == 1
    assert "training_runs" in problems[0]


def test_a_closed_store_says_how_to_reopen(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match=r"Store\.open"):
        store.sessions.get("x")


def test_threads_each_get_their_own_connection_and_see_each_others_writes(store: Store) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work(i: int) -> None:
        try:
            barrier.wait()
            store.sessions.create(f"t{i}", sdk_version="x", owner="o")
            store.sessions.heartbeat(f"t{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.sessions.list_page().total_count == 6
