"""Fixtures of the reliability suite: an embedded server and clients with capped timeouts.

The helpers live in ``reliability_kit``, registered in ``sys.modules`` here so the test
modules can import it under any ``--import-mode``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_KIT = "reliability_kit"
if _KIT not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_KIT, Path(__file__).with_name(f"{_KIT}.py"))
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules[_KIT] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_KIT])

from reliability_kit import API_KEY, Served, capped_factory  # noqa: E402

from tinkex.clients._holder import ClientHolder  # noqa: E402
from tinkex.clients.service import ServiceClient  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An embedded server (bundled tiny model) with short long-polls, for this module."""
    pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")
    from tinkex.local.config import ServerConfig
    from tinkex.local.server import LocalServer

    data_dir = tmp_path_factory.mktemp("local")
    config = ServerConfig(port=0, data_dir=data_dir, long_poll_s=0.2)
    with LocalServer(config) as server:
        assert server.base_url is not None
        yield Served(server.base_url, data_dir)


@pytest.fixture
def make_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ServiceClient]]:
    """Build ServiceClients (telemetry off) with a capped per-attempt timeout; closes them."""
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    made: list[ServiceClient] = []

    def make(
        base_url: str, *, timeout_cap_s: float = 60.0, api_key: str = API_KEY
    ) -> ServiceClient:
        holder = ClientHolder(
            base_url=base_url, api_key=api_key, transport_factory=capped_factory(timeout_cap_s)
        )
        made.append(ServiceClient.from_holder(holder))
        return made[-1]

    yield make
    for service in made:
        service.holder.close()
