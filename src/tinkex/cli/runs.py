"""`tinkex run list|info`: training runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click

from tinkex import types
from tinkex.cli.context import CliContext, CliError
from tinkex.cli.options import json_option, limit_option, pass_cli
from tinkex.cli.output import View, dump, emit, format_time
from tinkex.cli.paging import collect

__all__ = ["COLUMNS", "DEFAULT_COLUMNS", "group"]


def _lora(run: types.TrainingRun) -> str:
    if not run.is_lora:
        return "No"
    return f"Yes (rank {run.lora_rank})" if run.lora_rank else "Yes"


def _status(run: types.TrainingRun) -> str:
    return "Failed" if run.corrupted else "OK"


COLUMNS: dict[str, tuple[str, Callable[[types.TrainingRun], str]]] = {
    "id": ("Run ID", lambda run: run.training_run_id),
    "model": ("Base Model", lambda run: run.base_model),
    "owner": ("Owner", lambda run: run.model_owner),
    "lora": ("LoRA", _lora),
    "updated": ("Last Update", lambda run: format_time(run.last_request_time)),
    "status": ("Status", _status),
    "checkpoint": (
        "Last Checkpoint",
        lambda run: run.last_checkpoint.checkpoint_id if run.last_checkpoint else "None",
    ),
    "checkpoint_time": (
        "Checkpoint Time",
        lambda run: format_time(run.last_checkpoint.time) if run.last_checkpoint else "N/A",
    ),
}
DEFAULT_COLUMNS = ("id", "model", "lora", "updated", "status")


def parse_columns(value: str | None) -> list[str]:
    """`--columns a,b,c` checked against the known columns."""
    if not value:
        return list(DEFAULT_COLUMNS)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or not names:
        raise CliError(
            f"--columns: unknown column(s) {', '.join(unknown) or '(none given)'}",
            f"pick from {', '.join(COLUMNS)}",
        )
    return names


def _list_title(shown: int, total: int | None) -> str:
    if shown == 0:
        return "No training runs found"
    title = f"{shown} training run{'' if shown == 1 else 's'}"
    if total is not None and total > shown:
        title += f" ({total - shown} more not shown, use --limit 0 to see all)"
    return title


@click.group("run")
def group() -> None:
    """Manage training runs."""


@group.command("list")
@limit_option("How many runs to show; 0 shows all of them.")
@json_option
@click.option("--columns", "-c", default=None, help=f"Comma-separated from: {', '.join(COLUMNS)}.")
@pass_cli
def list_runs(ctx: CliContext, limit: int, columns: str | None) -> None:
    """List training runs, newest first."""
    names = parse_columns(columns)
    rest = ctx.rest()

    def fetch(page_limit: int, offset: int) -> tuple[Sequence[types.TrainingRun], int | None]:
        page = ctx.wait(rest.list_training_runs(limit=page_limit, offset=offset))
        return page.training_runs, page.cursor.total_count

    runs, total = collect(fetch, limit, ctx.page_size)
    view = View(
        data={"runs": [dump(run) for run in runs], "total": total, "shown": len(runs)},
        title=_list_title(len(runs), total),
        columns=[COLUMNS[name][0] for name in names],
        rows=[[COLUMNS[name][1](run) for name in names] for run in runs],
    )
    emit(view, ctx.format)


def _checkpoint_rows(label: str, checkpoint: types.Checkpoint | None) -> list[list[str]]:
    if checkpoint is None:
        return []
    return [
        [label, checkpoint.checkpoint_id],
        ["  Time", format_time(checkpoint.time)],
        ["  Path", checkpoint.tinker_path],
    ]


@group.command("info")
@click.argument("run_id")
@pass_cli
def run_info(ctx: CliContext, run_id: str) -> None:
    """Show one training run."""
    run = ctx.wait(ctx.rest().get_training_run(run_id))
    rows = [
        ["Run ID", run.training_run_id],
        ["Base Model", run.base_model],
        ["Owner", run.model_owner],
        ["LoRA", _lora(run)],
        ["Last Update", format_time(run.last_request_time)],
        ["Status", _status(run)],
        *_checkpoint_rows("Last Training Checkpoint", run.last_checkpoint),
        *_checkpoint_rows("Last Sampler Checkpoint", run.last_sampler_checkpoint),
        *[[f"Metadata {key}", value] for key, value in (run.user_metadata or {}).items()],
    ]
    view = View(
        data=dump(run),
        title=f"Training run {run.training_run_id}",
        columns=["Property", "Value"],
        rows=rows,
    )
    emit(view, ctx.format)
