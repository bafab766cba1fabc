"""Every script in `examples/` runs against one embedded server with the bundled tiny model.

The scripts run in-process (`runpy`, with their own command line) to share the server and
torch's start-up; each must exit cleanly and print the line that shows its flow worked.
"""

from __future__ import annotations

import re
import runpy
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TINY = "tinkex/tiny-llama"
CASES = [  # script, options beyond --base-url/--model, what its output must show
    ("sl_loop.py", ["--steps", "2"], r"step 1: loss \d+\.\d+\n.*saved state: tinker://"),
    ("rl_loop.py", ["--steps", "1"], r"step 0: mean reward \d\.\d\d, trained on \d+ samples"),
    ("async_pipeline.py", ["--steps", "3"], r"step 0: loss .*\nstep 1: loss .*\nstep 2: loss"),
    ("resume.py", ["--steps", "1"], r"resumed from tinker://.*/weights/step-1\nstep 1: loss"),
    ("dpo.py", ["--steps", "1"], r"step 0: dpo loss 0\.69\d\d, preference accuracy"),
    ("distill_topk.py", ["--steps", "1"], r"step 0: distillation loss \d+\.\d+"),
    ("regularized_loss.py", ["--steps", "1"], r"step 0: total loss .* = nll .* \+ regular"),
    ("download.py", [], r"downloaded \d+ bytes to .*tinkex-download:\n.*adapter_model\.safe"),
]
RunExample = Callable[..., None]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("torch", reason="the examples need the [local] extra (torch)")
    from tinkex.local.config import ServerConfig
    from tinkex.local.server import LocalServer

    server = LocalServer(
        ServerConfig(port=0, data_dir=tmp_path_factory.mktemp("examples"), models=(TINY,))
    )
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def run_example(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunExample]:
    """Runs `examples/<name>` as `python examples/<name> --base-url ... --model tiny ...`."""
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    monkeypatch.delenv("TINKER_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def run(name: str, *options: str) -> None:
        argv = [name, "--base-url", server_url, "--model", TINY, *options]
        monkeypatch.setattr(sys, "argv", argv)
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")

    yield run
    sys.modules.pop("_common", None)


@pytest.mark.parametrize(("name", "options", "expected"), CASES, ids=[c[0] for c in CASES])
def test_example_runs_and_reports(
    run_example: RunExample,
    capsys: pytest.CaptureFixture[str],
    name: str,
    options: list[str],
    expected: str,
) -> None:
    run_example(name, *options)
    printed = capsys.readouterr().out
    assert re.search(expected, printed, re.DOTALL), printed


def test_every_example_is_tested() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    tested = {name for name, _, _ in CASES}
    assert scripts == tested
