"""Who may touch what: a run belongs to the key that created it; a checkpoint is readable
by its run's owner, and by everyone once published.

Objects a caller may not see are reported as not found, so ids of other keys' runs leak
nothing. With no keys configured every request has the same owner and this never refuses.
"""

from __future__ import annotations

from pathlib import Path

from tinkex.local.store import CheckpointRecord, NotFoundError, RunRecord, Store

__all__ = ["check_owner", "owned_run", "readable_checkpoint", "readable_checkpoint_dir"]


def owned_run(store: Store, owner: str, model_id: str) -> RunRecord:
    run = store.runs.get(model_id)
    if run.owner != owner:
        raise NotFoundError("training run", model_id)
    return run


def check_owner(store: Store, owner: str, model_id: str) -> None:
    """`owned_run` without building the record, for the hot path of training requests."""
    if store.runs.owner_of(model_id) != owner:
        raise NotFoundError("training run", model_id)


def readable_checkpoint(store: Store, owner: str, tinker_path: str) -> CheckpointRecord:
    record = store.checkpoints.get(tinker_path)
    if not record.public and store.runs.get(record.model_id).owner != owner:
        raise NotFoundError("checkpoint", record.tinker_path)
    return record


def readable_checkpoint_dir(store: Store, owner: str, tinker_path: str) -> Path:
    """Where a readable checkpoint's files are, for the engine to load (an audited read)."""
    record = readable_checkpoint(store, owner, tinker_path)
    store.checkpoints.record_read(record.tinker_path, reader=owner, purpose="load_weights")
    return store.data_dir / record.directory
