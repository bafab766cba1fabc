"""Fixtures of the CLI tests: a fresh local backend per test and the client factories."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_KIT = "cli_testkit"
if _KIT not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_KIT, Path(__file__).with_name(f"{_KIT}.py"))
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules[_KIT] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_KIT])

from cli_testkit import Cli, OfficialClients, tinkex_clients_ready  # noqa: E402

from tinkex.cli.context import ClientFactory, TinkexClients  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("TINKER_API_KEY", "TINKER_BASE_URL", "TINKEX_DEBUG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    """A fresh local backend (own data directory) for one test."""
    pytest.importorskip("torch", reason="the local backend needs the [local] extra")
    from tinkex.local.config import ServerConfig
    from tinkex.local.server import LocalServer

    server = LocalServer(ServerConfig(port=0, data_dir=tmp_path / "server", long_poll_s=5.0))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(params=["official", "tinkex"])
def clients(request: pytest.FixtureRequest) -> ClientFactory:
    """Every end-to-end test runs with the official SDK and, once ready, tinkex.clients."""
    if request.param == "official":
        pytest.importorskip("tinker")
        return OfficialClients()
    if not tinkex_clients_ready():
        pytest.skip("tinkex.clients (ServiceClient, client core) not written yet")
    return TinkexClients()


@pytest.fixture
def api_key() -> str:
    return f"tml-{uuid.uuid4().hex}"


@pytest.fixture
def tinkex(clients: ClientFactory, base_url: str, api_key: str) -> Cli:
    """`tinkex ARGS` in-process against the test's backend."""
    return Cli(base_url, api_key, clients)
