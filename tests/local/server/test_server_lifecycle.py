"""Starting and stopping the server, its settings and its command line."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tinkex.local.__main__ import parse_args
from tinkex.local.config import DEFAULT_MODELS, ServerConfig
from tinkex.local.server import LocalServer


def test_start_serves_until_stop_and_data_survives_a_restart(tmp_path: Path) -> None:
    config = ServerConfig(port=0, data_dir=tmp_path)
    headers = {"X-API-Key": "tml-restart"}
    body = {"tags": [], "sdk_version": "t"}
    with LocalServer(config) as server:
        url = server.base_url
        assert url is not None
        assert url.startswith("http://127.0.0.1:")
        created = httpx.post(f"{url}/api/v1/create_session", json=body, headers=headers)
        session_id = created.json()["session_id"]
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=5)
    server.stop()

    with LocalServer(config) as again:
        listed = httpx.get(f"{again.base_url}/api/v1/sessions", headers=headers).json()
        assert session_id in listed["sessions"]


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="pick another port"):
            LocalServer(ServerConfig(port=port, data_dir=tmp_path)).start()


def test_unwritable_data_dir_fails_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RuntimeError, match="did not start"):
        LocalServer(ServerConfig(port=0, data_dir=blocker / "data")).start(timeout_s=30)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"port": 70000}, "port"),
        ({"host": "example.com"}, "host"),
        ({"models": ()}, "models"),
        ({"api_keys": ("sk-123",)}, "api_keys"),
        ({"max_body_bytes": 0}, "max_body_bytes"),
        ({"long_poll_s": 60}, "long_poll_s"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ServerConfig(**settings)  # type: ignore[arg-type]


def test_command_line(tmp_path: Path) -> None:
    config = parse_args(
        [
            "--port",
            "9001",
            "--data-dir",
            str(tmp_path),
            "--model",
            "a",
            "--model",
            "b",
            "--api-key",
            "tml-k",
        ]
    )
    assert config.port == 9001
    assert config.data_dir == tmp_path
    assert config.models == ("a", "b")
    assert config.api_keys == ("tml-k",)
    assert parse_args([]).models == DEFAULT_MODELS


def test_command_line_rejects_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--api-key", "nope"])
    assert "tml-" in capsys.readouterr().err


def test_cli_serves_until_interrupted(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tinkex.local", "--port", "0", "--data-dir", str(tmp_path)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        url = re.search(r"http://[\d.]+:\d+", banner)
        assert url is not None, banner
        assert httpx.get(f"{url.group()}/healthz", timeout=30).json() == {"status": "ok"}
        process.send_signal(signal.SIGINT)
        # uvicorn shuts down cleanly, then re-raises the signal, as Ctrl-C conventionally does.
        assert process.wait(timeout=30) in (0, -signal.SIGINT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
