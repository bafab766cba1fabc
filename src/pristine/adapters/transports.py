"""Which transport adapter a pool gets when the caller does not choose one.

The default is set by measurement (`bench/bench_transport.py`, `docs/benchmarks.md`): on
loopback, CPU per request was httpx 0.69 ms, pyqwest 0.24 ms, aiohttp 0.19 ms. aiohttp is
HTTP/1.1 only, so pools that ask for HTTP/2 get pyqwest, which negotiates it over TLS.
`PRISTINE_TRANSPORT=httpx|aiohttp|pyqwest` forces one adapter for every pool (an HTTP/2 pool
then falls back to pyqwest if aiohttp is forced).
"""

from __future__ import annotations

import os

from pristine.adapters.aiohttp_transport import AiohttpTransport
from pristine.adapters.httpx_transport import HttpxTransport
from pristine.adapters.pyqwest_transport import PyqwestTransport
from pristine.manifest import PoolPolicy
from pristine.ports.transport import Transport, TransportFactory

__all__ = ["ENV_VAR", "TRANSPORTS", "default_transport_factory"]

ENV_VAR = "PRISTINE_TRANSPORT"

TRANSPORTS: dict[str, TransportFactory] = {
    "aiohttp": AiohttpTransport.factory,
    "httpx": HttpxTransport.factory,
    "pyqwest": PyqwestTransport.factory,
}


def default_transport_factory(name: str, pool: PoolPolicy) -> Transport:
    """aiohttp for HTTP/1.1 pools, pyqwest for HTTP/2 pools, unless `PRISTINE_TRANSPORT` says."""
    choice = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if choice == "auto" or (choice == "aiohttp" and pool.http2):
        choice = "pyqwest" if pool.http2 else "aiohttp"
    factory = TRANSPORTS.get(choice)
    if factory is None:
        raise ValueError(
            f"{ENV_VAR}={choice!r} is not a transport; use one of {sorted(TRANSPORTS)} "
            "or unset it for the measured default"
        )
    return factory(name, pool)
