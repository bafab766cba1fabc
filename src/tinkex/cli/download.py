"""`checkpoint download` on top of `tinkex.download`: where files go, how failures read.

The download itself (signed URLs, resumable streaming, checksums, safe tar extraction) is
`tinkex.download.download_checkpoint`; this module adds the CLI's directory naming, the
export of training checkpoints through the command's client factory, and turns refusals
into one-line `CliError`s.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import click

from tinkex import download, types
from tinkex.archive import ChecksumMismatchError, UnsafeArchiveError
from tinkex.cli.context import CliContext, CliError
from tinkex.download import DownloadResult, ProgressFactory

__all__ = [
    "DownloadResult",
    "ProgressFactory",
    "download_checkpoint",
    "parse_downloadable",
    "target_directory",
]


def parse_downloadable(tinker_path: str) -> types.ParsedCheckpointTinkerPath:
    """The parsed path, or a CliError for bad paths and sampler checkpoints."""
    try:
        return download.check_downloadable(tinker_path)
    except download.DownloadRefusedError as error:
        raise CliError(str(error)) from error


def target_directory(tinker_path: str, output: Path | None) -> Path:
    """`<output>/<run>_<kind>_<name>`: one directory per checkpoint."""
    name = tinker_path.removeprefix("tinker://").replace("/", "_")
    return (output or Path.cwd()) / name


def download_checkpoint(
    ctx: CliContext,
    tinker_path: str,
    target: Path,
    *,
    force: bool,
    progress: ProgressFactory,
) -> DownloadResult:
    """Download (and unpack) a checkpoint into the new directory `target`."""
    parse_downloadable(tinker_path)
    if target.exists() and not force:
        raise CliError(f"{target} already exists", "pass --force to replace it, or choose --output")

    def export(path: str) -> AbstractContextManager[str]:
        if not ctx.json:
            click.echo(f"Exporting {path} as external weights first...", err=True)
        return ctx.clients.exported(ctx.base_url, ctx.api_key, path, ctx.timeout_s)

    try:
        return download.download_checkpoint(
            ctx.rest(),
            tinker_path,
            target,
            progress=progress,
            force=force,
            export=export,
            base_url=ctx.effective_base_url(),
            api_key=ctx.api_key,
            timeout_s=ctx.timeout_s,
        )
    except (download.DownloadRefusedError, ChecksumMismatchError, UnsafeArchiveError) as error:
        raise CliError(str(error)) from error
