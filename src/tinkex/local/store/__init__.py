"""Durable state of the local server: SQLite rows plus checkpoint directories."""

from tinkex.local.store.checkpoints import TTL_MAX_SECONDS, TTL_MIN_SECONDS, CheckpointDraft
from tinkex.local.store.errors import ConflictError, NotFoundError, UserInputError
from tinkex.local.store.journal import FutureJournal
from tinkex.local.store.names import (
    CheckpointKind,
    TinkerPath,
    parse_tinker_path,
    training_run_id,
    validate_identifier,
    validate_name,
)
from tinkex.local.store.records import (
    CheckpointRecord,
    FutureRecord,
    LoraSettings,
    Page,
    RunRecord,
    SamplerRecord,
    SessionRecord,
)
from tinkex.local.store.store import Store

__all__ = [
    "TTL_MAX_SECONDS",
    "TTL_MIN_SECONDS",
    "CheckpointDraft",
    "CheckpointKind",
    "CheckpointRecord",
    "ConflictError",
    "FutureJournal",
    "FutureRecord",
    "LoraSettings",
    "NotFoundError",
    "Page",
    "RunRecord",
    "SamplerRecord",
    "SessionRecord",
    "Store",
    "TinkerPath",
    "UserInputError",
    "parse_tinker_path",
    "training_run_id",
    "validate_identifier",
    "validate_name",
]
