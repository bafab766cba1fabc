"""tinkex: a Tinker SDK built on the pristine runtime, plus an embedded local server."""

__version__ = "0.1.0"
