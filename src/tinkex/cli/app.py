"""The root `tinkex` group: global options, the command groups, and error handling.

Every failure ends the same way: one line on stderr, `Error: <cause>; <fix>`, with any API
key masked, and exit code 1 (130 after Ctrl-C). Set `TINKEX_DEBUG=1` to get the traceback
of an unexpected error instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

import click

from pristine.errors import APIConnectionError, redact
from tinkex.cli import auth, checkpoints, local, models, runs, sample, serve, sessions
from tinkex.cli.context import DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT_S, CliContext, CliError
from tinkex.cli.options import json_option, pass_cli
from tinkex.cli.output import View, emit

__all__ = ["cli", "describe_error", "package_version"]

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

_STATUS_FIXES = {
    401: "check the API key (--api-key or TINKER_API_KEY)",
    403: "this key may not do that; use the key of the run's owner",
    404: "check the id or path, e.g. with 'tinkex run list' or 'tinkex checkpoint list'",
    429: "the server is busy; try again in a moment",
}


def package_version() -> str:
    try:
        return version("tinkex")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0+unknown"


def _fix_for(error: BaseException, ctx: CliContext) -> str:
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        if status in _STATUS_FIXES:
            return _STATUS_FIXES[status]
        if status >= 500:
            return "the server failed; try again, or report it with the request id"
        return "fix the request as the message says"
    is_connection = isinstance(error, APIConnectionError | ConnectionError | TimeoutError)
    if is_connection or type(error).__name__ in ("APIConnectionError", "APITimeoutError"):
        where = ctx.effective_base_url() or "the default Tinker service"
        return (
            f"cannot reach {where}: check --base-url / TINKER_BASE_URL and that the server "
            "is running (start one with 'tinkex serve')"
        )
    return "rerun with TINKEX_DEBUG=1 for a traceback"


def describe_error(error: BaseException, ctx: CliContext) -> str:
    """The one line printed for `error`: cause and fix, secrets masked."""
    if isinstance(error, CliError):
        text = str(error)
    elif isinstance(error, click.ClickException):
        command = (
            error.ctx.command_path
            if isinstance(error, click.UsageError) and error.ctx
            else "tinkex"
        )
        text = f"{error.format_message().rstrip('.')}; see '{command} --help'"
    else:
        cause = str(error) or type(error).__name__
        text = f"{cause}; {_fix_for(error, ctx)}"
    return "Error: " + " ".join(redact(text, ctx.secrets()).split())


class TinkexGroup(click.Group):
    """A group whose `main` turns every failure into one line and an exit code."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra["standalone_mode"] = False
        obj = extra.setdefault("obj", CliContext())
        try:
            code = super().main(args, prog_name, **extra)
        except click.Abort as abort:
            # click's prompts re-raise Ctrl-C as Abort `from None`: the context keeps it.
            interrupted = isinstance(abort.__cause__ or abort.__context__, KeyboardInterrupt)
            click.echo("Interrupted." if interrupted else "Aborted.", err=True)
            sys.exit(EXIT_INTERRUPTED if interrupted else EXIT_ERROR)
        except Exception as error:
            if os.environ.get("TINKEX_DEBUG") and not isinstance(error, CliError):
                raise
            click.echo(describe_error(error, obj), err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command inside the `CliContext`, which closes its clients (see there)."""
        with ctx.ensure_object(CliContext):
            return super().invoke(ctx)


@click.group("tinkex", cls=TinkexGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--format",
    "-f",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format; json prints one JSON document on stdout.",
)
@click.option(
    "--base-url",
    envvar="TINKER_BASE_URL",
    default=None,
    help="Server URL (env TINKER_BASE_URL), e.g. http://127.0.0.1:8000 for 'tinkex serve'.",
)
@click.option(
    "--api-key",
    envvar="TINKER_API_KEY",
    default=None,
    show_envvar=True,
    help="API key (env TINKER_API_KEY); never printed.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for each request.",
)
@click.option("--page-size", type=click.IntRange(min=1), default=DEFAULT_PAGE_SIZE, hidden=True)
@click.version_option(package_version(), "--version", prog_name="tinkex")
@pass_cli
def cli(
    ctx: CliContext,
    output_format: str,
    base_url: str | None,
    api_key: str | None,
    timeout_s: float,
    page_size: int,
) -> None:
    """Manage Tinker training runs, checkpoints and sessions; sample; run a local server."""
    ctx.format = "json" if output_format == "json" else "table"
    ctx.base_url = base_url or None
    ctx.api_key = api_key or None
    ctx.timeout_s = timeout_s
    ctx.page_size = page_size


@cli.command("version")
@json_option
@pass_cli
def version_command(ctx: CliContext) -> None:
    """Show the tinkex version."""
    number = package_version()
    emit(View(data={"version": number}, title=f"tinkex {number}"), ctx.format)


for _group in (
    auth.group,
    models.group,
    runs.group,
    checkpoints.group,
    sessions.group,
):
    cli.add_command(_group)
cli.add_command(sample.command)
cli.add_command(serve.serve_command)
cli.add_command(serve.demo_command)
cli.add_command(local.group)
