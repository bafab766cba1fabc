"""Walking an offset-paginated listing up to a limit (0 = everything the server holds)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["PageFetcher", "collect"]

T = TypeVar("T")

PageFetcher = Callable[[int, int], tuple[Sequence[T], int | None]]
"""Called with (limit, offset); returns the page and the total when the server knows it."""


def collect(fetch: PageFetcher[T], limit: int, page_size: int) -> tuple[list[T], int | None]:
    """Items from offset 0 until `limit` are in hand, the total is reached, or a page is short.

    Returns the items and the server's total (None when it gave none).
    """
    if limit < 0:
        raise ValueError(f"--limit must be >= 0 (0 = all), got {limit}")
    if page_size < 1:
        raise ValueError(f"page size must be >= 1, got {page_size}")
    items: list[T] = []
    total: int | None = None
    while True:
        wanted = page_size if limit == 0 else min(page_size, limit - len(items))
        page, page_total = fetch(wanted, len(items))
        total = page_total if page_total is not None else total
        items.extend(page)
        done = len(page) < wanted or (limit and len(items) >= limit)
        if done or (total is not None and len(items) >= total):
            return items, total
