"""Command line for the fault proxy: ``python -m tinkex.testing.fault_proxy --upstream URL``.

Kept apart from :mod:`tinkex.testing.proxy` so ``-m`` runs it without the package
having imported it first.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from tinkex.testing.faults import FaultRates
from tinkex.testing.proxy import FaultOptions, FaultProxy

__all__ = ["FaultOptions", "FaultProxy", "build_proxy", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tinkex.testing.fault_proxy",
        description="Seeded fault-injecting HTTP reverse proxy for reliability testing.",
    )
    parser.add_argument(
        "--upstream", required=True, help="upstream base URL, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    for flag in ("5xx", "429", "408", "reset-before", "reset-after", "slow", "truncate"):
        parser.add_argument(f"--rate-{flag}", type=float, default=0.0, metavar="P")
    parser.add_argument("--status-5xx", type=int, default=503)
    parser.add_argument("--retry-after", type=float, default=1.0, help="seconds")
    parser.add_argument("--retry-after-ms", action="store_true", help="send Retry-After-Ms")
    parser.add_argument("--slow-delay", type=float, default=30.0, help="seconds to hold")
    return parser


def build_proxy(argv: Sequence[str]) -> FaultProxy:
    """Build a proxy from command-line arguments (bad values exit with a usage error)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        rates = FaultRates(
            server_error=args.rate_5xx,
            rate_limit=args.rate_429,
            request_timeout=args.rate_408,
            reset_before=args.rate_reset_before,
            reset_after=args.rate_reset_after,
            slow=args.rate_slow,
            truncate=args.rate_truncate,
        )
        options = FaultOptions(
            server_error_status=args.status_5xx,
            retry_after=args.retry_after,
            retry_after_ms=args.retry_after_ms,
            slow_delay=args.slow_delay,
        )
        return FaultProxy(
            args.upstream,
            rates=rates,
            seed=args.seed,
            options=options,
            host=args.host,
            port=args.port,
        )
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: Sequence[str] | None = None, *, until: threading.Event | None = None) -> int:
    """Run the proxy until ``until`` is set or Ctrl-C; print the URL and final counts."""
    proxy = build_proxy(sys.argv[1:] if argv is None else argv)
    done = until or threading.Event()
    with proxy:
        print(f"fault proxy {proxy.base_url} -> {proxy.upstream}", flush=True)
        try:
            while not done.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    summary = ", ".join(f"{kind.value}={n}" for kind, n in sorted(proxy.counts.items(), key=str))
    print(f"requests: {len(proxy.log)} ({summary or 'none'})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
