"""Rendering command results: one `View` per result, printed as a rich table or as JSON.

Why a view object: every command builds its data once and the format switch lives here,
so table and JSON output never drift apart. Tables are sized by rich to the terminal
(`COLUMNS` when set), folding long cells instead of running past the edge.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from rich import box
from rich.console import Console
from rich.table import Table

from tinkex.cli.context import OutputFormat

__all__ = [
    "View",
    "dump",
    "emit",
    "format_size",
    "format_time",
    "stderr_console",
    "stdout_console",
]

_SIZE_UNITS = ("B", "KB", "MB", "GB", "TB")
_RELATIVE_LIMIT_S = 30 * 86400


class _Dumpable(Protocol):
    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


def dump(model: _Dumpable) -> dict[str, Any]:
    """A pydantic model as plain JSON data (ISO-8601 timestamps)."""
    return model.model_dump(mode="json")


@dataclass(frozen=True)
class View:
    """A command result: `data` for JSON, `title`/`columns`/`rows` for the table."""

    data: object
    title: str | None = None
    columns: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = field(default_factory=list)


def stdout_console() -> Console:
    """A console on the current stdout (looked up late, so test runners can capture it)."""
    return Console(file=sys.stdout, highlight=False, markup=False, emoji=False)


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False, markup=False, emoji=False)


def emit(view: View, output_format: OutputFormat) -> None:
    """Print `view` as JSON (machine-readable, nothing else on stdout) or as a table."""
    if output_format == "json":
        sys.stdout.write(json.dumps(view.data, indent=2, default=str) + "\n")
        return
    console = stdout_console()
    if view.title:
        console.print(view.title)
    if not view.columns:
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in view.columns:
        table.add_column(name, overflow="fold")
    for row in view.rows:
        table.add_row(*row)
    console.print(table)


def format_size(size: int | None) -> str:
    """Bytes as B/KB/MB/GB/TB with one decimal (1024 base); N/A when unknown."""
    if size is None:
        return "N/A"
    value = float(size)
    for unit in _SIZE_UNITS:
        if value < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_time(moment: datetime | None, now: datetime | None = None) -> str:
    """A timestamp relative to now ("5 minutes ago", "in 2 days"), ISO date beyond 30 days."""
    if moment is None:
        return "N/A"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = ((now or datetime.now(UTC)) - moment).total_seconds()
    seconds = abs(delta)
    if seconds >= _RELATIVE_LIMIT_S:
        return moment.date().isoformat()
    if seconds < 60:
        return "just now" if delta >= 0 else "in less than a minute"
    for unit, length in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            count = int(seconds // length)
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"{text} ago" if delta >= 0 else f"in {text}"
    raise AssertionError("unreachable")  # pragma: no cover
