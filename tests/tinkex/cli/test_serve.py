"""`tinkex serve` (a real process serving the CLI) and `tinkex demo`."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cli_testkit import TINY, Cli, OfficialClients, run

from tinkex.cli import serve
from tinkex.cli.context import TinkexClients

SERVE = [sys.executable, "-c", "from tinkex.cli import main; main()", "serve"]


def test_serve_runs_the_local_backend_until_ctrl_c(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the local backend needs the [local] extra")
    pytest.importorskip("tinker")
    key = f"tml-{uuid.uuid4().hex}"
    process = subprocess.Popen(
        [*SERVE, "--port", "0", "--data-dir", str(tmp_path), "--api-key", key, "--model", TINY],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        match = re.search(r"serving tinkex/tiny-llama on (http://\S+) \(data in (\S+)\)", banner)
        assert match, banner
        assert match.group(2) == str(tmp_path)

        listed = Cli(match.group(1), key, OfficialClients()).json("model", "list")
        refused = Cli(match.group(1), "tml-wrong-key", OfficialClients())("model", "list")

        # The default alias is listed too, so cookbook code checking the list finds it.
        assert [model["model_name"] for model in listed["models"]] == [
            TINY,
            "Qwen/Qwen3-4B-Instruct-2507",
        ]
        assert refused.exit_code == 1
        assert "check the API key" in refused.stderr
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130  # Ctrl-C, after a clean shutdown


def test_serve_refuses_bad_settings_before_starting() -> None:
    result = run(["serve", "--api-key", "not-a-tml-key"], TinkexClients())

    assert result.exit_code == 1
    assert "serve: api_keys:" in result.stderr
    assert "must start with 'tml-'" in result.stderr


def test_serve_on_a_busy_port_says_to_pick_another(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["serve", "--port", str(port), "--data-dir", str(tmp_path)]
        result = run(args, TinkexClients())

    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "pick another port" in result.stderr


def test_demo_is_a_placeholder_until_the_demo_module_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(serve, "DEMO_MODULE", f"missing_demo_{uuid.uuid4().hex}")

    result = run(["demo"], TinkexClients())

    assert result.exit_code == 0
    assert "not yet available" in result.stdout


@pytest.mark.parametrize(("returned", "code"), [("None", 0), ("3", 3)])
def test_demo_runs_the_demo_module(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, returned: str, code: int
) -> None:
    name = f"fake_demo_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(
        f"def main():\n    print('demo ran')\n    return {returned}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(serve, "DEMO_MODULE", name)

    result = run(["demo"], TinkexClients())

    assert result.exit_code == code
    assert "demo ran" in result.stdout


def test_loading_the_cli_does_not_load_the_local_backend() -> None:
    probe = (
        "import sys, tinkex.cli.app; "
        "print(any(m == 'torch' or m.startswith('tinkex.local') for m in sys.modules))"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert loaded.stdout.strip() == "False"
