"""Hugging Face Hub: publish a LoRA checkpoint as a PEFT repo, fetch a base model.

A Tinker training checkpoint is already a PEFT adapter directory (`adapter_config.json` +
`adapter_model.safetensors`), so publishing it is: download it (`tinkex.download`), add a
model card generated from its adapter config, upload the folder. Pulling a base model puts
its files in a plain directory that `tinkex serve --model DIR` serves.

`huggingface_hub` is optional and imported only when a Hub client is built; everything else
talks to the small `HubApi` protocol, so the flows run offline against a fake in tests.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tinkex.download import (
    Exporter,
    ProgressFactory,
    UrlSigner,
    check_downloadable,
    download_checkpoint,
)

__all__ = [
    "BASE_MODEL_PATTERNS",
    "AdapterInfo",
    "HubApi",
    "HubUnavailableError",
    "PushOptions",
    "default_repo_name",
    "hub_api",
    "model_card",
    "pull_base_model",
    "push_adapter",
    "push_checkpoint",
    "read_adapter",
]

BASE_MODEL_PATTERNS = (
    "*.json",
    "*.safetensors",
    "*.txt",
    "*.model",
    "*.jinja",
    "tokenizer*",
)
"""What a base model needs locally: config, weights, tokenizer; not other frameworks' files."""

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


class HubUnavailableError(ImportError):
    """`huggingface_hub` is not installed."""


class HubApi(Protocol):
    """The `huggingface_hub.HfApi` methods used here."""

    def whoami(self) -> dict[str, Any]: ...

    def create_repo(self, repo_id: str, *, private: bool, exist_ok: bool) -> Any: ...

    def upload_folder(
        self,
        *,
        folder_path: str,
        repo_id: str,
        revision: str | None,
        commit_message: str | None,
        create_pr: bool,
        allow_patterns: list[str] | None,
        ignore_patterns: list[str] | None,
    ) -> Any: ...

    def snapshot_download(
        self,
        repo_id: str,
        *,
        revision: str | None,
        local_dir: str,
        allow_patterns: list[str] | None,
    ) -> Any: ...


def hub_api(token: str | None = None) -> HubApi:
    """An `HfApi` (token: explicit, else `hf auth login` / HF_TOKEN)."""
    try:
        from huggingface_hub import HfApi
    except ImportError as error:
        raise HubUnavailableError(
            "the Hugging Face Hub needs the huggingface_hub package; install it with "
            "'pip install huggingface_hub' (or tinkex[local]), then run 'hf auth login'"
        ) from error
    api: HubApi = HfApi(token=token)
    return api


@dataclass(frozen=True)
class AdapterInfo:
    """What the model card says about a LoRA adapter, read from its `adapter_config.json`."""

    base_model: str
    rank: int | None
    alpha: float | None
    target_modules: list[str]


def read_adapter(folder: str | Path) -> AdapterInfo:
    """The adapter config of a PEFT LoRA directory, or ValueError naming what is missing."""
    directory = Path(folder)
    config_path = directory / ADAPTER_CONFIG
    if not config_path.is_file() or not any((directory / w).is_file() for w in ADAPTER_WEIGHTS):
        raise ValueError(
            f"folder: {str(directory)!r} is not a PEFT adapter (needs {ADAPTER_CONFIG} and "
            f"{ADAPTER_WEIGHTS[0]}); download a training checkpoint with "
            "tinkex.download.download_checkpoint first"
        )
    config = json.loads(config_path.read_text(encoding="utf-8"))
    base_model = config.get("base_model_name_or_path")
    if not base_model:
        raise ValueError(f"{config_path}: base_model_name_or_path is missing; cannot publish")
    targets = config.get("target_modules") or []
    return AdapterInfo(
        base_model=str(base_model),
        rank=config.get("r"),
        alpha=config.get("lora_alpha"),
        target_modules=sorted(targets) if isinstance(targets, list) else [str(targets)],
    )


def model_card(repo_id: str, adapter: AdapterInfo, source: str | None = None) -> str:
    """A README.md with Hub metadata (base model, PEFT) and how to load the adapter."""
    details = [f"- base model: `{adapter.base_model}`"]
    if adapter.rank is not None:
        details.append(f"- LoRA rank: {adapter.rank}, alpha: {adapter.alpha}")
    if adapter.target_modules:
        details.append("- target modules: " + ", ".join(f"`{m}`" for m in adapter.target_modules))
    if source:
        details.append(f"- exported from `{source}`")
    lines = "\n".join(details)
    return (
        f"---\nbase_model: {adapter.base_model}\nlibrary_name: peft\n"
        "pipeline_tag: text-generation\ntags: [tinker, tinkex, lora, peft]\n---\n\n"
        f"# {repo_id}\n\nA LoRA adapter for `{adapter.base_model}`, trained with Tinker.\n\n"
        f"{lines}\n\n## Usage\n\n```python\n"
        "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n\n"
        f'base = AutoModelForCausalLM.from_pretrained("{adapter.base_model}")\n'
        f'model = PeftModel.from_pretrained(base, "{repo_id}")\n```\n'
    )


def default_repo_name(tinker_path: str) -> str:
    """`tinker-<run>-<name>`, reduced to the characters a Hub repo name allows."""
    parsed = check_downloadable(tinker_path)
    name = parsed.checkpoint_id.rsplit("/", 1)[-1]
    raw = f"tinker-{parsed.training_run_id}-{name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.")[:96]


@dataclass(frozen=True)
class PushOptions:
    """How the repo is created and the folder uploaded (`HfApi.upload_folder` arguments)."""

    private: bool = True
    revision: str | None = None
    commit_message: str | None = None
    create_pr: bool = False
    allow_patterns: Sequence[str] | None = None
    ignore_patterns: Sequence[str] | None = None
    model_card: bool = True


def push_adapter(
    folder: str | Path,
    repo_id: str,
    api: HubApi,
    options: PushOptions | None = None,
    *,
    source: str | None = None,
) -> str:
    """Upload a PEFT adapter directory to `repo_id` (created if needed); returns the repo id.

    With `options.model_card`, a generated README.md is written into `folder` first unless
    one exists already.
    """
    options = options or PushOptions()
    directory = Path(folder)
    adapter = read_adapter(directory)
    card = directory / "README.md"
    if options.model_card and not card.exists():
        card.write_text(model_card(repo_id, adapter, source), encoding="utf-8")
    api.create_repo(repo_id, private=options.private, exist_ok=True)
    api.upload_folder(
        folder_path=str(directory),
        repo_id=repo_id,
        revision=options.revision,
        commit_message=options.commit_message or f"Upload {source or directory.name}",
        create_pr=options.create_pr,
        allow_patterns=list(options.allow_patterns) if options.allow_patterns else None,
        ignore_patterns=list(options.ignore_patterns) if options.ignore_patterns else None,
    )
    return repo_id


def push_checkpoint(
    rest_client: UrlSigner,
    tinker_path: str,
    api: HubApi,
    *,
    repo_id: str | None = None,
    options: PushOptions | None = None,
    progress: ProgressFactory | None = None,
    export: Exporter | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
) -> str:
    """Download `tinker_path` to a temporary directory and publish it as a PEFT repo.

    `repo_id` defaults to `<hub user>/tinker-<run>-<name>`; the other arguments are those of
    `tinkex.download.download_checkpoint`.
    """
    check_downloadable(tinker_path)
    if repo_id is None:
        repo_id = f"{api.whoami()['name']}/{default_repo_name(tinker_path)}"
    with tempfile.TemporaryDirectory(prefix="tinkex-push-") as scratch:
        folder = Path(scratch) / "checkpoint"
        download_checkpoint(
            rest_client,
            tinker_path,
            folder,
            progress=progress,
            export=export,
            base_url=base_url,
            api_key=api_key,
        )
        return push_adapter(folder, repo_id, api, options, source=tinker_path)


def pull_base_model(
    repo_id: str,
    local_dir: str | Path,
    *,
    revision: str | None = None,
    api: HubApi | None = None,
    allow_patterns: Sequence[str] = BASE_MODEL_PATTERNS,
) -> Path:
    """Download a base model's config, weights and tokenizer into `local_dir`.

    The directory is what the local backend serves: `tinkex serve --model <local_dir>`.
    """
    directory = Path(local_dir)
    hub = api or hub_api()
    hub.snapshot_download(
        repo_id, revision=revision, local_dir=str(directory), allow_patterns=list(allow_patterns)
    )
    if not (directory / "config.json").is_file():
        raise ValueError(
            f"repo_id: {repo_id!r} has no config.json, so it is not a transformers model the "
            "local backend can serve; pick a model repo (e.g. HuggingFaceTB/SmolLM2-135M-Instruct)"
        )
    return directory
