"""One client benchmark scenario in its own process, for `tinkex` or the official `tinker`.

The scenario code is the same for both: it imports the package named by `--client` as
`tinker`, exactly as a user switching with `import tinkex as tinker` would. It prints one JSON
line: CPU seconds of this process (every thread), wall seconds, peak RSS growth in MiB, and
scenario figures. Run by `bench/bench_clients.py`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SCENARIOS: dict[str, Callable[[Any, Any, int], dict[str, float]]] = {}


def scenario(fn: Callable[[Any, Any, int], dict[str, float]]) -> Callable[..., Any]:
    SCENARIOS[fn.__name__] = fn
    return fn


def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _sampling(tinker: Any, service: Any) -> tuple[Any, Any, Any]:
    client = service.create_sampling_client(base_model="stub").result()
    prompt = tinker.types.ModelInput.from_ints([1, 2, 3, 4])
    params = tinker.types.SamplingParams(max_tokens=4)
    return client, prompt, params


def _datum(tinker: Any, length: int, rng: np.random.Generator) -> Any:
    tokens = rng.integers(0, 50_000, length + 1)
    return tinker.types.Datum(
        model_input=tinker.types.ModelInput.from_ints(tokens[:-1].tolist()),
        loss_fn_inputs={
            "target_tokens": tinker.types.TensorData.from_numpy(tokens[1:].astype(np.int64)),
            "weights": tinker.types.TensorData.from_numpy(rng.random(length, dtype=np.float32)),
        },
    )


@scenario
def sample_sequential(tinker: Any, service: Any, n: int) -> dict[str, float]:
    """`sample(...).result()` one after another: client overhead at concurrency 1."""
    client, prompt, params = _sampling(tinker, service)
    client.sample(prompt=prompt, num_samples=1, sampling_params=params).result()
    return _timed(
        n, lambda: [client.sample(prompt=prompt, num_samples=1, sampling_params=params).result()]
    )


@scenario
def sample_inflight(tinker: Any, service: Any, n: int) -> dict[str, float]:
    """`n` sample futures submitted at once, then all awaited (the stub delays each)."""
    client, prompt, params = _sampling(tinker, service)
    client.sample(prompt=prompt, num_samples=1, sampling_params=params).result()

    def run() -> list[Any]:
        futures = [
            client.sample(prompt=prompt, num_samples=1, sampling_params=params) for _ in range(n)
        ]
        return [future.result() for future in futures]

    return _timed(n, run, once=True)


@scenario
def sample_large(tinker: Any, service: Any, n: int) -> dict[str, float]:
    """Samples of 64 sequences x 256 tokens with logprobs: response decoding dominates."""
    client, prompt, _ = _sampling(tinker, service)
    params = tinker.types.SamplingParams(max_tokens=256)
    return _timed(
        n, lambda: [client.sample(prompt=prompt, num_samples=64, sampling_params=params).result()]
    )


def _training(tinker: Any, service: Any) -> tuple[Any, list[Any], Any]:
    client = service.create_lora_training_client(base_model="stub", rank=8).result()
    batch = [_datum(tinker, 16, np.random.default_rng(0))]
    adam = tinker.types.AdamParams(learning_rate=1e-4)
    return client, batch, adam


@scenario
def train_sequential(tinker: Any, service: Any, n: int) -> dict[str, float]:
    """A forward_backward + optim_step pair, awaited, one pair after another."""
    client, batch, adam = _training(tinker, service)

    def pair() -> None:
        client.forward_backward(batch, "cross_entropy").result()
        client.optim_step(adam).result()

    pair()
    return _timed(n, pair)


@scenario
def train_inflight(tinker: Any, service: Any, n: int) -> dict[str, float]:
    """`n` pairs submitted at once (2n futures in flight), then all awaited."""
    client, batch, adam = _training(tinker, service)
    client.optim_step(adam).result()

    def run() -> None:
        futures = []
        for _ in range(n):
            futures.append(client.forward_backward(batch, "cross_entropy"))
            futures.append(client.optim_step(adam))
        for future in futures:
            future.result()

    return _timed(n, run, once=True)


@scenario
def train_large(tinker: Any, service: Any, n: int) -> dict[str, float]:
    """forward_backward of 256 sequences x 2,048 tokens with targets and weights."""
    client, _, _ = _training(tinker, service)
    rng = np.random.default_rng(0)
    batch = [_datum(tinker, 2048, rng) for _ in range(256)]
    return _timed(n, lambda: client.forward_backward(batch, "cross_entropy").result())


@scenario
def future_latency(tinker: Any, service: Any, n: int) -> dict[str, float]:
    """Time from the server finishing an optim_step to `result()` returning (ms)."""
    client, _, adam = _training(tinker, service)
    client.optim_step(adam).result()
    latencies = []
    for _ in range(n):
        response = client.optim_step(adam).result()
        latencies.append((time.monotonic() - response.metrics["finished_at"]) * 1000)
    latencies.sort()
    return {
        "latency_p50_ms": statistics.median(latencies),
        "latency_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def _timed(n: int, fn: Callable[[], Any], *, once: bool = False) -> dict[str, float]:
    rss_before = _rss_mib("VmRSS")
    _reset_peak_rss()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(1 if once else n):
        fn()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "cpu_ms_per_op": cpu / n * 1000,
        "wall_s": wall,
        "peak_rss_growth_mib": _rss_mib("VmHWM") - rss_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", choices=["tinkex", "tinker"], required=True)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("-n", type=int, default=100)
    args = parser.parse_args()
    tinker = importlib.import_module(args.client)
    service = tinker.ServiceClient(base_url=args.base_url, api_key="tml-bench-key")
    result = SCENARIOS[args.scenario](tinker, service, args.n)
    print(json.dumps(result), flush=True)
    os._exit(0)  # skip interpreter shutdown: background threads are not what is measured


if __name__ == "__main__":
    main()
