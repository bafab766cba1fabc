"""The transport port's contract, held by both adapters against a real loopback server."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Callable

import aiohttp
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pristine.adapters import aiohttp_transport
from pristine.adapters.aiohttp_transport import AiohttpTransport
from pristine.adapters.httpx_transport import HttpxTransport
from pristine.adapters.pyqwest_transport import PyqwestTransport
from pristine.adapters.transports import ENV_VAR, SchemeRoutedTransport, default_transport_factory
from pristine.context import Context
from pristine.errors import APIConnectionError, APITimeoutError, RequestInfo
from pristine.manifest import PoolPolicy
from pristine.ports.transport import RawRequest, Transport
from pristine.sync import LoopThread

pytestmark = pytest.mark.anyio

ADAPTERS: dict[str, Callable[[PoolPolicy], Transport]] = {
    "httpx": HttpxTransport,
    "aiohttp": AiohttpTransport,
    "pyqwest": PyqwestTransport,
    "scheme-routed": SchemeRoutedTransport,
}


@pytest.fixture(params=sorted(ADAPTERS))
def make_transport(request: pytest.FixtureRequest) -> Callable[[PoolPolicy], Transport]:
    return ADAPTERS[request.param]


async def test_send_returns_status_lowercase_headers_and_the_still_encoded_body(
    httpserver: HTTPServer, make_transport: Callable[[PoolPolicy], Transport]
) -> None:
    seen: list[tuple[bytes, str | None]] = []

    def handler(request: Request) -> Response:
        seen.append((request.get_data(), request.headers.get("X-Probe")))
        body = gzip.compress(b'{"ok": true}')
        return Response(body, status=201, headers={"Content-Encoding": "gzip", "X-Trace": "abc"})

    httpserver.expect_request("/echo", method="POST").respond_with_handler(handler)
    transport = make_transport(PoolPolicy())
    try:
        response = await transport.send(
            RawRequest(
                "POST",
                httpserver.url_for("/echo"),
                headers={"X-Probe": "1", "Content-Type": "application/json"},
                content=b'{"a": 1}',
                timeout_s=10,
            )
        )
    finally:
        await transport.aclose()
    assert seen == [(b'{"a": 1}', "1")]
    assert response.status == 201
    assert response.headers["x-trace"] == "abc"
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(response.content) == b'{"ok": true}'


async def test_stream_hands_over_the_whole_body_in_chunks(
    httpserver: HTTPServer, make_transport: Callable[[PoolPolicy], Transport]
) -> None:
    payload = bytes(range(256)) * 1024
    httpserver.expect_request("/big").respond_with_data(payload)
    transport = make_transport(PoolPolicy())
    try:
        async with transport.stream(RawRequest("GET", httpserver.url_for("/big"))) as response:
            chunks = [chunk async for chunk in response.chunks]
    finally:
        await transport.aclose()
    assert response.status == 200
    assert b"".join(chunks) == payload


async def test_a_refused_connection_is_an_api_connection_error(
    make_transport: Callable[[PoolPolicy], Transport],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: the connection is refused
        transport = make_transport(PoolPolicy())
        try:
            with pytest.raises(APIConnectionError) as caught:
                await transport.send(RawRequest("GET", f"http://127.0.0.1:{port}/x"))
        finally:
            await transport.aclose()
    assert f"GET http://127.0.0.1:{port}/x failed" in caught.value.message


@pytest.mark.parametrize("error", [TimeoutError(), aiohttp.ServerTimeoutError("slow")])
def test_aiohttp_timeouts_become_api_timeout_errors(error: Exception) -> None:
    with (
        pytest.raises(APITimeoutError, match="timed out"),
        aiohttp_transport._mapped_errors(RequestInfo("GET", "http://h/x")),
    ):
        raise error


def test_aiohttp_refuses_http2_pools() -> None:
    with pytest.raises(ValueError, match=r"HTTP/1\.1 only"):
        AiohttpTransport(PoolPolicy(http2=True))


@pytest.mark.parametrize(
    ("env", "http2", "expected"),
    [
        ("", False, AiohttpTransport),
        ("", True, SchemeRoutedTransport),
        ("auto", True, SchemeRoutedTransport),
        ("httpx", True, HttpxTransport),
        ("HTTPX", False, HttpxTransport),
        ("pyqwest", False, PyqwestTransport),
        ("pyqwest", True, PyqwestTransport),
        ("aiohttp", True, SchemeRoutedTransport),
    ],
)
def test_the_default_factory_is_measured_and_overridable(
    monkeypatch: pytest.MonkeyPatch, env: str, http2: bool, expected: type
) -> None:
    monkeypatch.setenv(ENV_VAR, env)
    assert isinstance(default_transport_factory("p", PoolPolicy(http2=http2)), expected)
    assert Context().transport_factory is default_transport_factory


def test_an_unknown_transport_name_says_which_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "curl")
    with pytest.raises(ValueError, match=r"PRISTINE_TRANSPORT='curl'.*aiohttp"):
        default_transport_factory("p", PoolPolicy())


async def test_closing_an_unused_aiohttp_transport_is_a_no_op() -> None:
    transport = AiohttpTransport.factory("p", PoolPolicy())
    await transport.aclose()
    await transport.aclose()


def test_one_aiohttp_transport_serves_several_event_loops(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data(b"ok")
    transport = AiohttpTransport(PoolPolicy())
    request = RawRequest("GET", httpserver.url_for("/x"))

    async def send_then_close() -> bytes:
        response = await transport.send(request)
        await transport.aclose()  # closes this loop's session, asks the other loop to close its
        return response.content

    other = LoopThread(name="other-loop")
    try:
        assert other.run(transport.send(request), timeout=10).content == b"ok"
        assert asyncio.run(send_then_close()) == b"ok"
        assert other.run(transport.send(request), timeout=10).content == b"ok"
        other.run(transport.aclose(), timeout=10)
    finally:
        other.close()


async def test_an_http2_pool_sends_cleartext_over_aiohttp_and_tls_over_pyqwest(
    httpserver: HTTPServer,
) -> None:
    """HTTP/2 is negotiated over TLS only; cleartext is HTTP/1.1 whichever adapter sends it,
    and aiohttp does that with less CPU and far less memory per connection than pyqwest."""
    httpserver.expect_request("/x").respond_with_data(b"ok")
    transport = SchemeRoutedTransport(PoolPolicy(http2=True))
    try:
        assert (await transport.send(RawRequest("GET", httpserver.url_for("/x")))).content == b"ok"
        assert isinstance(transport.adapter_for(httpserver.url_for("/x")), AiohttpTransport)
        assert isinstance(transport.adapter_for("https://example.test/x"), PyqwestTransport)
        assert isinstance(transport.adapter_for("HTTPS://example.test/x"), PyqwestTransport)
    finally:
        await transport.aclose()


async def test_a_scheme_routed_transport_opens_adapters_only_when_used() -> None:
    transport = SchemeRoutedTransport(PoolPolicy(http2=True))
    assert transport.opened() == []
    transport.adapter_for("http://h/x")
    assert [type(adapter) for adapter in transport.opened()] == [AiohttpTransport]
    await transport.aclose()
    assert transport.opened() == []
