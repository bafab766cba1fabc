"""Security: a canary API key never shows up in logs, server stderr, exception text, reprs
or CLI output, and the server compares keys with `hmac.compare_digest`.

401s, 413s, traversal refusals, loopback binding and archive extraction are tested where they
are implemented (tests/local/server/test_server_auth.py, test_server_bad_input.py,
tests/local/store, tests/tinkex/test_archive.py); this module covers what crosses them.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

from click.testing import CliRunner
from reliability_kit import sl_batch

from pristine.errors import PristineError
from tinkex.cli.app import cli
from tinkex.clients.service import ServiceClient
from tinkex.local.config import DEFAULT_MODELS, ServerConfig
from tinkex.local.server import LocalServer

CANARY = "tml-CANARY-5f3a9c2e-never-print-me"
WRONG = "tml-WRONG-0b7d1e44-never-print-me"
TIMEOUT_S = 120.0


@pytest.fixture
def keyed_url(tmp_path: Path) -> Iterator[str]:
    config = ServerConfig(port=0, data_dir=tmp_path, api_keys=(CANARY,), long_poll_s=0.2)
    with LocalServer(config) as server:
        assert server.base_url is not None
        yield server.base_url


def test_canary_key_appears_in_no_output(
    keyed_url: str,
    make_service: Callable[..., ServiceClient],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    service = make_service(keyed_url, api_key=CANARY)
    training = service.create_lora_training_client(DEFAULT_MODELS[0], rank=2).result(TIMEOUT_S)
    training.forward_backward(sl_batch(0), "cross_entropy").result(TIMEOUT_S)
    seen += [repr(service), repr(service.holder), repr(training)]
    with pytest.raises(PristineError) as refused:
        make_service(keyed_url, api_key=WRONG).create_lora_training_client(
            DEFAULT_MODELS[0]
        ).result(TIMEOUT_S)
    seen += [str(refused.value), repr(refused.value), repr(refused.value.__dict__)]
    with pytest.raises(Exception) as bad_input:
        training.forward_backward([], "cross_entropy").result(TIMEOUT_S)
    seen += [str(bad_input.value), repr(bad_input.value)]
    runner = CliRunner()
    for key, exit_code in ((CANARY, 0), (WRONG, 1)):
        env = {"TINKER_BASE_URL": keyed_url, "TINKER_API_KEY": key, "TINKER_TELEMETRY": "0"}
        result = runner.invoke(cli, ["run", "list", "--json"], env=env)
        assert result.exit_code == exit_code, result.output
        seen += [result.output, repr(result.exception)]
    captured = capfd.readouterr()
    seen += [captured.out, captured.err, caplog.text]
    seen += [str(record.__dict__) for record in caplog.records]
    for text in seen:
        for secret in (CANARY, WRONG, CANARY.removeprefix("tml-"), WRONG.removeprefix("tml-")):
            assert secret not in text


def test_server_compares_keys_with_compare_digest(
    keyed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr("tinkex.local.app.auth.hmac.compare_digest", recording)
    body = {"sdk_version": "0.38.0"}
    for key, status in ((WRONG, 401), (CANARY, 200)):
        response = httpx.post(
            f"{keyed_url}/api/v1/client/config", json=body, headers={"X-API-Key": key}, timeout=10
        )
        assert response.status_code == status
    assert calls == [(WRONG.encode(), CANARY.encode()), (CANARY.encode(), CANARY.encode())]


def test_default_server_binds_loopback() -> None:
    assert ServerConfig().host == "127.0.0.1"
