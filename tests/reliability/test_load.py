"""Load: many concurrent sampling requests and several training clients on one embedded
server finish without errors and with bounded memory (2,000 and 20 under `make soak`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

from reliability_kit import scaled, sl_batch

from tinkex import types
from tinkex.clients.service import ServiceClient
from tinkex.local.config import DEFAULT_MODELS, ServerConfig
from tinkex.local.server import LocalServer

MODEL = DEFAULT_MODELS[0]
SAMPLES = scaled(200, 2000)
TRAINERS = scaled(4, 20)
TIMEOUT_S = scaled(120, 1200)
RSS_GROWTH_LIMIT_MB = 1024


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with the default long-poll: with thousands of futures pending, short polls
    would be most of its work (the shared `served` fixture polls every 0.2 s)."""
    config = ServerConfig(port=0, data_dir=tmp_path_factory.mktemp("load"))
    with LocalServer(config) as server:
        assert server.base_url is not None
        yield server.base_url


def rss_mb() -> float:
    """This process's resident memory (the server runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status on this platform")


@pytest.mark.timeout(TIMEOUT_S * 2)
def test_concurrent_samples_and_trainers(
    busy_server: str, make_service: Callable[..., ServiceClient]
) -> None:
    service = make_service(busy_server)
    sampler = service.create_sampling_client(base_model=MODEL)
    params = types.SamplingParams(max_tokens=2, temperature=1.0, seed=0)
    trainers = [
        service.create_lora_training_client(MODEL, rank=2, seed=i).result(TIMEOUT_S)
        for i in range(TRAINERS)
    ]
    before = rss_mb()
    started = time.monotonic()
    samples = [
        sampler.sample(types.ModelInput.from_ints([1 + i % 50, 2, 3]), 1, params)
        for i in range(SAMPLES)
    ]
    steps = [
        (t.forward_backward(sl_batch(i), "cross_entropy"), t.optim_step(types.AdamParams()))
        for i, t in enumerate(trainers)
    ]
    results = [future.result(TIMEOUT_S) for future in samples]
    for fwd_bwd, optim in steps:
        fwd_bwd.result(TIMEOUT_S)
        optim.result(TIMEOUT_S)
    elapsed = time.monotonic() - started
    growth = rss_mb() - before
    print(f"{SAMPLES} samples + {TRAINERS} trainers in {elapsed:.1f} s, RSS +{growth:.0f} MB")
    assert all(len(result.sequences) == 1 for result in results)
    assert growth < RSS_GROWTH_LIMIT_MB
