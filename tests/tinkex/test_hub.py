"""`tinkex.hub`: publishing adapters and pulling base models, against a fake Hub (offline)."""

from __future__ import annotations

import builtins
import inspect
import io
import json
import shutil
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tinkex import hub, types
from tinkex.hub import PushOptions
from tinkex.tokenizer import BUNDLED_TOKENIZERS

ADAPTER_CONFIG = {
    "base_model_name_or_path": "tinkex/tiny-llama",
    "peft_type": "LORA",
    "r": 4,
    "lora_alpha": 32,
    "target_modules": ["v_proj", "q_proj"],
}
PATH = "tinker://run-1/weights/final"


@dataclass
class FakeHub:
    """Records repos and uploads (a copy of the folder's files); serves `models` snapshots."""

    user: str = "alice"
    models: dict[str, Path] = field(default_factory=dict)
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
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*")
            if p.is_file()
        }
        self.uploads.append({"files": files, **arguments})

    def snapshot_download(
        self,
        repo_id: str,
        *,
        revision: str | None,
        local_dir: str,
        allow_patterns: list[str] | None,
    ) -> str:
        shutil.copytree(self.models[repo_id], local_dir, dirs_exist_ok=True)
        return local_dir


def _adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps(ADAPTER_CONFIG))
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    return folder


def test_an_adapter_is_pushed_with_a_generated_model_card(tmp_path: Path) -> None:
    fake = FakeHub()
    folder = _adapter(tmp_path / "adapter")
    options = PushOptions(private=False, revision="dev", create_pr=True, allow_patterns=["*"])

    repo = hub.push_adapter(folder, "alice/adapter", fake, options, source=PATH)

    assert repo == "alice/adapter"
    assert fake.repos == [("alice/adapter", False)]
    (upload,) = fake.uploads
    assert upload["repo_id"] == "alice/adapter"
    assert (upload["revision"], upload["create_pr"]) == ("dev", True)
    assert upload["allow_patterns"] == ["*"]
    assert upload["ignore_patterns"] is None
    assert upload["commit_message"] == f"Upload {PATH}"
    card = upload["files"]["README.md"].decode()
    assert card.startswith("---\nbase_model: tinkex/tiny-llama\nlibrary_name: peft\n")
    assert "LoRA rank: 4, alpha: 32" in card
    assert "`q_proj`, `v_proj`" in card
    assert PATH in card
    assert 'PeftModel.from_pretrained(base, "alice/adapter")' in card


def test_an_existing_card_is_kept_and_cards_can_be_left_out(tmp_path: Path) -> None:
    fake = FakeHub()
    kept = _adapter(tmp_path / "kept")
    (kept / "README.md").write_text("mine")
    bare = _adapter(tmp_path / "bare")

    hub.push_adapter(kept, "a/b", fake)
    hub.push_adapter(bare, "a/c", fake, PushOptions(model_card=False, commit_message="first"))

    assert fake.uploads[0]["files"]["README.md"] == b"mine"
    assert "README.md" not in fake.uploads[1]["files"]
    assert fake.uploads[1]["commit_message"] == "first"
    assert fake.repos == [("a/b", True), ("a/c", True)]


def test_a_folder_that_is_not_an_adapter_is_refused(tmp_path: Path) -> None:
    fake = FakeHub()
    with pytest.raises(ValueError, match=r"not a PEFT adapter \(needs adapter_config.json"):
        hub.push_adapter(tmp_path, "a/b", fake)
    assert fake.repos == []


@dataclass(frozen=True)
class Signed:
    value: types.ExternalWeightsUrlsResponse

    def result(self, timeout: float | None = None) -> types.ExternalWeightsUrlsResponse:
        return self.value


@dataclass(frozen=True)
class Signer:
    url: str

    def get_external_weights_urls(self, tinker_path: str) -> Signed:
        expires = datetime.now(UTC) + timedelta(hours=1)
        return Signed(
            types.ExternalWeightsUrlsResponse(urls={"final.tar": self.url}, expires=expires)
        )


def _adapter_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in {
            "adapter_config.json": json.dumps(ADAPTER_CONFIG).encode(),
            "adapter_model.safetensors": b"weights",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_checkpoint_is_downloaded_and_pushed_under_the_users_name(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/final.tar").respond_with_data(_adapter_tar())
    fake = FakeHub(user="carol")

    repo = hub.push_checkpoint(Signer(httpserver.url_for("/final.tar")), PATH, fake)

    assert repo == "carol/tinker-run-1-final"
    (upload,) = fake.uploads
    assert sorted(upload["files"]) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]


def test_a_base_model_is_pulled_into_a_servable_directory(tmp_path: Path) -> None:
    fake = FakeHub(models={"org/tiny": BUNDLED_TOKENIZERS["tinkex/tiny-llama"]})

    directory = hub.pull_base_model("org/tiny", tmp_path / "tiny", api=fake)

    assert (directory / "config.json").is_file()
    assert (directory / "tokenizer.json").is_file()


def test_a_repo_without_a_model_config_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "dataset"
    source.mkdir()
    (source / "data.txt").write_text("rows")
    fake = FakeHub(models={"org/data": source})

    with pytest.raises(ValueError, match=r"'org/data' has no config\.json"):
        hub.pull_base_model("org/data", tmp_path / "out", api=fake)


def test_the_real_hfapi_accepts_the_calls_made_here() -> None:
    """The protocol's keyword arguments exist on `huggingface_hub.HfApi` (no network)."""
    hfapi = pytest.importorskip("huggingface_hub").HfApi
    calls: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
        "create_repo": (("a/b",), {"private": True, "exist_ok": True}),
        "snapshot_download": (
            ("a/b",),
            {"revision": None, "local_dir": "d", "allow_patterns": ["*"]},
        ),
        "upload_folder": (
            (),
            {
                "folder_path": "d",
                "repo_id": "a/b",
                "revision": None,
                "commit_message": "m",
                "create_pr": False,
                "allow_patterns": None,
                "ignore_patterns": None,
            },
        ),
    }
    for name, (args, kwargs) in calls.items():
        inspect.signature(getattr(hfapi, name)).bind(None, *args, **kwargs)


def test_without_huggingface_hub_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def no_hub(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "huggingface_hub":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)

    with pytest.raises(hub.HubUnavailableError, match="pip install huggingface_hub"):
        hub.hub_api()
