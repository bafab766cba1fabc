"""The SQLite schema, as numbered migrations applied in order and tracked in `PRAGMA user_version`.

Times are seconds since the epoch (REAL), taken from the injected clock. JSON columns hold
`user_metadata` and `tags`. Add a migration by appending to `MIGRATIONS`; never edit a shipped one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

_V1 = """
CREATE TABLE sessions (
    session_id        TEXT PRIMARY KEY,
    owner             TEXT NOT NULL,
    created_at        REAL NOT NULL,
    last_heartbeat_at REAL NOT NULL,
    sdk_version       TEXT NOT NULL,
    tags              TEXT NOT NULL DEFAULT '[]',
    user_metadata     TEXT,
    project_id        TEXT,
    display_name      TEXT,
    finished_at       REAL,
    finish_reason     TEXT
);
CREATE INDEX sessions_by_time ON sessions (created_at DESC, session_id);

CREATE TABLE training_runs (
    model_id        TEXT PRIMARY KEY,
    session_id      TEXT NOT NULL REFERENCES sessions (session_id),
    model_seq_id    INTEGER,
    owner           TEXT NOT NULL,
    base_model      TEXT NOT NULL,
    is_lora         INTEGER NOT NULL,
    lora_rank       INTEGER,
    lora_seed       INTEGER,
    train_mlp       INTEGER NOT NULL,
    train_attn      INTEGER NOT NULL,
    train_unembed   INTEGER NOT NULL,
    user_metadata   TEXT,
    created_at      REAL NOT NULL,
    last_request_at REAL NOT NULL,
    corrupted       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (session_id, model_seq_id)
);
CREATE INDEX runs_by_time ON training_runs (owner, created_at DESC, model_id);

CREATE TABLE checkpoints (
    tinker_path     TEXT PRIMARY KEY,
    model_id        TEXT NOT NULL REFERENCES training_runs (model_id) ON DELETE CASCADE,
    checkpoint_id   TEXT NOT NULL,
    checkpoint_type TEXT NOT NULL CHECK (checkpoint_type IN ('training', 'sampler')),
    created_at      REAL NOT NULL,
    size_bytes      INTEGER NOT NULL,
    public          INTEGER NOT NULL DEFAULT 0,
    expires_at      REAL,
    sha256          TEXT NOT NULL,
    directory       TEXT NOT NULL UNIQUE,
    user_metadata   TEXT,
    UNIQUE (model_id, checkpoint_id)
);
CREATE INDEX checkpoints_by_time ON checkpoints (created_at DESC, tinker_path);
CREATE INDEX checkpoints_by_expiry ON checkpoints (expires_at) WHERE expires_at IS NOT NULL;

-- A directory whose contents cannot be trusted until the operation that wrote this row
-- finishes; recovery removes the directory and its checkpoint row.
CREATE TABLE pending_file_ops (
    directory  TEXT PRIMARY KEY,
    started_at REAL NOT NULL
);

CREATE TABLE samplers (
    sampler_id              TEXT PRIMARY KEY,
    session_id              TEXT NOT NULL REFERENCES sessions (session_id),
    sampling_session_seq_id INTEGER,
    base_model              TEXT NOT NULL,
    model_path              TEXT,
    created_at              REAL NOT NULL,
    UNIQUE (session_id, sampling_session_seq_id)
);

CREATE TABLE futures (
    request_id     TEXT PRIMARY KEY,
    model_id       TEXT,
    kind           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'running', 'complete', 'failed')),
    created_at     REAL NOT NULL,
    finished_at    REAL,
    content_type   TEXT,
    result_inline  BLOB,
    result_path    TEXT,
    error          TEXT,
    error_category TEXT
);
CREATE INDEX futures_unfinished ON futures (state) WHERE state IN ('pending', 'running');
"""

# v2: external-weights checkpoints (SQLite cannot alter a CHECK, so the table is rebuilt), the
# optimizer family of each run, and the audit and usage logs behind the admin endpoints.
_V2 = """
ALTER TABLE training_runs ADD COLUMN optimizer TEXT NOT NULL DEFAULT 'adamw';

CREATE TABLE checkpoints_v2 (
    tinker_path     TEXT PRIMARY KEY,
    model_id        TEXT NOT NULL REFERENCES training_runs (model_id) ON DELETE CASCADE,
    checkpoint_id   TEXT NOT NULL,
    checkpoint_type TEXT NOT NULL CHECK (checkpoint_type IN ('training', 'sampler', 'external')),
    created_at      REAL NOT NULL,
    size_bytes      INTEGER NOT NULL,
    public          INTEGER NOT NULL DEFAULT 0,
    expires_at      REAL,
    sha256          TEXT NOT NULL,
    directory       TEXT NOT NULL UNIQUE,
    user_metadata   TEXT,
    UNIQUE (model_id, checkpoint_id)
);
INSERT INTO checkpoints_v2 SELECT * FROM checkpoints;
DROP TABLE checkpoints;
ALTER TABLE checkpoints_v2 RENAME TO checkpoints;
CREATE INDEX checkpoints_by_time ON checkpoints (created_at DESC, tinker_path);
CREATE INDEX checkpoints_by_expiry ON checkpoints (expires_at) WHERE expires_at IS NOT NULL;

-- What the server did, for GET /audit: `event` is `<resource>_<action>`.
CREATE TABLE audit_events (
    event_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at         REAL NOT NULL,
    owner      TEXT NOT NULL,
    event      TEXT NOT NULL,
    details    TEXT NOT NULL
);
CREATE INDEX audit_by_owner_time ON audit_events (owner, at);

-- Tokens processed, for GET /billing/usage/events (bucketed by hour when read).
CREATE TABLE usage_events (
    usage_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    at          REAL NOT NULL,
    owner       TEXT NOT NULL,
    session_id  TEXT,
    base_model  TEXT,
    kind        TEXT NOT NULL
                CHECK (kind IN ('training', 'sampling_prefill', 'sampling_sample')),
    token_count INTEGER NOT NULL
);
CREATE INDEX usage_by_owner_time ON usage_events (owner, at);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2)
SCHEMA_VERSION = len(MIGRATIONS)
