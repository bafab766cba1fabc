"""`PyqwestTransport`: the transport port on `pyqwest` (Rust reqwest/hyper), one per pool.

Why: it speaks HTTP/2 (ALPN over TLS) at about a third of httpx's CPU per request
(`bench/bench_transport.py`), so pools that want HTTP/2 need not pay httpx's price. The
body arrives still Content-Encoded (reqwest's decompression is off: decoding is a pipeline
stage), and the library's errors become pristine errors in `_mapped_errors`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager

import pyqwest

from pristine.errors import APIConnectionError, APITimeoutError, RequestInfo
from pristine.manifest import PoolPolicy
from pristine.ports.transport import RawRequest, RawResponse, StreamedResponse

__all__ = ["PyqwestTransport"]

_CLOSE_GRACE_S = 0.02


class PyqwestTransport:
    """Sends requests on one pooled `pyqwest.HTTPTransport` (HTTP/2 when TLS negotiates it)."""

    def __init__(self, pool: PoolPolicy, *, ca_cert_pem: bytes | None = None) -> None:
        """`ca_cert_pem` adds a private CA to the system's trust store."""
        self._transport = pyqwest.HTTPTransport(
            tls_ca_cert=ca_cert_pem,
            tls_include_system_certs=True,
            http_version=None if pool.http2 else pyqwest.HTTPVersion.HTTP1,
            max_connections_per_address=pool.max_connections,
            pool_max_idle_per_host=pool.max_keepalive_connections,
            enable_gzip=False,
            enable_brotli=False,
            enable_zstd=False,
            follow_redirects=False,
            enable_otel=False,
        )
        self._client = pyqwest.Client(self._transport)

    @classmethod
    def factory(cls, name: str, pool: PoolPolicy) -> PyqwestTransport:
        """A `TransportFactory`: one transport per pool."""
        return cls(pool)

    async def send(self, request: RawRequest) -> RawResponse:
        """One buffered exchange: cheaper than draining `stream` chunk by chunk."""
        with _mapped_errors(RequestInfo(request.method, request.url)):
            async with asyncio.timeout(request.timeout_s):
                response = await self._client.execute(
                    request.method, request.url, headers=request.headers, content=request.content
                )
        headers = {k.lower(): v for k, v in response.headers.items()}
        return RawResponse(response.status, headers, response.content)

    @asynccontextmanager
    async def stream(self, request: RawRequest) -> AsyncIterator[StreamedResponse]:
        info = RequestInfo(request.method, request.url)
        async with AsyncExitStack() as stack:
            with _mapped_errors(info):
                async with asyncio.timeout(request.timeout_s):
                    response = await stack.enter_async_context(
                        self._client.stream(
                            request.method,
                            request.url,
                            headers=dict(request.headers),
                            content=request.content,
                        )
                    )
            headers = {k.lower(): v for k, v in response.headers.items()}
            chunks = _raw_chunks(response.content, request.timeout_s, info)
            yield StreamedResponse(response.status, headers, chunks)

    async def aclose(self) -> None:
        await self._transport.aclose()
        # pyqwest drops its connections on its own runtime threads, which call back into
        # the loop; if the loop closes first the process aborts at exit (seen in 3-4 of 20
        # runs of `bench/bench_transport.py`, none with this grace).
        await asyncio.sleep(_CLOSE_GRACE_S)


async def _raw_chunks(
    content: AsyncIterator[bytes | bytearray | memoryview], idle_s: float, info: RequestInfo
) -> AsyncIterator[bytes]:
    """The body's chunks, each awaited for at most `idle_s` (a read timeout, as httpx's)."""
    iterator = aiter(content)
    while True:
        with _mapped_errors(info):
            async with asyncio.timeout(idle_s):
                try:
                    chunk = await anext(iterator)
                except StopAsyncIteration:
                    return
        yield bytes(chunk)


@contextmanager
def _mapped_errors(request: RequestInfo) -> Iterator[None]:
    try:
        yield
    except TimeoutError as error:
        raise APITimeoutError(
            f"{request} timed out ({type(error).__name__})", request=request
        ) from error
    except (
        ConnectionError,
        pyqwest.RemoteProtocolError,
        pyqwest.ReadError,
        pyqwest.WriteError,
    ) as error:
        raise APIConnectionError(
            f"{request} failed: {type(error).__name__}: {error}", request=request
        ) from error
