"""`tinkex local seed-tokenizer`: a seeded hub cache loads with the network unreachable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tinkex.cli import hub as cli_hub
from tinkex.cli.app import cli
from tinkex.cli.local import hub_cache_dir, seed_tokenizer
from tinkex.tokenizer import BUNDLED_TOKENIZERS

TINY = "tinkex/tiny-llama"
ALIAS = "Qwen/Qwen3-4B-Instruct-2507"

# Run in a fresh interpreter: huggingface_hub reads HF_HOME and HF_HUB_OFFLINE at import
# time. Every socket connection fails, so a network access is an error, not a slow retry.
_LOAD_OFFLINE = textwrap.dedent(
    """
    import socket, sys

    def refuse(*args, **kwargs):
        raise OSError("network access during an offline test")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
    print(tokenizer.encode("hello world", add_special_tokens=False))
    """
)


def _offline_env(hf_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    return {**env, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def test_a_seeded_alias_loads_with_transformers_offline(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    hf_home = tmp_path / "hf"
    env = _offline_env(hf_home)

    result = CliRunner(env=env).invoke(
        cli, ["local", "seed-tokenizer", ALIAS, "--from", TINY, "--json"]
    )

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["repo_id"] == ALIAS
    assert "tokenizer.json" in data["files"]
    assert "model.safetensors" not in data["files"]
    assert Path(data["snapshot"]).is_relative_to(
        hf_home / "hub" / "models--Qwen--Qwen3-4B-Instruct-2507"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", _LOAD_OFFLINE, ALIAS],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    expected = subprocess.run(
        [sys.executable, "-c", _LOAD_OFFLINE, str(BUNDLED_TOKENIZERS[TINY])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert loaded.stdout == expected.stdout


def test_seeding_twice_is_idempotent_and_follows_new_files(tmp_path: Path) -> None:
    source = tmp_path / "tok"
    source.mkdir()
    (source / "tokenizer.json").write_text('{"v": 1}')
    (source / "tokenizer_config.json").write_text("{}")
    (source / "model.safetensors").write_bytes(b"weights")
    cache = tmp_path / "hub"

    first = seed_tokenizer("org/name", str(source), cache)
    again = seed_tokenizer("org/name", str(source), cache)
    (source / "tokenizer.json").write_text('{"v": 2}')
    changed = seed_tokenizer("org/name", str(source), cache)

    assert first.snapshot == again.snapshot
    assert changed.snapshot != first.snapshot
    assert first.files == ["tokenizer.json", "tokenizer_config.json"]
    assert (cache / "models--org--name" / "refs" / "main").read_text() == changed.snapshot.name
    assert (changed.snapshot / "tokenizer.json").read_text() == '{"v": 2}'


def test_the_cache_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", "/x/hf")
    assert hub_cache_dir() == Path("/x/hf/hub")
    monkeypatch.setenv("HF_HUB_CACHE", "/y/hub")
    assert hub_cache_dir() == Path("/y/hub")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad--name", "--from", TINY], "NAME: 'bad--name' is not a Hugging Face repo id"),
        (["a/b/c", "--from", TINY], "is not a Hugging Face repo id"),
        (["org/name", "--from", "{empty}"], "holds no tokenizer"),
    ],
)
def test_bad_input_is_refused_with_a_fix(tmp_path: Path, args: list[str], message: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [arg.replace("{empty}", str(empty)) for arg in args]

    result = CliRunner().invoke(
        cli, ["local", "seed-tokenizer", *args, "--cache-dir", str(tmp_path / "hub")]
    )

    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "hub").exists()


@dataclass
class FakeHub:
    """Serves snapshots of local directories, like `HfApi.snapshot_download`."""

    models: dict[str, Path]
    pulls: list[tuple[str, str | None]] = field(default_factory=list)

    def snapshot_download(
        self, repo_id: str, *, revision: str | None, local_dir: str, allow_patterns: Any
    ) -> str:
        self.pulls.append((repo_id, revision))
        shutil.copytree(self.models[repo_id], local_dir, dirs_exist_ok=True)
        return local_dir


def test_pull_model_puts_a_servable_model_in_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeHub({"org/tiny": BUNDLED_TOKENIZERS[TINY]})
    tokens: list[str | None] = []

    def api(token: str | None) -> FakeHub:
        tokens.append(token)
        return fake

    monkeypatch.setattr(cli_hub, "hub_api", api)
    target = tmp_path / "tiny"

    result = CliRunner().invoke(
        cli,
        ["local", "pull-model", "org/tiny", "--dir", str(target), "--revision", "v1", "--json"],
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"repo_id": "org/tiny", "directory": str(target)}
    assert (target / "config.json").is_file()
    assert fake.pulls == [("org/tiny", "v1")]
    assert tokens == [None]


def test_pull_model_refuses_a_repo_without_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(cli_hub, "hub_api", lambda _token: FakeHub({"org/data": empty}))

    result = CliRunner().invoke(
        cli, ["local", "pull-model", "org/data", "--dir", str(tmp_path / "out")]
    )

    assert result.exit_code == 1
    assert "'org/data' has no config.json" in result.output
