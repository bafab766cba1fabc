"""The three pieces together, as the HTTP routes will use them."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
import pytest

from pristine.testing import FakeClock
from tinkex.local.futures import MAX_WAIT_SECONDS, FutureRegistry, Result
from tinkex.local.queue import RequestQueue
from tinkex.local.store import LoraSettings, Store

pytestmark = pytest.mark.anyio


class _StillClock(FakeClock):
    """Time that never moves on its own, so no gap timer can fire."""

    async def sleep(self, seconds: float) -> None:
        await anyio.Event().wait()


async def test_saves_from_worker_threads_are_recorded_and_survive_reopen(tmp_path: Path) -> None:
    clock = _StillClock()
    with Store.open(tmp_path, clock=clock) as store:
        store.sessions.create("s", sdk_version="0.38.0", owner="me")
        registry = FutureRegistry(clock=clock, journal=store.futures)

        def create() -> Result:
            run = store.runs.create(
                "s:train:0", session_id="s", base_model="tiny", owner="me", lora=LoraSettings(8)
            )
            return Result({"model_id": run.model_id})

        def save(name: str) -> Result:
            with store.checkpoints.writer("s:train:0", "training", name) as draft:
                (draft.directory / "adapter.bin").write_bytes(name.encode())
            assert draft.record is not None
            return Result({"path": draft.record.tinker_path})

        async with RequestQueue(registry, clock=clock) as queue:
            ids = [queue.submit_training("s:train:0", "create_model", create, seq_id=0)]
            ids += [
                queue.submit_training("s:train:0", "save_weights", partial(save, n), seq_id=seq)
                for seq, n in ((2, "second"), (1, "first"))
            ]
            outcomes = [await registry.wait(i, MAX_WAIT_SECONDS) for i in ids]
        assert outcomes[1] == Result({"path": "tinker://s:train:0/weights/second"})

    with Store.open(tmp_path, clock=clock) as reopened:
        names = [c.checkpoint_id for c in reopened.checkpoints.list_for_run("s:train:0")]
        assert sorted(names) == ["weights/first", "weights/second"]
        fresh = FutureRegistry(clock=clock, journal=reopened.futures)
        assert await fresh.wait(ids[2], 0) == Result({"path": "tinker://s:train:0/weights/first"})
