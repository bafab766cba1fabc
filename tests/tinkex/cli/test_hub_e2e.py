"""`tinkex checkpoint push-hf`: the Hub upload flow with a fake Hub, and offline errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cli_testkit import Cli, seed_runs

from tinkex.cli import hub
from tinkex.cli.context import CliError


@dataclass
class FakeHub:
    """Records what would be uploaded (a copy of the folder's files and the arguments)."""

    user: str = "alice"
    repos: list[tuple[str, bool]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)

    def whoami(self) -> dict[str, Any]:
        return {"name": self.user}

    def create_repo(self, repo_id: str, *, private: bool, exist_ok: bool) -> None:
        assert exist_ok
        self.repos.append((repo_id, private))

    def upload_folder(self, *, folder_path: str, **arguments: Any) -> None:
        folder = Path(folder_path)
        files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in folder.rglob("*")
            if path.is_file()
        }
        self.uploads.append({"files": files, **arguments})


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub()
    tokens: list[str | None] = []

    def make(token: str | None) -> FakeHub:
        tokens.append(token)
        return fake

    monkeypatch.setattr(hub, "hub_api", make)
    return fake


def test_push_uploads_the_checkpoint_with_a_model_card(tinkex: Cli, fake_hub: FakeHub) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    data = tinkex.json(
        "checkpoint",
        "push-hf",
        run.state_path,
        "--public",
        "--revision",
        "dev",
        "--allow-pattern",
        "*.safetensors",
        "--allow-pattern",
        "*.md",
        "--create-pr",
    )

    repo = f"alice/{hub.default_repo_name(run.state_path)}"
    assert data == {
        "tinker_path": run.state_path,
        "repo_id": repo,
        "revision": "dev",
        "public": True,
    }
    assert fake_hub.repos == [(repo, False)]
    (upload,) = fake_hub.uploads
    assert upload["repo_id"] == repo
    assert upload["revision"] == "dev"
    assert upload["create_pr"] is True
    assert upload["allow_patterns"] == ["*.safetensors", "*.md"]
    assert upload["ignore_patterns"] is None
    card = upload["files"]["README.md"].decode()
    assert "base_model: tinkex/tiny-llama" in card
    assert run.state_path in card
    assert len(upload["files"]) > 1


def test_push_to_a_named_repo_without_a_card(tinkex: Cli, fake_hub: FakeHub) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    result = tinkex(
        "checkpoint",
        "push-hf",
        run.state_path,
        "--repo",
        "bob/adapter",
        "--no-model-card",
        "--commit-message",
        "first",
    )

    assert result.exit_code == 0, result.stderr
    assert "Uploaded" in result.stdout
    assert "bob/adapter" in result.stdout
    assert fake_hub.repos == [("bob/adapter", True)]
    (upload,) = fake_hub.uploads
    assert "README.md" not in upload["files"]
    assert upload["commit_message"] == "first"


def test_push_needs_a_hub_login(
    tinkex: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)

    result = tinkex("checkpoint", "push-hf", "tinker://r/weights/w")

    assert result.exit_code == 1
    assert "not logged in to the Hugging Face Hub" in result.stderr
    assert "hf auth login" in result.stderr


def test_push_without_huggingface_hub_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_hub(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "huggingface_hub":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)

    with pytest.raises(CliError, match="pip install huggingface_hub"):
        hub.hub_api(None)


def test_default_repo_names_are_valid_hub_names() -> None:
    name = hub.default_repo_name("tinker://session-1:train:0/weights/final step")

    assert name == "tinker-session-1-train-0-final-step"
    assert json.dumps(name).isascii()
