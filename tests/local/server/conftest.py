"""Servers for the HTTP tests, started in-process on free loopback ports.

Servers are session-scoped (start-up is cheap, the tiny model loads on first use) and every
test makes its own session and models, so tests stay independent in any order. The raw-HTTP
helpers live in ``server_testkit``, registered in ``sys.modules`` here so the test modules can
import it under any ``--import-mode``.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

_KIT = "server_testkit"
if _KIT not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_KIT, Path(__file__).with_name(f"{_KIT}.py"))
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules[_KIT] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_KIT])

from server_testkit import GOOD_KEY, OTHER_KEY, Api  # noqa: E402

from tinkex.local.config import ServerConfig  # noqa: E402
from tinkex.local.server import LocalServer  # noqa: E402


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")


def _start(tmp: Path, **settings: Any) -> Iterator[LocalServer]:
    server = LocalServer(ServerConfig(port=0, data_dir=tmp, **settings))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """Accepts any `tml-` key, long-polls 5 s: the official client's everyday setup."""
    yield from _start(tmp_path_factory.mktemp("open"), long_poll_s=5.0)


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """Accepts only GOOD_KEY and OTHER_KEY, and bodies up to 1 MiB."""
    yield from _start(
        tmp_path_factory.mktemp("keyed"),
        api_keys=(GOOD_KEY, OTHER_KEY),
        max_body_bytes=1 << 20,
        long_poll_s=5.0,
    )


@pytest.fixture(scope="session")
def impatient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """Answers `try_again` at once instead of long-polling."""
    yield from _start(tmp_path_factory.mktemp("impatient"), long_poll_s=0.0)


@pytest.fixture
def api(open_server: LocalServer) -> Iterator[Api]:
    assert open_server.base_url is not None
    client = Api(open_server.base_url, f"tml-{uuid.uuid4().hex}")
    yield client
    client.close()
