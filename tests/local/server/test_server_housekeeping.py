"""The periodic sweep that removes checkpoints past their TTL."""

from __future__ import annotations

from pathlib import Path

import pytest

from pristine.testing import FakeClock
from tinkex.local.app.runtime import SWEEP_INTERVAL_S, sweep_forever
from tinkex.local.futures import FutureRegistry
from tinkex.local.store import LoraSettings, NotFoundError, Store


class _Stop(Exception):
    pass


class _OneRoundClock(FakeClock):
    """Stops the sweep loop when it goes to sleep after its first round."""

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        raise _Stop


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_sweep_deletes_expired_checkpoints_and_keeps_the_rest(tmp_path: Path) -> None:
    clock = _OneRoundClock()
    with Store.open(tmp_path, clock=clock) as store:
        store.sessions.create("s", sdk_version="t", owner="o")
        store.runs.create(
            "s:train:0", session_id="s", base_model="m", owner="o", lora=LoraSettings(4)
        )
        for name, ttl in (("short", 3600), ("forever", None)):
            with store.checkpoints.writer("s:train:0", "training", name, ttl_seconds=ttl) as draft:
                (draft.directory / "weights.bin").write_bytes(b"w")
        clock.advance(3601)

        with pytest.raises(_Stop):
            await sweep_forever(store, FutureRegistry(clock=clock), clock)

        assert clock.sleeps == [SWEEP_INTERVAL_S]
        with pytest.raises(NotFoundError):
            store.checkpoints.get("tinker://s:train:0/weights/short")
        assert store.checkpoints.get("tinker://s:train:0/weights/forever").expires_at is None
