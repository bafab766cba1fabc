"""`HttpxTransport`: the transport port on `httpx.AsyncClient`, one client per pool.

httpx's own response decoding is bypassed (`aiter_raw`): Content-Encoding is a pipeline stage,
so every transport behaves the same. httpx errors become pristine errors in `_mapped_errors`,
the only place that knows about them.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx

from pristine.errors import APIConnectionError, APITimeoutError, RequestInfo
from pristine.manifest import PoolPolicy
from pristine.ports.transport import RawRequest, RawResponse, StreamedResponse

__all__ = ["HttpxTransport"]


class HttpxTransport:
    """Sends requests on one pooled `httpx.AsyncClient` (HTTP/2 when the pool asks for it)."""

    def __init__(
        self,
        pool: PoolPolicy,
        *,
        client: httpx.AsyncClient | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """`client` replaces the pooled client outright; `verify` is for private CAs."""
        self._client = client or httpx.AsyncClient(
            http2=pool.http2,
            verify=verify,
            limits=httpx.Limits(
                max_connections=pool.max_connections,
                max_keepalive_connections=pool.max_keepalive_connections,
            ),
            follow_redirects=False,
        )

    @classmethod
    def factory(cls, name: str, pool: PoolPolicy) -> HttpxTransport:
        """A `TransportFactory`: one transport per pool."""
        return cls(pool)

    async def send(self, request: RawRequest) -> RawResponse:
        async with self.stream(request) as response:
            content = b"".join([chunk async for chunk in response.chunks])
        return RawResponse(response.status, response.headers, content)

    @asynccontextmanager
    async def stream(self, request: RawRequest) -> AsyncIterator[StreamedResponse]:
        built = self._client.build_request(
            request.method,
            request.url,
            headers=dict(request.headers),
            content=request.content,
            timeout=httpx.Timeout(request.timeout_s),
        )
        info = RequestInfo(request.method, request.url)
        with _mapped_errors(info):
            response = await self._client.send(built, stream=True)
        try:
            headers = {k.lower(): v for k, v in response.headers.items()}
            yield StreamedResponse(response.status_code, headers, _raw_chunks(response, info))
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


async def _raw_chunks(response: httpx.Response, info: RequestInfo) -> AsyncIterator[bytes]:
    with _mapped_errors(info):
        async for chunk in response.aiter_raw():
            yield chunk


@contextmanager
def _mapped_errors(request: RequestInfo) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as error:
        raise APITimeoutError(
            f"{request} timed out ({type(error).__name__})", request=request
        ) from error
    except httpx.TransportError as error:
        raise APIConnectionError(
            f"{request} failed: {type(error).__name__}: {error}", request=request
        ) from error
