"""`checkpoint push-hf` on top of `tinkex.hub`: Hub login, export, and one-line errors.

The Hub client comes from `hub_api` (tests replace it with a fake); the flow itself
(download, model card, upload) is `tinkex.hub.push_checkpoint`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

from tinkex import hub
from tinkex.cli.context import CliContext, CliError
from tinkex.cli.download import ProgressFactory, parse_downloadable
from tinkex.download import DownloadRefusedError
from tinkex.hub import HubApi, default_repo_name

__all__ = ["HubApi", "HubUpload", "default_repo_name", "hub_api", "push"]

_LOGIN_FIX = "run 'hf auth login', set HF_TOKEN, or pass --hf-token"


@dataclass(frozen=True)
class HubUpload:
    """The command's options, as `checkpoint push-hf` parsed them."""

    tinker_path: str
    repo_id: str | None
    private: bool
    revision: str | None
    commit_message: str | None
    create_pr: bool
    allow_patterns: list[str] | None
    ignore_patterns: list[str] | None
    model_card: bool

    def options(self) -> hub.PushOptions:
        return hub.PushOptions(
            private=self.private,
            revision=self.revision,
            commit_message=self.commit_message,
            create_pr=self.create_pr,
            allow_patterns=self.allow_patterns,
            ignore_patterns=self.ignore_patterns,
            model_card=self.model_card,
        )


def hub_api(token: str | None) -> HubApi:
    """An `HfApi`, or a CliError saying how to install `huggingface_hub`."""
    try:
        return hub.hub_api(token)
    except hub.HubUnavailableError as error:
        raise CliError(
            "push-hf needs the huggingface_hub package",
            "install it with 'pip install huggingface_hub', then run 'hf auth login'",
        ) from error


def push(ctx: CliContext, upload: HubUpload, api: HubApi, progress: ProgressFactory) -> str:
    """Upload `upload.tinker_path` to the Hub; returns the repo id."""
    parse_downloadable(upload.tinker_path)
    repo_id = upload.repo_id
    if repo_id is None:
        try:
            user = api.whoami()
        except Exception as error:
            raise CliError(
                f"not logged in to the Hugging Face Hub ({error})", _LOGIN_FIX
            ) from error
        repo_id = f"{user['name']}/{default_repo_name(upload.tinker_path)}"

    def export(path: str) -> AbstractContextManager[str]:
        return ctx.clients.exported(ctx.base_url, ctx.api_key, path, ctx.timeout_s)

    try:
        return hub.push_checkpoint(
            ctx.rest(),
            upload.tinker_path,
            api,
            repo_id=repo_id,
            options=upload.options(),
            progress=progress,
            export=export,
            base_url=ctx.effective_base_url(),
            api_key=ctx.api_key,
        )
    except (DownloadRefusedError, ValueError) as error:
        raise CliError(str(error)) from error
