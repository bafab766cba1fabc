"""The public surface of `pristine` is pinned: nothing becomes public by accident."""

from __future__ import annotations

import pristine


def test_all_lists_exactly_the_exported_names() -> None:
    public = {name for name in vars(pristine) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(pristine, name)).__name__ == "module"}
    assert set(pristine.__all__) - {"__version__"} == public - modules
    assert pristine.__all__ == sorted(pristine.__all__, key=lambda n: (n.startswith("_"), n)) or (
        sorted(pristine.__all__) == sorted(set(pristine.__all__))
    )


def test_every_exported_name_resolves() -> None:
    for name in pristine.__all__:
        assert getattr(pristine, name) is not None
