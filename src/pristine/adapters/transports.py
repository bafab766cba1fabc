"""Which transport adapter a pool gets when the caller does not choose one.

The default is set by measurement (`bench/bench_transport.py`, `docs/benchmarks.md`): on
loopback, CPU per request was httpx 0.69 ms, pyqwest 0.24 ms, aiohttp 0.19 ms. aiohttp is
HTTP/1.1 only, so pools that ask for HTTP/2 send `https://` requests on pyqwest, which
negotiates h2 over TLS; their cleartext requests (a local server) are HTTP/1.1 whichever
adapter sends them, and aiohttp holds a connection in about a third of pyqwest's memory
(1,000 long polls in flight: 15 MiB against 52 MiB). `PRISTINE_TRANSPORT=httpx|aiohttp|pyqwest`
forces one adapter for every pool (forcing aiohttp leaves HTTP/2 pools routed by scheme).
"""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager

from pristine.adapters.aiohttp_transport import AiohttpTransport
from pristine.adapters.httpx_transport import HttpxTransport
from pristine.adapters.pyqwest_transport import PyqwestTransport
from pristine.manifest import PoolPolicy
from pristine.ports.transport import (
    RawRequest,
    RawResponse,
    StreamedResponse,
    Transport,
    TransportFactory,
)

__all__ = ["ENV_VAR", "TRANSPORTS", "SchemeRoutedTransport", "default_transport_factory"]

ENV_VAR = "PRISTINE_TRANSPORT"

TRANSPORTS: dict[str, TransportFactory] = {
    "aiohttp": AiohttpTransport.factory,
    "httpx": HttpxTransport.factory,
    "pyqwest": PyqwestTransport.factory,
}


class SchemeRoutedTransport:
    """An HTTP/2 pool's transport: `https://` on pyqwest (h2 over TLS), cleartext on aiohttp.

    Each adapter opens on first use, so a client of a local server never starts pyqwest's
    runtime threads.
    """

    def __init__(self, pool: PoolPolicy) -> None:
        self._pool = pool
        self._plain: AiohttpTransport | None = None
        self._tls: PyqwestTransport | None = None

    def adapter_for(self, url: str) -> Transport:
        """The adapter that sends to `url`, opened if it was not yet."""
        if url[:8].lower() == "https://":
            if self._tls is None:
                self._tls = PyqwestTransport(self._pool)
            return self._tls
        if self._plain is None:
            self._plain = AiohttpTransport(self._pool.model_copy(update={"http2": False}))
        return self._plain

    def opened(self) -> list[Transport]:
        """The adapters opened so far."""
        return [adapter for adapter in (self._plain, self._tls) if adapter is not None]

    async def send(self, request: RawRequest) -> RawResponse:
        return await self.adapter_for(request.url).send(request)

    def stream(self, request: RawRequest) -> AbstractAsyncContextManager[StreamedResponse]:
        return self.adapter_for(request.url).stream(request)

    async def aclose(self) -> None:
        opened, self._plain, self._tls = self.opened(), None, None
        for adapter in opened:
            await adapter.aclose()


def default_transport_factory(name: str, pool: PoolPolicy) -> Transport:
    """aiohttp for HTTP/1.1 pools, `SchemeRoutedTransport` for HTTP/2 pools, unless
    `PRISTINE_TRANSPORT` says otherwise."""
    choice = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if choice in ("auto", "aiohttp"):
        return SchemeRoutedTransport(pool) if pool.http2 else AiohttpTransport(pool)
    factory = TRANSPORTS.get(choice)
    if factory is None:
        raise ValueError(
            f"{ENV_VAR}={choice!r} is not a transport; use one of {sorted(TRANSPORTS)} "
            "or unset it for the measured default"
        )
    return factory(name, pool)
