"""`tinkex checkpoint ...`: list, inspect, publish, expire, delete and download checkpoints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from tinkex import types
from tinkex.archive import ProgressCallback
from tinkex.cli import hub
from tinkex.cli.context import CliContext, CliError
from tinkex.cli.download import (
    ProgressFactory,
    download_checkpoint,
    parse_downloadable,
    target_directory,
)
from tinkex.cli.options import json_option, limit_option, pass_cli
from tinkex.cli.output import View, dump, emit, format_size, format_time, stderr_console
from tinkex.cli.paging import collect

__all__ = ["group", "parse_date", "parse_path"]

CHECKPOINT_TYPES = {
    "weights": "training",
    "training": "training",
    "sampler_weights": "sampler",
    "sampler": "sampler",
    "external_weights": "external",
    "external": "external",
}
_PATH_FIX = "use a path like tinker://<run-id>/weights/<name> (see 'tinkex checkpoint list')"
_LIST_COLUMNS = ["Checkpoint ID", "Type", "Size", "Public", "Created", "Expires", "Path"]


def parse_path(tinker_path: str) -> types.ParsedCheckpointTinkerPath:
    """A `tinker://` checkpoint path, or a CliError saying what one looks like."""
    try:
        return types.ParsedCheckpointTinkerPath.from_tinker_path(tinker_path)
    except ValueError as error:
        raise CliError(f"invalid checkpoint path {tinker_path!r}", _PATH_FIX) from error


def parse_date(option: str, value: str) -> datetime:
    """ISO-8601 date or date-time; no zone means UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise CliError(
            f"{option}: {value!r} is not a date",
            "use ISO 8601, e.g. 2024-01-01 or 2024-01-01T08:00Z",
        ) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _row(checkpoint: types.Checkpoint) -> list[str]:
    return [
        checkpoint.checkpoint_id,
        checkpoint.checkpoint_type,
        format_size(checkpoint.size_bytes),
        "Yes" if checkpoint.public else "No",
        format_time(checkpoint.time),
        format_time(checkpoint.expires_at) if checkpoint.expires_at else "Never",
        checkpoint.tinker_path,
    ]


def _find(ctx: CliContext, tinker_path: str) -> types.Checkpoint:
    parsed = parse_path(tinker_path)
    listing = ctx.wait(ctx.rest().list_checkpoints(parsed.training_run_id))
    for checkpoint in listing.checkpoints:
        if checkpoint.tinker_path == tinker_path:
            return checkpoint
    raise CliError(
        f"checkpoint not found: {tinker_path}",
        f"list the run's checkpoints with 'tinkex checkpoint list --run-id "
        f"{parsed.training_run_id}'",
    )


@click.group("checkpoint")
def group() -> None:
    """Manage checkpoints."""


@group.command("list")
@click.option("--run-id", default=None, help="Only this training run's checkpoints.")
@limit_option("How many of your checkpoints to show (without --run-id); 0 shows all.")
@json_option
@pass_cli
def list_checkpoints(ctx: CliContext, run_id: str | None, limit: int) -> None:
    """List the checkpoints of one run, or your newest checkpoints across runs."""
    rest = ctx.rest()
    if run_id:
        checkpoints = list(ctx.wait(rest.list_checkpoints(run_id)).checkpoints)
        total: int | None = len(checkpoints)
        title = f"{len(checkpoints)} checkpoint(s) of run {run_id}"
    else:

        def fetch(page_limit: int, offset: int) -> tuple[Sequence[types.Checkpoint], int | None]:
            page = ctx.wait(rest.list_user_checkpoints(limit=page_limit, offset=offset))
            return page.checkpoints, page.cursor.total_count if page.cursor else None

        checkpoints, total = collect(fetch, limit, ctx.page_size)
        title = f"{len(checkpoints)} checkpoint(s)"
        if total is not None and total > len(checkpoints):
            title += f" ({total - len(checkpoints)} more not shown, use --limit 0 to see all)"
    data: dict[str, object] = {
        "checkpoints": [dump(checkpoint) for checkpoint in checkpoints],
        "total": total,
        "shown": len(checkpoints),
    }
    if run_id:
        data["run_id"] = run_id
    rows = [_row(checkpoint) for checkpoint in checkpoints]
    emit(View(data=data, title=title, columns=_LIST_COLUMNS, rows=rows), ctx.format)


@group.command("info")
@click.argument("checkpoint_path")
@pass_cli
def info(ctx: CliContext, checkpoint_path: str) -> None:
    """Show one checkpoint and the training run it belongs to."""
    checkpoint = _find(ctx, checkpoint_path)
    run = ctx.wait(ctx.rest().get_training_run(parse_path(checkpoint_path).training_run_id))
    data = {
        **dump(checkpoint),
        "training_run_id": run.training_run_id,
        "base_model": run.base_model,
        "is_lora": run.is_lora,
        "lora_rank": run.lora_rank,
    }
    rows = [
        ["Checkpoint ID", checkpoint.checkpoint_id],
        ["Training run ID", run.training_run_id],
        ["Type", checkpoint.checkpoint_type],
        ["Path", checkpoint.tinker_path],
        ["Size", format_size(checkpoint.size_bytes)],
        ["Public", "Yes" if checkpoint.public else "No"],
        ["Created", format_time(checkpoint.time)],
        ["Expires", format_time(checkpoint.expires_at) if checkpoint.expires_at else "Never"],
        ["Base model", run.base_model],
        ["LoRA", f"Yes (rank {run.lora_rank})" if run.is_lora else "No"],
    ]
    title = f"Checkpoint {checkpoint.tinker_path}"
    emit(View(data=data, title=title, columns=["Property", "Value"], rows=rows), ctx.format)


def _done(ctx: CliContext, message: str, data: dict[str, object]) -> None:
    emit(View(data=data, title=message), ctx.format)


@group.command("publish")
@click.argument("checkpoint_path")
@pass_cli
def publish(ctx: CliContext, checkpoint_path: str) -> None:
    """Make a checkpoint public (only the run's owner may)."""
    parse_path(checkpoint_path)
    ctx.wait(ctx.rest().publish_checkpoint_from_tinker_path(checkpoint_path))
    _done(ctx, f"Published {checkpoint_path}", {"tinker_path": checkpoint_path, "public": True})


@group.command("unpublish")
@click.argument("checkpoint_path")
@pass_cli
def unpublish(ctx: CliContext, checkpoint_path: str) -> None:
    """Make a public checkpoint private again."""
    parse_path(checkpoint_path)
    ctx.wait(ctx.rest().unpublish_checkpoint_from_tinker_path(checkpoint_path))
    data: dict[str, object] = {"tinker_path": checkpoint_path, "public": False}
    _done(ctx, f"Unpublished {checkpoint_path}", data)


@group.command("set-ttl")
@click.argument("checkpoint_path")
@click.option("--ttl", type=click.IntRange(min=1), default=None, help="Expire after N seconds.")
@click.option("--remove", is_flag=True, help="Never expire.")
@pass_cli
def set_ttl(ctx: CliContext, checkpoint_path: str, ttl: int | None, remove: bool) -> None:
    """Set or remove a checkpoint's expiry."""
    parse_path(checkpoint_path)
    if (ttl is None) == (not remove):
        raise CliError(
            "set-ttl needs exactly one of --ttl and --remove",
            "pass --ttl SECONDS to set an expiry or --remove to clear it",
        )
    ctx.wait(ctx.rest().set_checkpoint_ttl_from_tinker_path(checkpoint_path, ttl))
    message = (
        f"Removed the expiry of {checkpoint_path}"
        if ttl is None
        else f"{checkpoint_path} now expires in {ttl} seconds"
    )
    _done(ctx, message, {"tinker_path": checkpoint_path, "ttl_seconds": ttl})


def _select_for_run(
    ctx: CliContext,
    run_id: str,
    checkpoint_type: str | None,
    before: str | None,
    after: str | None,
) -> list[types.Checkpoint]:
    before_at = parse_date("--before", before) if before else None
    after_at = parse_date("--after", after) if after else None
    wanted = CHECKPOINT_TYPES.get(checkpoint_type) if checkpoint_type else None
    if checkpoint_type and wanted is None:
        raise CliError(
            f"--type: unknown checkpoint type {checkpoint_type!r}",
            "use weights, sampler_weights or external_weights",
        )
    return [
        checkpoint
        for checkpoint in ctx.wait(ctx.rest().list_checkpoints(run_id)).checkpoints
        if (wanted is None or checkpoint.checkpoint_type == wanted)
        and (before_at is None or checkpoint.time < before_at)
        and (after_at is None or checkpoint.time > after_at)
    ]


def _confirm(paths: Sequence[str], checkpoints: Sequence[types.Checkpoint] | None) -> bool:
    click.echo(f"Will delete {len(paths)} checkpoint(s):", err=True)
    if checkpoints is None:
        for path in paths:
            click.echo(f"  - {path}", err=True)
    else:
        for checkpoint in checkpoints:
            click.echo(
                f"  - {checkpoint.tinker_path} ({format_size(checkpoint.size_bytes)}, "
                f"created {format_time(checkpoint.time)})",
                err=True,
            )
    click.echo("This cannot be undone.", err=True)
    return click.confirm(f"Delete {len(paths)} checkpoint(s)?", default=False, err=True)


@group.command("delete")
@click.argument("checkpoint_paths", nargs=-1)
@click.option("--run-id", default=None, help="Delete this run's checkpoints (see the filters).")
@click.option("--type", "checkpoint_type", default=None, help="weights or sampler_weights.")
@click.option("--before", default=None, help="Only those created before (ISO 8601, UTC).")
@click.option("--after", default=None, help="Only those created after (ISO 8601, UTC).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def delete(
    ctx: CliContext,
    checkpoint_paths: tuple[str, ...],
    run_id: str | None,
    checkpoint_type: str | None,
    before: str | None,
    after: str | None,
    yes: bool,
) -> None:
    """Delete checkpoints permanently, by path or by run (with filters)."""
    if bool(checkpoint_paths) == bool(run_id):
        raise CliError(
            "delete needs checkpoint paths or --run-id, not both and not neither",
            "e.g. 'tinkex checkpoint delete tinker://<run>/weights/<name>' or "
            "'tinkex checkpoint delete --run-id <run> --type weights'",
        )
    selected: list[types.Checkpoint] | None = None
    if run_id:
        selected = _select_for_run(ctx, run_id, checkpoint_type, before, after)
        paths = [checkpoint.tinker_path for checkpoint in selected]
    else:
        if checkpoint_type or before or after:
            raise CliError(
                "--type, --before and --after only filter --run-id",
                "pass --run-id, or list the paths to delete",
            )
        paths = [parse_path(path).tinker_path for path in checkpoint_paths]
    if not paths:
        _done(ctx, f"No checkpoints of run {run_id} match", {"deleted": [], "failed": []})
        return
    if not yes and not _confirm(paths, selected):
        click.echo(f"Cancelled: deleted none of {len(paths)} checkpoint(s).", err=True)
        return
    _delete_all(ctx, paths)


def _delete_all(ctx: CliContext, paths: Sequence[str]) -> None:
    rest = ctx.rest()
    deleted: list[str] = []
    failed: list[dict[str, str]] = []
    for index, path in enumerate(paths, start=1):
        if not ctx.json:
            click.echo(f"Deleting {index}/{len(paths)}: {path}", err=True)
        try:
            ctx.wait(rest.delete_checkpoint_from_tinker_path(path))
            deleted.append(path)
        except Exception as error:
            failed.append({"tinker_path": path, "error": str(error)})
    rows = [[path, "deleted"] for path in deleted]
    rows += [[failure["tinker_path"], failure["error"]] for failure in failed]
    title = f"Deleted {len(deleted)} checkpoint(s)" + (f", {len(failed)} failed" if failed else "")
    view = View(
        data={"deleted": deleted, "failed": failed},
        title=title,
        columns=["Path", "Result"],
        rows=rows,
    )
    emit(view, ctx.format)
    if failed:
        raise CliError(
            f"{len(failed)} of {len(paths)} deletion(s) failed",
            "see the table above; retry the failed paths",
        )


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[ProgressFactory]:
    """A rich progress bar per file on stderr (none in JSON mode)."""
    if not enabled:
        yield lambda _name: _ignore_progress
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=stderr_console(),
    )

    def bar_for(name: str) -> ProgressCallback:
        task = progress.add_task(name, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        return update

    with progress:
        yield bar_for


def _ignore_progress(_done: int, _total: int | None) -> None:
    return None


@group.command("download")
@click.argument("checkpoint_path")
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Parent directory (default: the current one).",
)
@click.option("--force", is_flag=True, help="Replace the checkpoint's directory if it exists.")
@pass_cli
def download(ctx: CliContext, checkpoint_path: str, output: Path | None, force: bool) -> None:
    """Download a checkpoint into <output>/<run>_<kind>_<name>/."""
    parse_downloadable(checkpoint_path)
    target = target_directory(checkpoint_path, output)
    with _progress_bars(not ctx.json) as progress:
        result = download_checkpoint(ctx, checkpoint_path, target, force=force, progress=progress)
    data = {
        "tinker_path": checkpoint_path,
        "destination": str(result.destination),
        "size_bytes": result.size_bytes,
        "files": result.files,
    }
    title = (
        f"Downloaded {checkpoint_path} ({format_size(result.size_bytes)}) to {result.destination}"
    )
    emit(View(data=data, title=title), ctx.format)


@group.command("push-hf")
@click.argument("checkpoint_path")
@click.option("--repo", "-r", "repo_id", default=None, help="Hub repo id (default: derived).")
@click.option("--public", is_flag=True, help="Create a public repo (default: private).")
@click.option("--revision", default=None, help="Branch to upload to.")
@click.option("--commit-message", default=None, help="Commit message of the upload.")
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of pushing.")
@click.option("--allow-pattern", "allow_patterns", multiple=True, help="Upload only matches.")
@click.option("--ignore-pattern", "ignore_patterns", multiple=True, help="Skip matches.")
@click.option("--hf-token", default=None, help="Hugging Face token (default: hf login / HF_TOKEN).")
@click.option("--no-model-card", is_flag=True, help="Do not add a README.md model card.")
@pass_cli
def push_hf(
    ctx: CliContext,
    checkpoint_path: str,
    repo_id: str | None,
    public: bool,
    revision: str | None,
    commit_message: str | None,
    create_pr: bool,
    allow_patterns: tuple[str, ...],
    ignore_patterns: tuple[str, ...],
    hf_token: str | None,
    no_model_card: bool,
) -> None:
    """Upload a checkpoint to the Hugging Face Hub as a PEFT adapter."""
    parse_downloadable(checkpoint_path)
    request = hub.HubUpload(
        tinker_path=checkpoint_path,
        repo_id=repo_id,
        private=not public,
        revision=revision,
        commit_message=commit_message,
        create_pr=create_pr,
        allow_patterns=list(allow_patterns) or None,
        ignore_patterns=list(ignore_patterns) or None,
        model_card=not no_model_card,
    )
    with _progress_bars(not ctx.json) as progress:
        uploaded = hub.push(ctx, request, hub.hub_api(hf_token), progress)
    data = {
        "tinker_path": checkpoint_path,
        "repo_id": uploaded,
        "revision": revision,
        "public": public,
    }
    emit(View(data=data, title=f"Uploaded {checkpoint_path} to {uploaded}"), ctx.format)
