"""SampledSequence keeps the wire's arrays and makes Python lists only when they are read.

A 64 x 256 sample response held as Python lists costs two objects per token; the official
client keeps numpy arrays and so does tinkex, while ``tokens``/``logprobs`` still return lists.
"""

from __future__ import annotations

import pickle
import tracemalloc

import numpy as np
import pydantic
import pytest

from tinkex.proto import decode_sample_response, encode_sample_response
from tinkex.types import SampledSequence, SampleResponse, TopkLogprobs

TOKENS = np.arange(256, 512, dtype=np.int32)
LOGPROBS = np.linspace(-3.0, -0.1, 256, dtype=np.float32)


def _response(n: int = 64) -> SampleResponse:
    return SampleResponse(
        sequences=[
            SampledSequence(stop_reason="length", tokens_np=TOKENS, logprobs_np=LOGPROBS)
            for _ in range(n)
        ]
    )


def test_decoded_sequences_hold_arrays_until_lists_are_read() -> None:
    body = encode_sample_response(_response())
    tracemalloc.start()
    try:
        response = decode_sample_response(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Arrays: 2 KiB of data per sequence. Lists would need ~20 KiB per sequence (16,384
    # Python ints and floats in all), far above this bound.
    assert peak < 4 * len(body)
    sequence = response.sequences[0]
    assert isinstance(sequence.tokens_np, np.ndarray)
    assert sequence.tokens == TOKENS.tolist()
    assert sequence.logprobs == LOGPROBS.tolist()


def test_lists_are_made_once_and_cached() -> None:
    sequence = SampledSequence(stop_reason="stop", tokens_np=TOKENS, logprobs_np=LOGPROBS)
    assert sequence.tokens is sequence.tokens
    assert sequence.logprobs is sequence.logprobs


def test_list_input_is_kept_exactly() -> None:
    # JSON logprobs are doubles: going through float32 would round them.
    sequence = SampledSequence.model_validate_json(
        b'{"stop_reason":"stop","tokens":[1,2],"logprobs":[-0.123456789,-1.5]}'
    )
    assert sequence.logprobs == [-0.123456789, -1.5]
    assert sequence.tokens_np.dtype == np.int32
    np.testing.assert_array_equal(sequence.tokens_np, [1, 2])


def test_array_and_list_built_sequences_are_equal_and_serialise_alike() -> None:
    from_arrays = SampledSequence(stop_reason="stop", tokens_np=TOKENS, logprobs_np=LOGPROBS)
    from_lists = SampledSequence(
        stop_reason="stop", tokens=TOKENS.tolist(), logprobs=LOGPROBS.tolist()
    )
    assert from_arrays == from_lists
    assert from_arrays.to_wire() == from_lists.to_wire()
    assert from_arrays.to_json_bytes() == from_lists.to_json_bytes()
    assert set(from_arrays.to_wire()) == {"stop_reason", "tokens", "logprobs"}
    assert from_arrays != SampledSequence(stop_reason="stop", tokens=[1])


def test_round_trips_through_json_copy_and_pickle() -> None:
    topk = TopkLogprobs(
        token_ids=np.array([[5, 0]], dtype=np.int32),
        logprobs=np.array([[-0.5, -99999.0]], dtype=np.float32),
    )
    sequence = SampledSequence(
        stop_reason="length", tokens_np=TOKENS[:1], logprobs_np=LOGPROBS[:1], topk_logprobs_np=topk
    )
    assert sequence.topk_logprobs == [[(5, -0.5)]]
    assert SampledSequence.model_validate_json(sequence.to_json_bytes()) == sequence
    stamped = sequence.model_copy(update={"sequence_id": "seq-1"})
    assert stamped.sequence_id == "seq-1"
    assert stamped.tokens == sequence.tokens
    assert pickle.loads(pickle.dumps(stamped)) == stamped


def test_repr_shows_the_tokens() -> None:
    assert "tokens=[1, 2]" in repr(SampledSequence(stop_reason="stop", tokens=[1, 2]))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tokens": ["a"]}, "tokens"),
        ({"tokens": [1.5]}, "tokens"),
        ({"tokens_np": np.zeros((2, 2), dtype=np.int32)}, "tokens"),
        ({"tokens_np": np.zeros(2, dtype=np.float32)}, "tokens"),
        ({"logprobs": ["x"]}, "logprobs"),
    ],
)
def test_bad_values_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        SampledSequence(stop_reason="stop", **kwargs)
    assert info.value.errors()[0]["loc"][0] == field


def test_model_copy_updates_by_wire_name_and_drops_cached_lists() -> None:
    sequence = SampledSequence(stop_reason="stop", tokens_np=TOKENS[:2])
    assert sequence.tokens == [256, 257]
    updated = sequence.model_copy(update={"tokens": [7], "topk_logprobs": [[(7, -0.5)]]})
    assert updated.tokens == [7]
    assert updated.topk_logprobs == [[(7, -0.5)]]
    assert sequence.tokens == [256, 257]
