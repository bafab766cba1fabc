"""Sampling responses: the official numpy-first API over tinkex's JSON lists."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import tinker.types as official
from tinker.types.topk_logprobs import TopkLogprobs as OfficialTopk
from tinker.types.topk_logprobs import topk_to_lists as official_topk_to_lists

from tinkex.types import SampledSequence, SampleResponse, TensorData, TopkLogprobs
from tinkex.types.sampling import MASK_LOGPROB, lists_to_topk, topk_to_lists

TOPK_IDS = np.array([[5, 6, 0], [0, 0, 0], [7, 0, 0]], dtype=np.int32)
TOPK_LPS = np.array(
    [[-0.5, -1.5, MASK_LOGPROB], [MASK_LOGPROB] * 3, [-0.25, MASK_LOGPROB, MASK_LOGPROB]],
    dtype=np.float32,
)


def test_topk_to_lists_matches_the_official_client() -> None:
    mine = topk_to_lists(TopkLogprobs(token_ids=TOPK_IDS, logprobs=TOPK_LPS))
    theirs = official_topk_to_lists(OfficialTopk(token_ids=TOPK_IDS, logprobs=TOPK_LPS))
    assert mine == theirs
    assert topk_to_lists(TopkLogprobs(token_ids=TOPK_IDS[:0], logprobs=TOPK_LPS[:0])) == []


def test_lists_to_topk_round_trips() -> None:
    rows = topk_to_lists(TopkLogprobs(token_ids=TOPK_IDS, logprobs=TOPK_LPS))
    dense = lists_to_topk(rows)
    assert topk_to_lists(dense) == rows
    assert dense.token_ids.shape == (3, 2)


def test_sampled_sequence_from_numpy_matches_the_official_client() -> None:
    kwargs = {
        "stop_reason": "length",
        "sequence_id": "seq-1",
        "tokens_np": np.array([1, 2, 3], dtype=np.int32),
        "logprobs_np": np.array([-0.5, -1.0, -2.0], dtype=np.float32),
        "topk_logprobs_np": TopkLogprobs(token_ids=TOPK_IDS, logprobs=TOPK_LPS),
    }
    mine = SampledSequence(**kwargs)
    theirs = official.SampledSequence(**kwargs)  # type: ignore[arg-type]
    assert mine.tokens == theirs.tokens
    assert mine.logprobs == theirs.logprobs
    assert mine.topk_logprobs == theirs.topk_logprobs
    np.testing.assert_array_equal(mine.tokens_np, theirs.tokens_np)
    np.testing.assert_array_equal(mine.logprobs_np, theirs.logprobs_np)
    assert mine.topk_logprobs_np is not None
    assert topk_to_lists(mine.topk_logprobs_np) == theirs.topk_logprobs


def test_sampled_sequence_defaults() -> None:
    sequence = SampledSequence(stop_reason="stop")
    assert sequence.tokens == []
    assert sequence.logprobs_np is None
    assert sequence.topk_logprobs_np is None


def test_sample_response_from_numpy_matches_the_official_client() -> None:
    prompt_np = np.array([np.nan, -0.5, -1.5], dtype=np.float32)
    target = TensorData.from_numpy(np.array([[0.5]], dtype=np.float32))
    mine = SampleResponse(
        sequences=[SampledSequence(stop_reason="stop", tokens=[1])],
        prompt_logprobs_np=prompt_np,
        topk_prompt_logprobs_np=TopkLogprobs(token_ids=TOPK_IDS, logprobs=TOPK_LPS),
        target_prompt_logprobs=target,
        prompt_cache_hit_tokens=2,
    )
    theirs = official.SampleResponse(
        sequences=[],
        prompt_logprobs_np=prompt_np,
        topk_prompt_logprobs_np=OfficialTopk(token_ids=TOPK_IDS, logprobs=TOPK_LPS),
    )
    assert mine.prompt_logprobs == theirs.prompt_logprobs == [None, -0.5, -1.5]
    assert mine.topk_prompt_logprobs == theirs.topk_prompt_logprobs
    np.testing.assert_array_equal(mine.prompt_logprobs_np, prompt_np)
    assert mine.topk_prompt_logprobs_np is not None
    assert SampleResponse.model_validate_json(mine.to_json_bytes()) == mine


def test_sample_response_without_prompt_logprobs() -> None:
    response = SampleResponse.model_validate_json(
        b'{"sequences":[{"stop_reason":"stop","tokens":[1],"future_field":1}],"new":2}'
    )
    assert response.prompt_logprobs_np is None
    assert response.topk_prompt_logprobs_np is None
    assert response.sequences[0].tokens == [1]


def test_prompt_alt_tokens_parse_from_json() -> None:
    body = (
        b'{"sequences":[],"prompt_alt_tokens":{"tokens":{"data":[1,2],"dtype":"int64",'
        b'"shape":[1,2]},"logprobs":{"data":[-1.0,-2.0],"dtype":"float32","shape":[1,2]}}}'
    )
    alt = SampleResponse.model_validate_json(body).prompt_alt_tokens
    assert alt is not None
    assert alt.tokens.tolist() == [[1, 2]]


@pytest.mark.parametrize("bad", [b'{"sequences":[{"stop_reason":"eos"}]}', b'{"sequences":3}'])
def test_malformed_responses_name_the_field(bad: bytes) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        SampleResponse.model_validate_json(bad)
    assert info.value.errors()[0]["loc"][0] == "sequences"


def test_a_row_with_a_masked_first_cell_is_none_as_in_the_official_client() -> None:
    ids = np.array([[0, 5]], dtype=np.int32)
    lps = np.array([[MASK_LOGPROB, -1.0]], dtype=np.float32)
    mine = topk_to_lists(TopkLogprobs(token_ids=ids, logprobs=lps))
    assert mine == official_topk_to_lists(OfficialTopk(token_ids=ids, logprobs=lps)) == [None]
