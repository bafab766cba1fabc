"""The per-token sampler options `sample_stream` shares with `sample`, through the OFFICIAL
`tinker` 0.38 client (protobuf results) and as JSON for clients that do not take protobuf."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

tinker = pytest.importorskip("tinker")

from server_testkit import TINY, TOKENS, Api  # noqa: E402

from tinkex.local.server import LocalServer  # noqa: E402

types = tinker.types


@pytest.fixture
def sampler(open_server: LocalServer) -> Iterator[Any]:
    service = tinker.ServiceClient(base_url=open_server.base_url, api_key="tml-test")
    yield service.create_sampling_client(base_model=TINY).result()
    service.close("success")


def test_topk_sample_logprobs_and_prompt_alt_tokens_reach_the_official_client(
    sampler: Any,
) -> None:
    prompt = types.ModelInput.from_ints(TOKENS[:6])
    params = types.SamplingParams(max_tokens=4, temperature=0.0, stop=[])

    result = sampler.sample(
        prompt, 2, params, topk_sample_logprobs=3, prompt_alt_tokens_k=2
    ).result()

    for sequence in result.sequences:
        assert len(sequence.topk_logprobs) == len(sequence.tokens) == 4
        for token, logprob, row in zip(
            sequence.tokens, sequence.logprobs, sequence.topk_logprobs, strict=True
        ):
            assert len(row) == 3
            assert row[0][0] == token
            assert row[0][1] == pytest.approx(logprob, abs=1e-5)
    alt = result.prompt_alt_tokens
    assert alt.tokens.shape == alt.logprobs.shape == [5, 2]
    tokens, logprobs = alt.tokens.to_numpy(), alt.logprobs.to_numpy()
    assert tokens.dtype == np.int64
    assert (tokens[:, 0] == tokens[:, 1]).all()  # temperature 0 draws the argmax each time
    assert (logprobs <= 0).all()


def test_the_options_also_come_back_as_json(api: Api) -> None:
    body = {
        "base_model": TINY,
        "prompt": {"chunks": [{"type": "encoded_text", "tokens": TOKENS[:4]}]},
        "sampling_params": {"max_tokens": 2, "seed": 1, "stop": []},
        "topk_sample_logprobs": 2,
        "prompt_alt_tokens_k": 3,
    }

    result = api.result(api.ok("/asample", body)["request_id"])

    (sequence,) = result["sequences"]
    assert [len(row) for row in sequence["topk_logprobs"]] == [2, 2]
    assert result["prompt_alt_tokens"]["tokens"]["shape"] == [3, 3]
