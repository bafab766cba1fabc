from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pristine.testing import FakeClock
from tinkex.local.store import (
    TTL_MIN_SECONDS,
    ConflictError,
    NotFoundError,
    RunRecord,
    Store,
    UserInputError,
)

MakeRun = Callable[..., RunRecord]
WriteCheckpoint = Callable[..., str]


def test_a_written_checkpoint_is_recorded_with_checksum_size_and_directory(
    store: Store, data_dir: Path, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    path = write_checkpoint("s1:train:0", "000001", payload=b"abc")
    record = store.checkpoints.get(path)
    assert path == "tinker://s1:train:0/weights/000001"
    assert record.checkpoint_id == "weights/000001"
    assert record.kind == "training"
    assert record.model_id == "s1:train:0"
    assert record.size_bytes == 6
    assert len(record.sha256) == 64
    assert record.directory == "checkpoints/s1:train:0/weights/000001"
    assert store.checkpoints.directory(path) == data_dir / record.directory
    assert (data_dir / record.directory / "nested" / "optimizer.safetensors").read_bytes() == b"cba"
    assert store.checkpoints.verify(path)
    assert not any((data_dir / "tmp").glob("*"))


def test_sampler_checkpoints_live_under_sampler_weights(
    store: Store, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    path = write_checkpoint("s1:train:0", "final", kind="sampler")
    assert path == "tinker://s1:train:0/sampler_weights/final"
    assert store.checkpoints.get(path).kind == "sampler"


def test_an_abandoned_write_leaves_nothing_visible(
    store: Store, data_dir: Path, make_run: MakeRun
) -> None:
    make_run()

    def abandon() -> None:
        with store.checkpoints.writer("s1:train:0", "training", "half") as draft:
            (draft.directory / "adapter_model.safetensors").write_bytes(b"partial")
            raise RuntimeError("crash while saving")

    with pytest.raises(RuntimeError, match="crash"):
        abandon()
    assert store.checkpoints.list_for_run("s1:train:0") == []
    assert not (data_dir / "checkpoints" / "s1:train:0" / "weights" / "half").exists()
    assert not any((data_dir / "tmp").glob("*"))
    with pytest.raises(NotFoundError):
        store.checkpoints.get("tinker://s1:train:0/weights/half")


def test_a_crash_mid_publish_is_undone_when_the_store_reopens(
    store: Store,
    data_dir: Path,
    clock: FakeClock,
    make_run: MakeRun,
    write_checkpoint: WriteCheckpoint,
) -> None:
    make_run()
    kept = write_checkpoint("s1:train:0", "kept")
    store.close()
    # What a crash leaves: a staging dir, a renamed dir whose row never committed (bracketed by
    # a pending_file_ops row), and an orphan directory a lost commit left behind.
    run_dir = data_dir / "checkpoints" / "s1:train:0" / "weights"
    (data_dir / "tmp" / "ckpt-abandoned").mkdir(parents=True)
    (run_dir / "renamed").mkdir()
    (run_dir / "renamed" / "adapter.bin").write_bytes(b"x")
    (run_dir / "orphan").mkdir()
    with sqlite3.connect(data_dir / "tinkex-local.sqlite3") as conn:
        conn.execute(
            "INSERT INTO pending_file_ops VALUES (?, 0)",
            ("checkpoints/s1:train:0/weights/renamed",),
        )
    with Store.open(data_dir, clock=clock) as reopened:
        assert [c.tinker_path for c in reopened.checkpoints.list_for_run("s1:train:0")] == [kept]
        assert reopened.checkpoints.verify(kept)
        assert not (run_dir / "renamed").exists()
        assert not (run_dir / "orphan").exists()
        assert not any((data_dir / "tmp").glob("*"))
        assert reopened.integrity_check() == []


def test_a_row_whose_directory_vanished_is_dropped_on_reopen(
    store: Store,
    data_dir: Path,
    clock: FakeClock,
    make_run: MakeRun,
    write_checkpoint: WriteCheckpoint,
) -> None:
    make_run()
    gone = write_checkpoint("s1:train:0", "gone")
    directory = store.checkpoints.directory(gone)
    store.close()
    shutil.rmtree(directory)
    with Store.open(data_dir, clock=clock) as reopened:
        assert reopened.checkpoints.list_for_run("s1:train:0") == []


def test_existing_names_conflict_unless_overwrite(
    store: Store, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    path = write_checkpoint("s1:train:0", "x", payload=b"one")
    first = store.checkpoints.get(path).sha256
    with pytest.raises(ConflictError, match="overwrite"):
        write_checkpoint("s1:train:0", "x", payload=b"two")
    write_checkpoint("s1:train:0", "x", payload=b"two", overwrite=True)
    assert store.checkpoints.get(path).sha256 != first
    assert store.checkpoints.verify(path)
    assert len(store.checkpoints.list_for_run("s1:train:0")) == 1


@pytest.mark.parametrize(
    ("kind", "overwrite_hint"),
    [("training", True), ("sampler", False), ("external", False)],
)
def test_a_taken_name_names_fixes_the_caller_can_apply(
    make_run: MakeRun, write_checkpoint: WriteCheckpoint, kind: str, overwrite_hint: bool
) -> None:
    """Only `save_state` has an `overwrite` parameter (official 0.38 and ours); every kind
    can take another name or delete the old checkpoint first."""
    make_run()
    path = write_checkpoint("s1:train:0", "x", kind=kind)
    with pytest.raises(ConflictError) as taken:
        write_checkpoint("s1:train:0", "x", kind=kind)
    message = str(taken.value)
    assert path in message
    assert "another name" in message
    assert f"tinkex checkpoint delete {path}" in message
    assert "delete_checkpoint_from_tinker_path" in message
    assert ("save_state(..., overwrite=True)" in message) is overwrite_hint
    assert ("pass overwrite=True" in message) is False


def test_a_name_taken_while_the_writer_was_filling_is_a_conflict(
    store: Store, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()

    def lose_the_race() -> None:
        with store.checkpoints.writer("s1:train:0", "training", "race") as draft:
            (draft.directory / "a").write_bytes(b"1")
            write_checkpoint("s1:train:0", "race")

    with pytest.raises(ConflictError):
        lose_the_race()
    assert store.checkpoints.verify("tinker://s1:train:0/weights/race")


def test_writing_for_an_unknown_run_is_not_found(
    store: Store, write_checkpoint: WriteCheckpoint
) -> None:
    with pytest.raises(NotFoundError, match="training run"):
        write_checkpoint("nobody:train:0", "x")


@pytest.mark.parametrize("name", ["..", "../../etc", "a/b", "", "x" * 200, "a\x00"])
def test_writer_refuses_traversal_names(
    store: Store, name: str, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    with pytest.raises(UserInputError, match=r"^name: "):
        write_checkpoint("s1:train:0", name)


def test_verify_detects_tampering_and_missing_files(
    store: Store, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    path = write_checkpoint("s1:train:0", "t")
    directory = store.checkpoints.directory(path)
    (directory / "adapter_model.safetensors").write_bytes(b"tampered")
    assert not store.checkpoints.verify(path)
    shutil.rmtree(directory)
    assert not store.checkpoints.verify(path)


def test_symlinks_inside_a_checkpoint_are_refused(
    store: Store, tmp_path: Path, make_run: MakeRun
) -> None:
    make_run()
    with (
        pytest.raises(ValueError, match="symlink"),
        store.checkpoints.writer("s1:train:0", "training", "link") as draft,
    ):
        (draft.directory / "escape").symlink_to(tmp_path)
    assert store.checkpoints.list_for_run("s1:train:0") == []


def test_delete_removes_row_and_files(
    store: Store, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    path = write_checkpoint("s1:train:0", "d")
    directory = store.checkpoints.directory(path)
    store.checkpoints.delete(path)
    assert not directory.exists()
    with pytest.raises(NotFoundError):
        store.checkpoints.get(path)
    with pytest.raises(NotFoundError):
        store.checkpoints.delete(path)


def test_publish_and_unpublish(
    store: Store, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    path = write_checkpoint("s1:train:0", "p")
    assert not store.checkpoints.get(path).public
    assert store.checkpoints.set_public(path, True).public
    assert not store.checkpoints.set_public(path, False).public
    with pytest.raises(NotFoundError):
        store.checkpoints.set_public("tinker://s1:train:0/weights/none", True)


def test_ttl_is_set_removed_and_swept(
    store: Store, clock: FakeClock, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    short = write_checkpoint("s1:train:0", "short", ttl_seconds=TTL_MIN_SECONDS)
    longer = write_checkpoint("s1:train:0", "long")
    forever = write_checkpoint("s1:train:0", "forever")
    start = clock.wall()
    assert store.checkpoints.get(short).expires_at == start + TTL_MIN_SECONDS
    assert store.checkpoints.set_ttl(longer, 2 * TTL_MIN_SECONDS).expires_at == (
        start + 2 * TTL_MIN_SECONDS
    )
    store.checkpoints.set_ttl(forever, TTL_MIN_SECONDS)
    assert store.checkpoints.set_ttl(forever, None).expires_at is None

    assert store.checkpoints.sweep_expired(start + TTL_MIN_SECONDS - 1) == []
    assert store.checkpoints.sweep_expired(start + TTL_MIN_SECONDS) == [short]
    assert store.checkpoints.sweep_expired(start + 10 * TTL_MIN_SECONDS) == [longer]
    assert [c.tinker_path for c in store.checkpoints.list_for_run("s1:train:0")] == [forever]


@pytest.mark.parametrize("ttl", [0, 59, TTL_MIN_SECONDS - 1, 10**10, -5, True, 1.5])
def test_out_of_range_ttl_is_refused(
    store: Store, ttl: object, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    path = write_checkpoint("s1:train:0", "t")
    with pytest.raises(UserInputError, match=r"^ttl_seconds: "):
        store.checkpoints.set_ttl(path, ttl)  # type: ignore[arg-type]


def test_checkpoint_user_metadata_must_be_strings(store: Store, make_run: MakeRun) -> None:
    make_run()
    with (
        pytest.raises(UserInputError, match=r"^user_metadata: "),
        store.checkpoints.writer("s1:train:0", "training", "m", user_metadata={"a": 1}),  # type: ignore[dict-item]
    ):
        pass
    with store.checkpoints.writer(
        "s1:train:0", "training", "m", user_metadata={"step": "5"}
    ) as draft:
        (draft.directory / "f").write_bytes(b"")
    assert draft.record is not None
    assert draft.record.user_metadata == {"step": "5"}


def test_list_for_run_is_newest_first_and_needs_a_known_run(
    store: Store, clock: FakeClock, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    names = []
    for i in range(3):
        names.append(write_checkpoint("s1:train:0", f"{i:06d}"))
        clock.advance(1)
    assert [c.tinker_path for c in store.checkpoints.list_for_run("s1:train:0")] == names[::-1]
    with pytest.raises(NotFoundError):
        store.checkpoints.list_for_run("missing")


def test_user_checkpoints_paginate_newest_first_per_owner(
    store: Store, clock: FakeClock, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run("a:train:0", owner="alice")
    make_run("a:train:1", owner="alice")
    make_run("b:train:0", owner="bob")
    written = []
    for i in range(7):
        written.append(write_checkpoint(f"a:train:{i % 2}", f"c{i}"))
        clock.advance(1)
    write_checkpoint("b:train:0", "theirs")
    pages = [store.checkpoints.list_for_owner("alice", limit=3, offset=o) for o in (0, 3, 6)]
    assert [p.total_count for p in pages] == [7, 7, 7]
    assert [c.tinker_path for p in pages for c in p.items] == written[::-1]
    assert (pages[1].offset, pages[1].limit) == (3, 3)
    assert store.checkpoints.list_for_owner("alice", limit=3, offset=9).items == []


@pytest.mark.parametrize(
    ("limit", "offset", "field"), [(0, 0, "limit"), (1001, 0, "limit"), (5, -1, "offset")]
)
def test_bad_page_bounds_are_refused(store: Store, limit: int, offset: int, field: str) -> None:
    with pytest.raises(UserInputError, match=rf"^{field}: "):
        store.checkpoints.list_for_owner("alice", limit=limit, offset=offset)


def test_concurrent_writers_from_threads_all_land(
    store: Store, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            write_checkpoint("s1:train:0", f"t{i}", payload=bytes([i]) * 100)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    records = store.checkpoints.list_for_run("s1:train:0")
    assert len(records) == 8
    assert all(store.checkpoints.verify(r.tinker_path) for r in records)


@pytest.mark.parametrize(
    "path",
    ["tinker://../weights/x", "tinker://s1:train:0/weights/..", "/etc/passwd", "tinker://a/b/c/d"],
)
def test_every_path_taking_call_refuses_traversal(store: Store, path: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.checkpoints.get(path),
        lambda: store.checkpoints.delete(path),
        lambda: store.checkpoints.set_public(path, True),
        lambda: store.checkpoints.set_ttl(path, None),
        lambda: store.checkpoints.verify(path),
        lambda: store.checkpoints.directory(path),
    ]
    for call in calls:
        with pytest.raises(UserInputError, match=r"^path: "):
            call()
