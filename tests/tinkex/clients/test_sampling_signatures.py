"""Drop-in check: SamplingClient, RestClient and AdminClient have every public method of the
official `tinker` 0.38 classes with the same parameter names, kinds and defaults."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

tinker = pytest.importorskip("tinker")

from tinkex.clients.admin import AdminClient  # noqa: E402
from tinkex.clients.rest import RestClient  # noqa: E402
from tinkex.clients.sampling import SamplingClient  # noqa: E402

# Official members that are plumbing of the official implementation, not user API.
NOT_USER_API = {"get_telemetry", "on_queue_state_change"}

PAIRS = [
    (tinker.SamplingClient, SamplingClient),
    (tinker.RestClient, RestClient),
    (tinker.AdminClient, AdminClient),
]


def _public_methods(cls: type) -> list[str]:
    return sorted(
        name
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member) and name not in NOT_USER_API
    )


def _shape(function: Any) -> list[tuple[str, Any, Any]]:
    """(name, kind, default) of every parameter; annotations differ by design."""
    parameters = inspect.signature(function).parameters.values()
    return [(p.name, p.kind, p.default) for p in parameters]


@pytest.mark.parametrize(("official", "ours"), PAIRS, ids=lambda c: c.__name__)
def test_every_official_method_exists_with_the_same_parameters(official: type, ours: type) -> None:
    mismatches = []
    for name in _public_methods(official):
        mine = getattr(ours, name, None)
        if mine is None:
            mismatches.append(f"{name}: missing")
        elif _shape(getattr(official, name)) != _shape(mine):
            mismatches.append(
                f"{name}: {_shape(mine)} != official {_shape(getattr(official, name))}"
            )
    assert mismatches == []


@pytest.mark.parametrize(("official", "ours"), PAIRS, ids=lambda c: c.__name__)
def test_constructors_match(official: type, ours: type) -> None:
    assert _shape(official) == _shape(ours)


@pytest.mark.parametrize("ours", [SamplingClient, RestClient, AdminClient])
def test_every_future_returning_method_has_an_async_twin(ours: type) -> None:
    missing = [
        name
        for name in _public_methods(ours)
        if not name.endswith("_async")
        and not name.startswith(("iter_", "get_sampler_handle", "from_sampler_handle"))
        and name not in {"get_tokenizer", "create", "create_async"}
        and not hasattr(ours, f"{name}_async")
    ]
    assert missing == []
