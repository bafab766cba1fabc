"""Fixtures for the client tests: a fake Tinker service on loopback and clients bound to it.

H10's tests (sampling, rest, admin) use these too: `fake_tinker` is the scripted service,
`holder` a session-ready `ClientHolder` on it, `service_client` a `ServiceClient` on it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

if "fake_tinker" not in sys.modules:  # a helper module beside the tests, any import mode
    _spec = importlib.util.spec_from_file_location(
        "fake_tinker", Path(__file__).with_name("fake_tinker.py")
    )
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules["fake_tinker"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["fake_tinker"])

from fake_tinker import API_KEY, FakeTinker

from tinkex.clients._holder import ClientHolder
from tinkex.clients.service import ServiceClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_tinker(httpserver: HTTPServer) -> FakeTinker:
    return FakeTinker(httpserver)


@pytest.fixture
def holder(fake_tinker: FakeTinker) -> Iterator[ClientHolder]:
    core = ClientHolder(base_url=fake_tinker.base_url, api_key=API_KEY)
    yield core
    core.close()


@pytest.fixture
def service_client(holder: ClientHolder) -> ServiceClient:
    return ServiceClient.from_holder(holder)


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real embedded server (`tinkex.local`, bundled tiny model) for this test module."""
    from tinkex.local.config import ServerConfig
    from tinkex.local.server import LocalServer

    local = LocalServer(ServerConfig(port=0, data_dir=tmp_path_factory.mktemp("local")))
    url = local.start()
    try:
        yield url
    finally:
        local.stop()


@pytest.fixture
def local_service(local_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServiceClient]:
    """A ServiceClient on `local_server`, telemetry off."""
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    with ServiceClient(base_url=local_server, api_key="tml-local-test") as client:
        yield client
