"""`AiohttpTransport`: the transport port on `aiohttp`, one session per pool.

Why a second adapter: measured on loopback (`bench/bench_transport.py`), aiohttp spends about
a quarter of httpx's CPU per request, and client CPU is what limits a process that keeps
thousands of futures in flight. It speaks HTTP/1.1 only, so
`pristine.adapters.transports.default_transport_factory` routes pools that ask for HTTP/2
elsewhere.

Like `HttpxTransport`, it hands the body over still Content-Encoded (decoding is a pipeline
stage) and turns the library's errors into pristine errors in `_mapped_errors`.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import aiohttp

from pristine.errors import APIConnectionError, APITimeoutError, RequestInfo
from pristine.manifest import PoolPolicy
from pristine.ports.transport import RawRequest, RawResponse, StreamedResponse

__all__ = ["AiohttpTransport"]

_CHUNK_BYTES = 64 * 1024


class AiohttpTransport:
    """Sends requests on one pooled `aiohttp.ClientSession` (HTTP/1.1)."""

    def __init__(self, pool: PoolPolicy, *, verify: ssl.SSLContext | bool = True) -> None:
        """Sessions open on first use, one per event loop: aiohttp binds a session to the
        loop that opened it, and a pipeline may be awaited from more than one loop (its
        private loop thread and the caller's)."""
        if pool.http2:
            raise ValueError(
                "AiohttpTransport speaks HTTP/1.1 only; use HttpxTransport for a pool with "
                "http2: true (default_transport_factory does this)"
            )
        self._pool = pool
        self._verify = verify
        self._sessions: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, aiohttp.ClientSession
        ] = weakref.WeakKeyDictionary()

    @classmethod
    def factory(cls, name: str, pool: PoolPolicy) -> AiohttpTransport:
        """A `TransportFactory`: one transport per pool."""
        return cls(pool)

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self._pool.max_connections,
                limit_per_host=0,
                ssl=self._verify,
            )
            session = self._sessions[loop] = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            )
        return session

    async def send(self, request: RawRequest) -> RawResponse:
        async with self.stream(request) as response:
            content = b"".join([chunk async for chunk in response.chunks])
        return RawResponse(response.status, response.headers, content)

    @asynccontextmanager
    async def stream(self, request: RawRequest) -> AsyncIterator[StreamedResponse]:
        info = RequestInfo(request.method, request.url)
        # Every phase gets the request's timeout, as httpx.Timeout(t) does: the
        # total is unbounded so that a long stream is not cut while bytes still flow.
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=request.timeout_s,
            sock_connect=request.timeout_s,
            sock_read=request.timeout_s,
        )
        with _mapped_errors(info):
            response = await self._open().request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.content,
                timeout=timeout,
                allow_redirects=False,
            )
        try:
            headers = {k.lower(): v for k, v in response.headers.items()}
            yield StreamedResponse(response.status, headers, _raw_chunks(response, info))
        finally:
            response.release()

    async def aclose(self) -> None:
        """Close this loop's session now and ask other live loops to close theirs."""
        current = asyncio.get_running_loop()
        sessions, self._sessions = dict(self._sessions), weakref.WeakKeyDictionary()
        for loop, session in sessions.items():
            if loop is current:
                await session.close()
            elif not loop.is_closed():
                asyncio.run_coroutine_threadsafe(session.close(), loop)


async def _raw_chunks(response: aiohttp.ClientResponse, info: RequestInfo) -> AsyncIterator[bytes]:
    with _mapped_errors(info):
        async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
            yield chunk


@contextmanager
def _mapped_errors(request: RequestInfo) -> Iterator[None]:
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as error:
        raise APITimeoutError(
            f"{request} timed out ({type(error).__name__})", request=request
        ) from error
    except aiohttp.ClientError as error:
        raise APIConnectionError(
            f"{request} failed: {type(error).__name__}: {error}", request=request
        ) from error
