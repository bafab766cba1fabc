"""Property-based tests: round trips, and malformed input failing only as ValidationError."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pydantic
import pytest
import tinker.types as official
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinkex.types as ours
from tinkex.types import ModelInput, SamplingParams, TensorData

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)

TENSOR_ARRAYS = st.one_of(
    hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    ),
)

_TENSOR = pydantic.TypeAdapter(TensorData)


@given(TENSOR_ARRAYS)
def test_tensor_json_round_trip(array: np.ndarray) -> None:
    td = TensorData.from_numpy(array)
    fast = orjson.dumps(td.wire_dict(as_numpy=True), option=orjson.OPT_SERIALIZE_NUMPY)
    assert orjson.loads(fast) == td.wire_dict()
    parsed = _TENSOR.validate_json(fast)
    assert parsed == td
    np.testing.assert_array_equal(parsed.to_numpy(), array)


@given(
    hnp.arrays(
        np.int64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=8), elements=st.integers(-3, 3)
    ),
    st.integers(-3, 3),
)
def test_sparse_round_trip(array: np.ndarray, pad_value: int) -> None:
    td = TensorData.from_numpy_sparse(array, pad_value=pad_value)
    parsed = _TENSOR.validate_json(orjson.dumps(td.wire_dict()))
    np.testing.assert_array_equal(parsed.to_numpy(pad_value=pad_value), array)


@given(st.lists(st.lists(st.integers(0, 2**40), max_size=20), max_size=4))
def test_model_input_matches_official_bytes(token_chunks: list[list[int]]) -> None:
    mine = ModelInput(chunks=[ours.EncodedTextChunk(tokens=t) for t in token_chunks])
    theirs = official.ModelInput(chunks=[official.EncodedTextChunk(tokens=t) for t in token_chunks])
    expected = json.dumps(theirs.model_dump(mode="json", exclude_none=True), separators=(",", ":"))
    assert mine.to_json_bytes() == expected.encode()
    assert ModelInput.model_validate_json(mine.to_json_bytes()) == mine


@given(
    st.builds(
        dict,
        max_tokens=st.none() | st.integers(1, 10_000),
        seed=st.none() | st.integers(0, 2**31),
        stop=st.none()
        | st.text(max_size=4)
        | st.lists(st.text(max_size=3))
        | st.lists(st.integers(0, 99)),
        temperature=st.floats(0, 2),
        top_k=st.integers(-1, 100),
        top_p=st.floats(0, 1),
    )
)
def test_sampling_params_agree_with_official(payload: dict[str, Any]) -> None:
    mine = SamplingParams.model_validate(payload)
    theirs = official.SamplingParams.model_validate(payload)
    assert orjson.loads(mine.to_json_bytes()) == theirs.model_dump(mode="json", exclude_none=True)
    assert SamplingParams.model_validate_json(mine.to_json_bytes()) == mine


def _names_field(error: Any, field: str) -> bool:
    return (bool(error["loc"]) and error["loc"][0] == field) or field in error["msg"]


@settings(max_examples=400)
@given(data=st.data())
def test_wrong_field_values_raise_validation_errors_naming_the_field(
    wire_cases: list[tuple[str, dict[str, Any]]], data: st.DataObject
) -> None:
    name, payload = data.draw(st.sampled_from(wire_cases))
    if not payload:
        return
    field = data.draw(st.sampled_from(sorted(payload)))
    bad = {**payload, field: data.draw(JSON_VALUES)}
    errors = _validation_errors(pydantic.TypeAdapter(getattr(ours, name)), json.dumps(bad))
    assert errors is None or any(_names_field(e, field) for e in errors), errors


def _validation_errors(adapter: pydantic.TypeAdapter[Any], body: str | bytes) -> Any:
    """The errors of a failed validation, None if it passed; any other exception escapes."""
    try:
        adapter.validate_json(body)
    except pydantic.ValidationError as error:
        return error.errors()
    return None


@given(data=st.data(), garbage=st.binary(max_size=20))
def test_garbage_bytes_raise_validation_errors(
    wire_cases: list[tuple[str, dict[str, Any]]], data: st.DataObject, garbage: bytes
) -> None:
    name = data.draw(st.sampled_from(sorted({name for name, _ in wire_cases})))
    _validation_errors(pydantic.TypeAdapter(getattr(ours, name)), garbage)


def test_non_dict_loss_inputs_are_a_validation_error() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        ours.Datum.model_validate({"model_input": {"chunks": []}, "loss_fn_inputs": [1]})
    assert info.value.errors()[0]["loc"] == ("loss_fn_inputs",)
