from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pristine.testing import FakeClock
from tinkex.local.store import CheckpointKind, LoraSettings, RunRecord, Store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path, clock: FakeClock) -> Iterator[Store]:
    with Store.open(data_dir, clock=clock) as opened:
        yield opened


def _make_run(store: Store, model_id: str = "s1:train:0", owner: str = "alice") -> RunRecord:
    """A session (created on first use) and one LoRA run in it."""
    session_id = model_id.split(":", 1)[0]
    if session_id not in {s.session_id for s in store.sessions.list_page(limit=1000).items}:
        store.sessions.create(session_id, sdk_version="0.38.0", owner=owner)
    return store.runs.create(
        model_id,
        session_id=session_id,
        base_model="tiny-llama",
        owner=owner,
        lora=LoraSettings(rank=8, seed=3, train_unembed=False),
        user_metadata={"renderer_name": "llama3"},
    )


def _write_checkpoint(
    store: Store,
    model_id: str,
    name: str,
    *,
    kind: CheckpointKind = "training",
    payload: bytes = b"weights",
    ttl_seconds: int | None = None,
    overwrite: bool = False,
) -> str:
    with store.checkpoints.writer(
        model_id,
        kind,
        name,
        ttl_seconds=ttl_seconds,
        overwrite=overwrite,
    ) as draft:
        (draft.directory / "adapter_model.safetensors").write_bytes(payload)
        (draft.directory / "nested").mkdir()
        (draft.directory / "nested" / "optimizer.safetensors").write_bytes(payload[::-1])
    assert draft.record is not None
    return draft.record.tinker_path


MakeRun = Callable[..., RunRecord]
WriteCheckpoint = Callable[..., str]


@pytest.fixture
def make_run(store: Store) -> MakeRun:
    """`make_run(model_id="s1:train:0", owner="alice")`."""
    return lambda *args, **kwargs: _make_run(store, *args, **kwargs)


@pytest.fixture
def write_checkpoint(store: Store) -> WriteCheckpoint:
    """`write_checkpoint(model_id, name, kind=..., payload=..., ttl_seconds=..., overwrite=...)`."""
    return lambda *args, **kwargs: _write_checkpoint(store, *args, **kwargs)
