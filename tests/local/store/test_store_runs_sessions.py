from __future__ import annotations

from collections.abc import Callable

import pytest

from pristine.testing import FakeClock
from tinkex.local.store import (
    ConflictError,
    LoraSettings,
    NotFoundError,
    RunRecord,
    Store,
    UserInputError,
)

MakeRun = Callable[..., RunRecord]
WriteCheckpoint = Callable[..., str]


def test_session_is_created_heartbeated_and_finished(store: Store, clock: FakeClock) -> None:
    created = store.sessions.create(
        "sess-1",
        sdk_version="0.38.0",
        owner="alice",
        tags=["a", "b"],
        user_metadata={"k": "v"},
        project_id="p",
        display_name="demo",
    )
    assert created.created_at == created.last_heartbeat_at == clock.wall()
    assert (created.tags, created.user_metadata) == (["a", "b"], {"k": "v"})
    assert (created.project_id, created.display_name) == ("p", "demo")
    clock.advance(10)
    store.sessions.heartbeat("sess-1")
    store.sessions.finish("sess-1", "success")
    got = store.sessions.get("sess-1")
    assert got.last_heartbeat_at == clock.wall()
    assert (got.finished_at, got.finish_reason) == (clock.wall(), "success")


def test_session_errors_name_the_problem(store: Store) -> None:
    store.sessions.create("s", sdk_version="x", owner="o")
    with pytest.raises(ConflictError, match=r"^session_id: "):
        store.sessions.create("s", sdk_version="x", owner="o")
    with pytest.raises(UserInputError, match=r"^tags: "):
        store.sessions.create("t", sdk_version="x", owner="o", tags="notalist")
    with pytest.raises(UserInputError, match=r"^session_id: "):
        store.sessions.create("../s", sdk_version="x", owner="o")
    with pytest.raises(NotFoundError):
        store.sessions.get("missing")
    with pytest.raises(NotFoundError):
        store.sessions.heartbeat("missing")


def test_sessions_paginate_newest_first_with_owner_filter(store: Store, clock: FakeClock) -> None:
    for i in range(5):
        store.sessions.create(f"s{i}", sdk_version="x", owner="alice" if i % 2 else "bob")
        clock.advance(1)
    everyone = store.sessions.list_page(limit=2, offset=1)
    assert [s.session_id for s in everyone.items] == ["s3", "s2"]
    assert everyone.total_count == 5
    alice = store.sessions.list_page(owner="alice")
    assert [s.session_id for s in alice.items] == ["s3", "s1"]
    assert alice.total_count == 2


def test_run_round_trips_its_configuration(store: Store, make_run: MakeRun) -> None:
    run = make_run()
    assert run.is_lora
    assert run.lora == LoraSettings(rank=8, seed=3, train_unembed=False)
    assert run.user_metadata == {"renderer_name": "llama3"}
    assert (run.base_model, run.owner, run.corrupted) == ("tiny-llama", "alice", False)
    assert run.last_checkpoint is None
    assert store.runs.get(run.model_id) == run


def test_owner_of_a_run_is_one_lookup(store: Store, make_run: MakeRun) -> None:
    run = make_run()
    assert store.runs.owner_of(run.model_id) == "alice"
    with pytest.raises(NotFoundError):
        store.runs.owner_of("missing:train:0")


def test_full_models_are_not_lora(store: Store) -> None:
    store.sessions.create("s", sdk_version="x", owner="o")
    run = store.runs.create(
        "s:train:0", session_id="s", base_model="m", owner="o", lora=LoraSettings(rank=None)
    )
    assert not run.is_lora


def test_run_creation_errors(store: Store, make_run: MakeRun) -> None:
    make_run()
    with pytest.raises(ConflictError, match=r"^model_id: "):
        make_run()
    with pytest.raises(NotFoundError, match="session"):
        store.runs.create(
            "x:train:0", session_id="x", base_model="m", owner="o", lora=LoraSettings(rank=4)
        )
    with pytest.raises(UserInputError, match=r"^base_model: "):
        store.runs.create(
            "s1:train:9", session_id="s1", base_model="", owner="o", lora=LoraSettings(rank=4)
        )
    with pytest.raises(UserInputError, match=r"^lora_config.rank: "):
        store.runs.create(
            "s1:train:9", session_id="s1", base_model="m", owner="o", lora=LoraSettings(rank=0)
        )
    with pytest.raises(NotFoundError):
        store.runs.get("nope")


def test_run_reports_its_latest_checkpoints_of_each_kind(
    store: Store, clock: FakeClock, make_run: MakeRun, write_checkpoint: WriteCheckpoint
) -> None:
    make_run()
    write_checkpoint("s1:train:0", "old")
    clock.advance(1)
    newest = write_checkpoint("s1:train:0", "new")
    clock.advance(1)
    sampler = write_checkpoint("s1:train:0", "snap", kind="sampler")
    run = store.runs.get("s1:train:0")
    assert run.last_checkpoint is not None
    assert run.last_checkpoint.tinker_path == newest
    assert run.last_sampler_checkpoint is not None
    assert run.last_sampler_checkpoint.tinker_path == sampler
    assert run.last_request_at == clock.wall()


def test_runs_paginate_with_total_count(store: Store, clock: FakeClock, make_run: MakeRun) -> None:
    ids = []
    for i in range(5):
        ids.append(make_run(f"s1:train:{i}").model_id)
        clock.advance(1)
    make_run("other:train:0", owner="bob")
    seen = []
    offset = 0
    while True:
        page = store.runs.list_page(owner="alice", limit=2, offset=offset)
        assert page.total_count == 5
        seen += [r.model_id for r in page.items]
        offset += page.limit
        if offset >= page.total_count:
            break
    assert seen == ids[::-1]
    assert store.runs.list_page(limit=100).total_count == 6
    assert store.runs.ids_for_session("s1") == ids


def test_touch_and_corrupted_flag(store: Store, clock: FakeClock, make_run: MakeRun) -> None:
    make_run()
    clock.advance(5)
    store.runs.touch("s1:train:0")
    store.runs.mark_corrupted("s1:train:0")
    run = store.runs.get("s1:train:0")
    assert run.last_request_at == clock.wall()
    assert run.corrupted
    with pytest.raises(NotFoundError):
        store.runs.touch("nope")


def test_samplers_are_recorded_and_found_by_seq_id(store: Store) -> None:
    store.sessions.create("s", sdk_version="x", owner="o")
    sampler = store.samplers.create(
        "s:sample:0",
        session_id="s",
        base_model="m",
        sampling_session_seq_id=0,
        model_path="tinker://s:train:0/sampler_weights/a",
    )
    assert store.samplers.get("s:sample:0") == sampler
    assert store.samplers.find("s", 0) == sampler
    assert store.samplers.find("s", 1) is None
    assert store.samplers.ids_for_session("s") == ["s:sample:0"]
    with pytest.raises(ConflictError, match=r"^sampler_id: "):
        store.samplers.create(
            "s:sample:9", session_id="s", base_model="m", sampling_session_seq_id=0
        )
    with pytest.raises(NotFoundError, match="session"):
        store.samplers.create("z", session_id="nope", base_model="m")
    with pytest.raises(UserInputError, match=r"^model_path: "):
        store.samplers.create("y", session_id="s", base_model="m", model_path="tinker://../x/y")
    with pytest.raises(NotFoundError):
        store.samplers.get("missing")
