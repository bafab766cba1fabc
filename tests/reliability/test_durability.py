"""Durability: `kill -9` the real server process mid-run; after the restart every completed
checkpoint matches its recorded checksum, SQLite is intact and the run finishes from the last
checkpoint (`create_training_client_from_state_with_optimizer`)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

from reliability_kit import scaled, sl_batch

from tinkex import types
from tinkex.clients.service import ServiceClient
from tinkex.clients.training import TrainingClient
from tinkex.local.config import DEFAULT_MODELS
from tinkex.local.store import Store
from tinkex.local.store.store import DATABASE_NAME

MODEL = DEFAULT_MODELS[0]
STEPS = scaled(6, 30)
CHECKPOINT_EVERY = 2
START_TIMEOUT_S = 120.0
CALL_TIMEOUT_S = 120.0


@contextmanager
def server_process(data_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m tinkex.local` on a free port; yields the process and its URL."""
    command = [sys.executable, "-m", "tinkex.local", "--port", "0", "--data-dir", str(data_dir)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"on (http://\S+)", line)
        assert found, f"the server did not say where it listens: {line!r}"
        yield process, found.group(1)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(START_TIMEOUT_S)


def train(training: TrainingClient, steps: range, saved: dict[int, str]) -> None:
    """Run `steps`, saving the state after every CHECKPOINT_EVERY-th one into `saved`."""
    for step in steps:
        training.forward_backward(sl_batch(step), "cross_entropy").result(CALL_TIMEOUT_S)
        training.optim_step(types.AdamParams(learning_rate=1e-2)).result(CALL_TIMEOUT_S)
        if (step + 1) % CHECKPOINT_EVERY == 0:
            saved[step + 1] = training.save_state(f"step-{step + 1}").result(CALL_TIMEOUT_S).path


def test_kill_9_mid_run_then_resume(
    tmp_path: Path, make_service: Callable[..., ServiceClient]
) -> None:
    saved: dict[int, str] = {}
    crash_at = STEPS // 2 + 1
    with server_process(tmp_path) as (process, url):
        training = (
            make_service(url)
            .create_lora_training_client(MODEL, rank=4, seed=3)
            .result(START_TIMEOUT_S)
        )
        train(training, range(crash_at), saved)
        # Work in flight when the process dies: a pass, a step and a save.
        training.forward_backward(sl_batch(crash_at), "cross_entropy")
        training.optim_step(types.AdamParams(learning_rate=1e-2))
        training.save_state("in-flight")
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(START_TIMEOUT_S) == -signal.SIGKILL

    database = sqlite3.connect(tmp_path / DATABASE_NAME)
    try:
        assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        database.close()
    with Store.open(tmp_path) as store:
        assert store.integrity_check() == []
        for path in saved.values():
            assert store.checkpoints.verify(path), f"{path} does not match its checksum"

    last = max(saved)
    with server_process(tmp_path) as (_, url):
        service = make_service(url)
        resumed = service.create_training_client_from_state_with_optimizer(saved[last]).result(
            START_TIMEOUT_S
        )
        train(resumed, range(last, STEPS), saved)
    assert max(saved) == STEPS
