"""`ExperimentalWarning`: marks SDK calls that may change or go away in any release."""

from __future__ import annotations

__all__ = ["ExperimentalWarning"]


class ExperimentalWarning(FutureWarning):
    """Emitted by an API that is not yet stable.

    A `FutureWarning`, so users see it by default; silence it with
    `warnings.filterwarnings("ignore", category=tinkex.ExperimentalWarning)`.
    """
