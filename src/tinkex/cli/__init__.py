"""The `tinkex` command line."""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the `tinkex` console script (filled in by the CLI issue)."""
    args = sys.argv[1:]
    if args[:1] == ["demo"]:
        print("tinkex demo: not yet available (lands with the demo issue)")
        return
    print("tinkex: the command line lands with its own issue")
