"""Rendering: sizes, relative times, JSON documents and tables that fit the terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tinkex.cli.output import View, emit, format_size, format_time

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, "N/A"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (5 * 1024**3, "5.0 GB"),
        (3 * 1024**5, "3072.0 TB"),
    ],
)
def test_format_size(size: int | None, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(seconds=-5), "in less than a minute"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(hours=3, minutes=5), "3 hours ago"),
        (timedelta(days=-2), "in 2 days"),
        (timedelta(days=15), "2 weeks ago"),
        (timedelta(days=40), "2025-12-22"),
    ],
)
def test_format_time_is_relative_within_a_month(offset: timedelta, text: str) -> None:
    assert format_time(NOW - offset, now=NOW) == text


def test_format_time_handles_missing_and_naive_times() -> None:
    assert format_time(None) == "N/A"
    assert format_time(datetime(2026, 1, 31, 11, 0), now=NOW) == "1 hour ago"
    assert format_time(datetime.now(UTC)) == "just now"


def test_json_output_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)

    emit(View(data={"a": [1, 2], "when": when}, title="ignored", columns=["x"]), "json")

    assert json.loads(capsys.readouterr().out) == {"a": [1, 2], "when": str(when)}


def test_tables_fit_the_terminal_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    long_path = "tinker://session-" + "0123456789abcdef" * 4 + ":train:0/weights/final"
    view = View(
        data=None,
        title="Checkpoints",
        columns=["Checkpoint ID", "Path", "[Markup]"],
        rows=[["weights/final", long_path, "[bold]not markup[/bold]"]],
    )

    emit(view, "table")

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Checkpoints"
    assert all(len(line) <= 50 for line in lines)
    text = "".join(line.strip() for line in lines)
    assert "0123456789abcdef" in text
    assert "[bold]" in text
    assert ":train:" in text


def test_title_only_views_print_just_the_title(capsys: pytest.CaptureFixture[str]) -> None:
    emit(View(data={}, title="Published x"), "table")

    assert capsys.readouterr().out == "Published x\n"
