"""Terminal tests (a real pty, via pexpect): the delete prompt and streamed sampling."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from cli_testkit import OfficialClients, seed_runs

pexpect = pytest.importorskip("pexpect")

KIT = str(Path(__file__).with_name("cli_testkit.py"))
WAIT_S = 120


def _spawn(*args: str, env: dict[str, str] | None = None) -> Any:
    child = pexpect.spawn(
        sys.executable,
        [KIT, *args],
        encoding="utf-8",
        timeout=WAIT_S,
        env={"TINKER_TELEMETRY": "0", "PATH": "/usr/bin:/bin", **(env or {})},
        dimensions=(40, 200),
    )
    # No pacing sleeps: the tests wait for output, never for time.
    child.delaybeforesend = None
    child.delayafterclose = 0
    child.delayafterterminate = 0
    return child


def _listed(base_url: str, api_key: str, run_id: str) -> set[str]:
    rest = OfficialClients().rest(base_url, api_key)
    return {c.tinker_path for c in rest.list_checkpoints(run_id).result().checkpoints}


@pytest.mark.parametrize(("answer", "deleted"), [("n", False), ("y", True)])
def test_delete_asks_on_the_terminal(
    base_url: str, api_key: str, answer: str, deleted: bool
) -> None:
    pytest.importorskip("tinker")
    (run,) = seed_runs(base_url, api_key, 1)
    child = _spawn(
        "--base-url", base_url, "--api-key", api_key, "checkpoint", "delete", run.state_path
    )

    child.expect_exact("Will delete 1 checkpoint(s):")
    child.expect_exact(run.state_path)
    child.expect_exact("Delete 1 checkpoint(s)? [y/N]: ")
    child.sendline(answer)
    child.expect_exact("Deleted 1 checkpoint(s)" if deleted else "Cancelled")
    child.expect(pexpect.EOF)
    child.close()

    assert child.exitstatus == 0
    assert (run.state_path in _listed(base_url, api_key, run.run_id)) is not deleted


def test_ctrl_c_at_the_delete_prompt_exits_130(base_url: str, api_key: str) -> None:
    pytest.importorskip("tinker")
    (run,) = seed_runs(base_url, api_key, 1)
    child = _spawn(
        "--base-url", base_url, "--api-key", api_key, "checkpoint", "delete", run.state_path
    )

    child.expect_exact("[y/N]: ")
    child.sendintr()
    child.expect_exact("Interrupted.")
    child.expect(pexpect.EOF)
    child.close()

    assert child.exitstatus == 130
    assert run.state_path in _listed(base_url, api_key, run.run_id)


def test_sample_text_appears_while_the_stream_is_still_running() -> None:
    pytest.importorskip("tinker")
    text = "one two three"
    child = _spawn(
        "sample", "-m", "tinkex/tiny-llama", "-p", "Count:", env={"TINKEX_TEST_STREAM": text}
    )
    child.setecho(False)

    # Each Enter releases one token; the words show up before the stream has ended.
    child.sendline()
    child.sendline()
    child.expect_exact("one")
    assert child.isalive()
    for _ in range(20):
        child.sendline()
    child.expect_exact("three")
    child.expect(pexpect.EOF)
    child.close()

    assert child.exitstatus == 0
