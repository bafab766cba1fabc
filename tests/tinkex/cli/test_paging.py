"""`collect`: walking offset pages up to a limit."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tinkex.cli.paging import collect


class Server:
    """`size` items; reports the total unless `with_total` is False; records requests."""

    def __init__(self, size: int, with_total: bool = True) -> None:
        self.items = list(range(size))
        self.with_total = with_total
        self.requests: list[tuple[int, int]] = []

    def __call__(self, limit: int, offset: int) -> tuple[Sequence[int], int | None]:
        self.requests.append((limit, offset))
        return self.items[offset : offset + limit], len(self.items) if self.with_total else None


@pytest.mark.parametrize("with_total", [True, False])
def test_limit_zero_fetches_every_page(with_total: bool) -> None:
    server = Server(7, with_total)

    items, total = collect(server, limit=0, page_size=3)

    assert items == list(range(7))
    assert total == (7 if with_total else None)
    assert server.requests[:3] == [(3, 0), (3, 3), (3, 6)]


def test_exact_multiple_of_the_page_size_stops_at_the_total() -> None:
    server = Server(6)

    items, _ = collect(server, limit=0, page_size=3)

    assert items == list(range(6))
    assert server.requests == [(3, 0), (3, 3)]


def test_a_limit_asks_only_for_what_is_missing() -> None:
    server = Server(10)

    items, total = collect(server, limit=5, page_size=3)

    assert items == list(range(5))
    assert total == 10
    assert server.requests == [(3, 0), (2, 3)]


def test_empty_listing() -> None:
    assert collect(Server(0), limit=20, page_size=100) == ([], 0)


@pytest.mark.parametrize(("limit", "page_size"), [(-1, 10), (5, 0)])
def test_bad_arguments_are_refused(limit: int, page_size: int) -> None:
    with pytest.raises(ValueError, match=">= "):
        collect(Server(1), limit=limit, page_size=page_size)
