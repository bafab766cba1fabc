"""Datum: loss-input conversion rules (by key and by dtype) and provenance, vs the official."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pydantic
import pytest
import tinker.types as official
import torch
from tinker.types._pydantic_types.datum import Datum as OfficialDatumModel

from tinkex.types import (
    Datum,
    ForwardBackwardInput,
    ModelInput,
    PromptProvenanceSpan,
    SampledProvenanceSpan,
    TensorData,
)

TOKENS = [3, 4, 5, 6]


def _summary(td: Any) -> tuple[str, list[int] | None, list[Any]]:
    return td.dtype, td.shape, td.tolist()


RAW_INPUTS: list[tuple[str, Any]] = [
    ("target_tokens", [1, 2, 3, 4]),
    ("target_tokens", [1.0, 2.0, 3.0, 4.0]),
    ("weights", [1, 0, 1, 1]),
    ("weights", [True, False, True, True]),
    ("advantages", [0.5, -0.5, 0.0, 1.0]),
    ("logprobs", [[-1.0, -2.0], [-3.0, -4.0]]),
    ("clip_low_threshold", [0.8] * 4),
    ("clip_high_threshold", [1.2] * 4),
    ("weights", []),
    ("target_tokens", np.arange(4, dtype=np.int32)),
    ("weights", np.ones(4, dtype=np.float64)),
    ("anything", np.ones((2, 2), dtype=np.int16)),
    ("target_tokens", torch.arange(4)),
    ("weights", torch.ones(4, dtype=torch.bfloat16)),
    ("target_tokens", torch.tensor([[1, 0, 0, 0, 0], [0, 0, 0, 0, 2]])),
    ("weights", torch.ones(2, 2)),
]


@pytest.mark.parametrize(("key", "value"), RAW_INPUTS)
def test_loss_input_conversion_matches_the_official_client(key: str, value: Any) -> None:
    model_input = {"chunks": [{"tokens": TOKENS}]}
    mine = Datum.model_validate({"model_input": model_input, "loss_fn_inputs": {key: value}})
    theirs = official.Datum(
        model_input=official.ModelInput.from_ints(TOKENS), loss_fn_inputs={key: value}
    )
    td, expected = mine.loss_fn_inputs[key], theirs.loss_fn_inputs[key]
    assert _summary(td) == _summary(expected)
    assert td.sparse_crow_indices == expected.sparse_crow_indices
    assert td.sparse_col_indices == expected.sparse_col_indices


def test_sequence_ratio_mask_list_is_float32() -> None:
    datum = Datum(
        model_input=ModelInput.from_ints(TOKENS),
        loss_fn_inputs={"sequence_ratio_mask": [1, 0]},
    )
    assert datum.loss_fn_inputs["sequence_ratio_mask"].dtype == "float32"


def test_plain_list_for_an_unknown_key_is_refused_naming_it() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Datum(model_input=ModelInput.from_ints(TOKENS), loss_fn_inputs={"mask": [1, 0]})
    assert info.value.errors()[0]["loc"] == ("loss_fn_inputs",)
    assert "'mask'" in str(info.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [([[1, 2], [3]], "ragged"), ("text", "must be TensorData"), ([["a"]], "invalid literal")],
)
def test_bad_loss_inputs_raise_validation_errors(value: object, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Datum.model_validate(
            {"model_input": {"chunks": []}, "loss_fn_inputs": {"target_tokens": value}}
        )


def test_loss_input_dict_errors_name_the_tensor_field() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Datum.model_validate(
            {
                "model_input": {"chunks": []},
                "loss_fn_inputs": {"weights": {"data": [1.0], "dtype": "float16"}},
            }
        )
    assert info.value.errors()[0]["loc"] == ("loss_fn_inputs", "weights", "dtype")


def test_json_from_numpy_is_byte_identical_to_the_official_json_model() -> None:
    rng = np.random.default_rng(0)
    inputs: dict[str, Any] = {
        "target_tokens": rng.integers(0, 50_000, size=64),
        "weights": rng.random(64).astype(np.float32),
        # float32 already: the official JSON twin would send float64 digits for a float64
        # array, while the official 0.38 public TensorData (and tinkex) narrow it to float32.
        "advantages": rng.standard_normal((4, 16)).astype(np.float32),
    }
    mine = ForwardBackwardInput(
        data=[Datum(model_input=ModelInput.from_ints(list(range(64))), loss_fn_inputs=inputs)],
        loss_fn="importance_sampling",
        loss_fn_config={"clip": 0.2},
    )
    theirs = OfficialDatumModel(
        model_input=official.ModelInput.from_ints(list(range(64))), loss_fn_inputs=inputs
    )
    body = {
        "data": [theirs.model_dump(mode="json", exclude_none=True)],
        "loss_fn": "importance_sampling",
        "loss_fn_config": {"clip": 0.2},
    }
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert mine.to_json_bytes() == expected


def test_datums_survive_pickling_for_process_pools() -> None:
    datum = Datum(
        model_input=ModelInput.from_ints(TOKENS),
        loss_fn_inputs={"target_tokens": np.arange(4), "weights": [1.0, 0.0, 1.0, 1.0]},
    )
    assert pickle.loads(pickle.dumps(datum)) == datum
    assert datum.model_copy(deep=True) == datum


def test_default_loss_inputs_are_empty() -> None:
    assert Datum(model_input=ModelInput.empty()).loss_fn_inputs == {}


def test_with_provenance_checks_tiling_and_pairs() -> None:
    datum = Datum(
        model_input=ModelInput.from_ints(TOKENS),
        loss_fn_inputs={"target_tokens": TensorData.from_numpy(np.arange(3))},
    )
    prompt = [PromptProvenanceSpan(sequence_id="s1", length=2)]
    sampled = [SampledProvenanceSpan(sequence_id="s1", offset=1, length=2)]
    annotated = datum.with_provenance(
        model_input=[*prompt, *sampled],
        loss_fn_inputs=[*sampled[:1], PromptProvenanceSpan(sequence_id="s2", length=1)],
    )
    assert annotated.model_input_spans is not None
    assert annotated.loss_fn_input_spans is not None
    assert datum.model_input_spans is None
    wire = annotated.to_wire()
    assert wire["model_input_spans"][0] == {
        "sequence_id": "s1",
        "offset": 0,
        "length": 2,
        "type": "prompt",
    }
    assert Datum.model_validate_json(annotated.to_json_bytes()) == annotated
    with pytest.raises(ValueError, match="cover 2 positions but the field has 4"):
        datum.with_provenance(model_input=prompt, loss_fn_inputs=sampled)
    with pytest.raises(ValueError, match="cover 4 positions but the field has 3"):
        datum.with_provenance(model_input=[*prompt, *sampled], loss_fn_inputs=prompt * 2)
    with pytest.raises(pydantic.ValidationError, match="come as a pair"):
        Datum(model_input=ModelInput.empty(), model_input_spans=[])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sequence_id": "", "length": 1}, "sequence_id"),
        ({"sequence_id": "s", "length": -1}, "length"),
        ({"sequence_id": "s", "offset": -1, "length": 1}, "offset"),
    ],
)
def test_span_validation_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    for span_type in (PromptProvenanceSpan, SampledProvenanceSpan):
        with pytest.raises(pydantic.ValidationError) as info:
            span_type(**kwargs)
        assert info.value.errors()[0]["loc"] == (field,)
