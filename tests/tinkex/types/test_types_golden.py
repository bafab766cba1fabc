"""Golden compatibility: tinkex.types and the official tinker.types encode and parse alike."""

from __future__ import annotations

import json
import types
from typing import Any

import orjson
import pydantic
import pytest
import tinker.types as official
from tinker.types._pydantic_types.datum import Datum as OfficialDatumModel
from tinker.types._pydantic_types.forward_backward_input import (
    ForwardBackwardInput as OfficialForwardBackwardInputModel,
)
from tinker.types._pydantic_types.tensor_data import TensorData as OfficialTensorDataModel
from tinker.types.generic_event import GenericEvent as OfficialGenericEvent

import tinkex.types as ours
from tinkex.types import TensorData

# The official public classes of these are dataclasses sent as protobuf; their JSON shape is
# the official pydantic twin's, which older servers (and the local server) speak.
_OFFICIAL_JSON_TWINS: dict[str, type[pydantic.BaseModel]] = {
    "Datum": OfficialDatumModel,
    "ForwardBackwardInput": OfficialForwardBackwardInputModel,
    "TensorData": OfficialTensorDataModel,
    "GenericEvent": OfficialGenericEvent,  # not re-exported by tinker.types
}

# tinkex relaxes these official "required but nullable" fields: the official client omits
# None from the body, so a server has to accept the field missing.
_RELAXED_REQUIRED = {("CreateSessionRequest", "user_metadata")}


def official_adapter(name: str) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(_OFFICIAL_JSON_TWINS.get(name) or getattr(official, name))


def ours_adapter(name: str) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(getattr(ours, name))


def official_body(name: str, payload: dict[str, Any]) -> bytes:
    """What the official client sends: model_dump(json, exclude_none) through httpx's json."""
    adapter = official_adapter(name)
    wire = adapter.dump_python(adapter.validate_python(payload), mode="json", exclude_none=True)
    return json.dumps(wire, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def ours_body(value: Any) -> bytes:
    if isinstance(value, TensorData):
        return orjson.dumps(value.wire_dict(as_numpy=True), option=orjson.OPT_SERIALIZE_NUMPY)
    return ours.to_json_bytes(value)


def test_json_body_is_byte_identical(wire_case: tuple[str, dict[str, Any]]) -> None:
    name, payload = wire_case
    value = ours_adapter(name).validate_python(payload)
    assert ours_body(value) == official_body(name, payload)


def test_wire_dict_matches_official_dump(wire_case: tuple[str, dict[str, Any]]) -> None:
    name, payload = wire_case
    value = ours_adapter(name).validate_python(payload)
    wire = value.wire_dict() if isinstance(value, TensorData) else ours.to_wire(value)
    assert wire == json.loads(official_body(name, payload))


def test_each_side_parses_what_the_other_emits(wire_case: tuple[str, dict[str, Any]]) -> None:
    name, payload = wire_case
    theirs = official_body(name, payload)
    mine = ours_body(ours_adapter(name).validate_python(payload))

    parsed_by_ours = ours_adapter(name).validate_json(theirs)
    assert ours_body(parsed_by_ours) == mine

    official = official_adapter(name)
    if (name, "user_metadata") in _RELAXED_REQUIRED and payload.get("user_metadata") is None:
        # The official class cannot parse its own body here; tinkex must, and does above.
        with pytest.raises(pydantic.ValidationError):
            official.validate_json(theirs)
        return
    parsed_by_official = official.validate_json(mine)
    dumped = official.dump_python(parsed_by_official, mode="json", exclude_none=True)
    assert dumped == json.loads(theirs)


def test_round_trip_gives_an_equal_value(wire_case: tuple[str, dict[str, Any]]) -> None:
    name, payload = wire_case
    adapter = ours_adapter(name)
    value = adapter.validate_python(payload)
    assert adapter.validate_json(ours_body(value)) == value


def _official_public_names() -> set[str]:
    return {
        name
        for name, value in vars(official).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }


def test_every_official_name_is_exported() -> None:
    missing = _official_public_names() - set(ours.__all__)
    assert not missing


def test_every_exported_name_resolves() -> None:
    for name in ours.__all__:
        assert getattr(ours, name) is not None


def _official_models() -> list[str]:
    return sorted(
        name
        for name in _official_public_names()
        if isinstance(getattr(official, name), type)
        and issubclass(getattr(official, name), pydantic.BaseModel)
    )


@pytest.mark.parametrize("name", _official_models())
def test_fields_defaults_and_order_match(name: str) -> None:
    theirs = getattr(official, name).model_fields
    mine = getattr(ours, name).model_fields
    assert list(mine) == list(theirs)
    for field, info in theirs.items():
        if (name, field) in _RELAXED_REQUIRED:
            assert mine[field].get_default() is None
            continue
        assert mine[field].is_required() == info.is_required(), field
        if not info.is_required():
            expected = info.get_default(call_default_factory=True)
            actual = mine[field].get_default(call_default_factory=True)
            if isinstance(expected, pydantic.BaseModel):
                expected, actual = expected.model_dump(), actual.model_dump()
            assert actual == expected, field
            # An int default where a float is declared (official SamplingParams) is dumped as
            # a float in JSON mode, so tinkex declares the float directly.
            assert type(actual) is type(expected) or isinstance(actual, float), field


@pytest.mark.parametrize("name", _official_models())
def test_unknown_field_policy(name: str) -> None:
    """Requests forbid unknown fields, responses ignore them, as the official classes do."""
    theirs = getattr(official, name).model_config.get("extra")
    mine = getattr(ours, name).model_config.get("extra")
    if name == "SamplingParams":  # official ignores typos here; tinkex rejects them
        assert (theirs, mine) == ("ignore", "forbid")
    else:
        assert mine == theirs
