"""Small conversions shared by the repositories: JSON columns and page bounds."""

from __future__ import annotations

import json
from typing import Any

from tinkex.local.store.errors import UserInputError

__all__ = ["MAX_PAGE_LIMIT", "check_page", "from_json", "to_json"]

MAX_PAGE_LIMIT = 1000


def to_json(value: object) -> str | None:
    """Encode a JSON column; `None` stays SQL NULL."""
    return None if value is None else json.dumps(value, sort_keys=True)


def from_json(text: str | None) -> Any:
    """Decode a JSON column written by `to_json`."""
    return None if text is None else json.loads(text)


def check_page(limit: int, offset: int) -> None:
    """Refuse page bounds the REST API must not accept."""
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise UserInputError("limit", f"must be between 1 and {MAX_PAGE_LIMIT}, got {limit}")
    if offset < 0:
        raise UserInputError("offset", f"must be >= 0, got {offset}")
