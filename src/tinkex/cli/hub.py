"""`checkpoint push-hf`: download a checkpoint, add a model card, upload it to the Hub.

`huggingface_hub` is optional and imported only here, when the command runs; the Hub API
is reached through the small `HubApi` protocol so the flow can be tested offline.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tinkex.cli.context import CliContext, CliError
from tinkex.cli.download import ProgressFactory, download_checkpoint, parse_downloadable

__all__ = ["HubApi", "HubUpload", "hub_api", "push"]

_LOGIN_FIX = "run 'hf auth login', set HF_TOKEN, or pass --hf-token"


class HubApi(Protocol):
    """The `huggingface_hub.HfApi` methods the upload needs."""

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


@dataclass(frozen=True)
class HubUpload:
    tinker_path: str
    repo_id: str | None
    private: bool
    revision: str | None
    commit_message: str | None
    create_pr: bool
    allow_patterns: list[str] | None
    ignore_patterns: list[str] | None
    model_card: bool


def hub_api(token: str | None) -> HubApi:
    """An `HfApi`, or a CliError saying how to install `huggingface_hub`."""
    try:
        from huggingface_hub import HfApi
    except ImportError as error:
        raise CliError(
            "push-hf needs the huggingface_hub package",
            "install it with 'pip install huggingface_hub', then run 'hf auth login'",
        ) from error
    api: HubApi = HfApi(token=token)
    return api


def default_repo_name(tinker_path: str) -> str:
    """`tinker-<run>-<name>`, reduced to the characters a Hub repo name allows."""
    parsed = parse_downloadable(tinker_path)
    name = parsed.checkpoint_id.rsplit("/", 1)[-1]
    raw = f"tinker-{parsed.training_run_id}-{name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.")[:96]


def _model_card(ctx: CliContext, tinker_path: str, repo_id: str) -> str:
    info = ctx.wait(ctx.rest().get_weights_info_by_tinker_path(tinker_path))
    rank = f", LoRA rank {info.lora_rank}" if info.lora_rank else ""
    return (
        f"---\nbase_model: {info.base_model}\nlibrary_name: peft\ntags: [tinker, lora]\n---\n\n"
        f"# {repo_id}\n\nA LoRA adapter for `{info.base_model}`{rank}, trained with Tinker "
        f"and exported from `{tinker_path}`.\n"
    )


def push(ctx: CliContext, upload: HubUpload, api: HubApi, progress: ProgressFactory) -> str:
    """Upload `upload.tinker_path` to the Hub; returns the repo id."""
    try:
        user = api.whoami()
    except Exception as error:
        raise CliError(f"not logged in to the Hugging Face Hub ({error})", _LOGIN_FIX) from error
    repo_id = upload.repo_id or f"{user['name']}/{default_repo_name(upload.tinker_path)}"
    with tempfile.TemporaryDirectory(prefix="tinkex-push-") as scratch:
        folder = Path(scratch) / "checkpoint"
        download_checkpoint(ctx, upload.tinker_path, folder, force=True, progress=progress)
        card = folder / "README.md"
        if upload.model_card and not card.exists():
            card.write_text(_model_card(ctx, upload.tinker_path, repo_id), encoding="utf-8")
        api.create_repo(repo_id, private=upload.private, exist_ok=True)
        api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            revision=upload.revision,
            commit_message=upload.commit_message or f"Upload {upload.tinker_path}",
            create_pr=upload.create_pr,
            allow_patterns=upload.allow_patterns,
            ignore_patterns=upload.ignore_patterns,
        )
    return repo_id
