"""HTTP/2: a pool with `http2: true` negotiates h2 (ALPN) with a server that speaks only h2."""

from __future__ import annotations

import random
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import orjson
import pytest

from pristine.adapters.httpx_transport import HttpxTransport
from pristine.context import Context
from pristine.errors import APIConnectionError
from pristine.manifest import PoolPolicy, load_manifest
from pristine.pipeline import Pipeline
from pristine.testing import FakeClock, endpoint_dict, manifest_dict

pytestmark = pytest.mark.anyio


class H2OnlyServer:
    """A TLS server that offers only `h2` in ALPN and answers every GET with its path."""

    def __init__(self, cert: Path, key: Path) -> None:
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(cert, key)
        self._tls.set_alpn_protocols(["h2"])
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.protocols: list[str | None] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._sock.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            try:
                with self._tls.wrap_socket(conn, server_side=True) as tls:
                    self.protocols.append(tls.selected_alpn_protocol())
                    self._speak_h2(tls)
            except (OSError, h2.exceptions.ProtocolError):
                continue  # e.g. an HTTP/1.1 client: drop it, keep serving

    def _speak_h2(self, tls: ssl.SSLSocket) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        tls.sendall(conn.data_to_send())
        while data := tls.recv(65535):
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    path = dict(event.headers)[b":path"].decode()
                    body = orjson.dumps({"path": path, "protocol": "h2"})
                    conn.send_headers(
                        event.stream_id,
                        [
                            (":status", "200"),
                            ("content-type", "application/json"),
                            ("content-length", str(len(body))),
                        ],
                    )
                    conn.send_data(event.stream_id, body, end_stream=True)
            tls.sendall(conn.data_to_send())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def h2_server(certificate: tuple[Path, Path]) -> Iterator[H2OnlyServer]:
    server = H2OnlyServer(*certificate)
    yield server
    server.close()


def pipeline_for(server: H2OnlyServer, cert: Path, http2: bool) -> Pipeline:
    trust = ssl.create_default_context(cafile=str(cert))
    manifest = load_manifest(
        manifest_dict(
            endpoint_dict("hello", "/hello/{name}"),
            pools={"default": {"http2": http2}},
            retry_policies={"default": {"max_attempts": 1}},
        )
    )

    def factory(name: str, pool: PoolPolicy) -> HttpxTransport:
        return HttpxTransport(pool, verify=trust)

    context = Context(
        base_url=f"https://127.0.0.1:{server.port}",
        transport_factory=factory,
        clock=FakeClock(),
        rng=random.Random(0),
    )
    return Pipeline(manifest, context)


async def test_http2_pool_negotiates_h2(
    h2_server: H2OnlyServer, certificate: tuple[Path, Path]
) -> None:
    async with pipeline_for(h2_server, certificate[0], http2=True) as pipeline:
        first = await pipeline.call("hello", path_params={"name": "a"})
        second = await pipeline.call("hello", path_params={"name": "b"})
    assert first == {"path": "/hello/a", "protocol": "h2"}
    assert second["path"] == "/hello/b"
    assert h2_server.protocols == ["h2"]  # both calls shared one multiplexed connection


async def test_http1_pool_cannot_talk_to_an_h2_only_server(
    h2_server: H2OnlyServer, certificate: tuple[Path, Path]
) -> None:
    async with pipeline_for(h2_server, certificate[0], http2=False) as pipeline:
        with pytest.raises(APIConnectionError):
            await pipeline.call("hello", path_params={"name": "a"})
    assert h2_server.protocols == [None]
