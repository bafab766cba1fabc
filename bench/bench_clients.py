"""Client benchmarks side by side: `tinkex` vs the official `tinker` 0.38, same stub, same run.

Each scenario (`bench/client_worker.py`) runs in a fresh process per client against
`bench/stub_tinker.py` on loopback, alternating clients, `--repeat` times; the table shows
the median of each figure and the ratio tinkex / tinker (below 1.0: tinkex is cheaper).

Run: `.venv/bin/python bench/bench_clients.py [--repeat 3] [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLIENTS = ("tinkex", "tinker")


@dataclass(frozen=True)
class Case:
    label: str
    scenario: str
    n: int
    delay_ms: float
    figures: tuple[tuple[str, str], ...]
    """(worker key, printed name) pairs."""


CPU = ("cpu_ms_per_op", "CPU ms / op")
RSS = ("peak_rss_growth_mib", "peak RSS growth MiB")
WALL = ("wall_s", "wall s")

CASES = [
    Case("sample, concurrency 1", "sample_sequential", 300, 0, (CPU,)),
    Case("forward_backward + optim_step, concurrency 1", "train_sequential", 100, 0, (CPU,)),
    Case("sample, 1,000 in flight", "sample_inflight", 1000, 5000, (CPU, RSS)),
    Case("fwd/bwd + optim pairs, 1,000 futures in flight", "train_inflight", 500, 5000, (CPU, RSS)),
    Case("forward_backward 256 x 2,048 tokens", "train_large", 3, 0, (CPU, RSS)),
    Case("sample 64 x 256 tokens with logprobs", "sample_large", 20, 0, (CPU, RSS)),
    Case(
        "future latency (server done -> result())",
        "future_latency",
        200,
        20,
        (("latency_p50_ms", "p50 ms"), ("latency_p99_ms", "p99 ms")),
    ),
    Case(
        "fan-out: 2,000 samples, stub answers after 500 ms", "sample_inflight", 2000, 500, (WALL,)
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str, method: str = "GET") -> dict[str, object]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


@contextmanager
def stub(delay_ms: float) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.stub_tinker",
            "--port",
            str(port),
            "--delay-ms",
            str(delay_ms),
        ],
        cwd=HERE.parent,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(f"{base_url}/bench/stats")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(10)


def run_worker(client: str, case: Case, base_url: str) -> dict[str, float]:
    _get(f"{base_url}/bench/reset", method="POST")
    env = {**os.environ, "TINKER_TELEMETRY": "0", "PYTHONWARNINGS": "ignore"}
    output = subprocess.run(
        [
            sys.executable,
            str(HERE / "client_worker.py"),
            "--client",
            client,
            "--scenario",
            case.scenario,
            "--base-url",
            base_url,
            "-n",
            str(case.n),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"{client} {case.scenario} failed:\n{output.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(output.stdout.strip().splitlines()[-1])
    stats = _get(f"{base_url}/bench/stats")
    bytes_in = stats["bytes_in"]
    assert isinstance(bytes_in, dict)
    figures["fwdbwd_bytes"] = float(bytes_in.get("forward_backward", 0))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a tenth of the operations")
    parser.add_argument("--only", help="run the cases whose scenario contains this text")
    args = parser.parse_args()
    rows: list[tuple[str, str, float, float]] = []
    for case in CASES:
        if args.only and args.only not in case.scenario:
            continue
        if args.quick:
            case = Case(
                case.label, case.scenario, max(2, case.n // 10), case.delay_ms, case.figures
            )
        runs: dict[str, list[dict[str, float]]] = {client: [] for client in CLIENTS}
        with stub(case.delay_ms) as base_url:
            for _ in range(args.repeat):
                for client in CLIENTS:
                    runs[client].append(run_worker(client, case, base_url))
        figures = list(case.figures)
        if case.scenario == "train_large":
            figures.append(("fwdbwd_bytes", "request bytes on the wire"))
        for key, name in figures:
            ours, theirs = (statistics.median(r[key] for r in runs[c]) for c in CLIENTS)
            rows.append((case.label, name, ours, theirs))
            print(f"{case.label:52} {name:26} {ours:12.3f} {theirs:12.3f}", flush=True)
    print()
    print("| scenario | figure | tinkex | tinker 0.38 | ratio |")
    print("|---|---|---:|---:|---:|")
    for label, name, ours, theirs in rows:
        ratio = ours / theirs if theirs else float("nan")
        print(f"| {label} | {name} | {ours:,.3f} | {theirs:,.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
