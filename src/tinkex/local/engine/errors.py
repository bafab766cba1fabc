"""The one error the engine raises for bad caller input (the server maps it to HTTP 400)."""

from __future__ import annotations


class UserInputError(ValueError):
    """Bad request input. The message names the field, what was expected and how to fix it."""
