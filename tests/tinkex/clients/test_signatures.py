"""The clients have the official SDK's method names, parameters and defaults."""

from __future__ import annotations

import inspect

import pytest
import tinker

import tinkex
from tinkex.clients.future import APIFuture
from tinkex.clients.service import ServiceClient
from tinkex.clients.training import TrainingClient

NOT_YET: set[tuple[str, str]] = set()
"""Official methods tinkex does not offer yet."""

PAIRS = [(ServiceClient, tinker.ServiceClient), (TrainingClient, tinker.TrainingClient)]


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, callable)
        if not name.startswith("_") or name == "__init__"
    }


def shape(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=lambda c: c.__name__)
def test_every_official_method_exists_with_the_same_parameters(ours: type, theirs: type) -> None:
    mine = public_methods(ours)
    for name, signature in public_methods(theirs).items():
        if (theirs.__name__, name) in NOT_YET:
            continue
        assert name in mine, f"{ours.__name__}.{name} is missing"
        assert shape(mine[name]) == shape(signature), f"{ours.__name__}.{name}"


def test_every_method_has_its_async_twin() -> None:
    for cls in (ServiceClient, TrainingClient):
        names = set(public_methods(cls))
        sync_only = {"close", "create_rest_client", "get_console_url", "get_telemetry"}
        sync_only |= {"get_tokenizer", "from_holder", "holder"}
        for name in names - sync_only:
            if not name.startswith("_") and not name.endswith("_async"):
                assert f"{name}_async" in names, f"{cls.__name__}.{name} has no _async twin"


def test_api_future_matches_the_official_one() -> None:
    for name in ("result", "result_async", "future", "coroutine"):
        ours = inspect.signature(getattr(APIFuture, name))
        theirs = inspect.signature(getattr(tinker.APIFuture, name))
        assert shape(ours) == shape(theirs), name


def test_top_level_exports_cover_the_official_ones() -> None:
    missing = sorted(name for name in tinker.__all__ if not hasattr(tinkex, name))
    assert missing == []
    assert sorted(set(tinker.__all__) - set(tinkex.__all__)) == []
    with pytest.raises(AttributeError, match="no attribute"):
        tinkex.NoSuchThing  # noqa: B018
    assert issubclass(tinkex.NotFoundError, tinkex.APIStatusError)
    assert issubclass(tinkex.BillingError, tinkex.TinkerError)
    assert issubclass(tinkex.ExperimentalWarning, FutureWarning)
    assert tinkex.Timeout is tinker.Timeout


def test_auth_module_has_the_official_functions() -> None:
    for name in tinker.auth.__all__:
        ours = inspect.signature(getattr(tinkex.auth, name))
        assert shape(ours) == shape(inspect.signature(getattr(tinker.auth, name))), name
