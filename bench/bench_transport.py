"""CPU per request of each transport adapter, on loopback, one process per adapter.

What chooses `pristine.adapters.transports.default_transport_factory`: the same small POST,
sent sequentially `-n` times through each adapter's `send`, against the stub service
(`bench/stub_tinker.py`, `GET /bench/stats`). Client CPU only (the server is another process).

Run: `.venv/bin/python bench/bench_transport.py [-n 2000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADAPTERS = ("httpx", "aiohttp", "pyqwest")


def measure(adapter: str, base_url: str, n: int) -> dict[str, float]:
    """Runs in a child process: CPU and wall per request through one adapter."""
    from pristine.adapters.transports import TRANSPORTS
    from pristine.manifest import PoolPolicy
    from pristine.ports.transport import RawRequest

    async def run() -> dict[str, float]:
        transport = TRANSPORTS[adapter](adapter, PoolPolicy())
        request = RawRequest(
            "POST",
            f"{base_url}/api/v1/session_heartbeat",
            headers={"Content-Type": "application/json"},
            content=b'{"session_id": "s"}',
        )
        await transport.send(request)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            await transport.send(request)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await transport.aclose()
        return {"cpu_ms": cpu / n * 1000, "wall_ms": wall / n * 1000}

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--child", nargs=2, metavar=("ADAPTER", "BASE_URL"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.n)))
        return
    sys.path.insert(0, str(HERE.parent))
    from bench.bench_clients import stub

    print(f"{'adapter':10} {'CPU ms/request':>15} {'wall ms/request':>16}")
    with stub(0) as base_url:
        for adapter in ADAPTERS:
            output = subprocess.run(
                [sys.executable, __file__, "-n", str(args.n), "--child", adapter, base_url],
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            )
            figures = json.loads(output.stdout.strip().splitlines()[-1])
            print(f"{adapter:10} {figures['cpu_ms']:15.3f} {figures['wall_ms']:16.3f}")


if __name__ == "__main__":
    main()
