"""Schema v2 upgrades a v1 database in place: checkpoints survive the table rebuild, runs get
the AdamW default, and the new kinds and logs work."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pristine.testing import FakeClock
from tinkex.local.store import LoraSettings, Store
from tinkex.local.store.schema import MIGRATIONS, SCHEMA_VERSION
from tinkex.local.store.store import DATABASE_NAME

PATH = "tinker://s1:train:0/weights/old"
DIRECTORY = "checkpoints/s1:train:0/weights/old"


def _v1_database(data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / DATABASE_NAME)
    conn.executescript(f"BEGIN;\n{MIGRATIONS[0]}\nPRAGMA user_version = 1;\nCOMMIT;")
    conn.executescript(
        "INSERT INTO sessions (session_id, owner, created_at, last_heartbeat_at, sdk_version)"
        " VALUES ('s1', 'alice', 1, 1, 'v');"
        "INSERT INTO training_runs (model_id, session_id, model_seq_id, owner, base_model,"
        " is_lora, lora_rank, train_mlp, train_attn, train_unembed, created_at,"
        " last_request_at) VALUES ('s1:train:0', 's1', 0, 'alice', 'm', 1, 4, 1, 1, 1, 1, 1);"
        "INSERT INTO checkpoints (tinker_path, model_id, checkpoint_id, checkpoint_type,"
        " created_at, size_bytes, sha256, directory) VALUES"
        f" ('{PATH}', 's1:train:0', 'weights/old', 'training', 1, 3, 'x', '{DIRECTORY}');"
    )
    conn.close()
    (data_dir / DIRECTORY).mkdir(parents=True)


def test_v1_database_upgrades_in_place(tmp_path: Path) -> None:
    _v1_database(tmp_path)
    clock = FakeClock()
    with Store.open(tmp_path, clock=clock) as store:
        assert store.integrity_check() == []
    version = sqlite3.connect(tmp_path / DATABASE_NAME).execute("PRAGMA user_version").fetchone()
    assert version[0] == SCHEMA_VERSION == 2
    with Store.open(tmp_path, clock=clock) as store:
        assert store.checkpoints.get(PATH).size_bytes == 3
        assert store.runs.get("s1:train:0").optimizer == "adamw"
        with store.checkpoints.writer("s1:train:0", "external", "hf") as draft:
            (draft.directory / "adapter_config.json").write_text("{}")
        assert draft.record is not None
        assert draft.record.tinker_path == "tinker://s1:train:0/external_weights/hf"
        store.runs.create(
            "s1:train:1",
            session_id="s1",
            base_model="m",
            owner="alice",
            lora=LoraSettings(rank=2),
            optimizer="dimuon",
        )
        assert store.runs.get("s1:train:1").optimizer == "dimuon"
        events = [e.event for e in store.audit.entries("alice", 0, clock.wall() + 1)]
        assert events == ["checkpoint_create"]
