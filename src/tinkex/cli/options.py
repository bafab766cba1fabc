"""Click helpers shared by the command modules: the context decorator and common options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tinkex.cli.context import CliContext

__all__ = ["json_option", "limit_option", "pass_cli"]

F = TypeVar("F", bound=Callable[..., Any])

pass_cli = click.make_pass_decorator(CliContext, ensure=True)
"""Hands a command the `CliContext` built by the root group."""


def _force_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(CliContext).format = "json"


def json_option(command: F) -> F:
    """`--json`: the same as the global `--format json`, where the official CLI has it."""
    option = click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        callback=_force_json,
        help="Print JSON (same as the global --format json).",
    )
    return option(command)


def limit_option(help_text: str) -> Callable[[F], F]:
    """`--limit N` for list commands (default 20; 0 pages through everything)."""
    return click.option(
        "--limit", type=click.IntRange(min=0), default=20, show_default=True, help=help_text
    )
