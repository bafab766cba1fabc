"""The `tinkex` command line: runs, checkpoints, sessions, sampling and the local server."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `tinkex` console script; exits with the command's status."""
    from tinkex.cli.app import cli

    cli.main(args=argv, prog_name="tinkex")
