"""The whole client stack against the real embedded server (`tinkex.local`): ServiceClient
creates a SamplingClient on a base model, samples, scores, pickles it and reads it back over
REST."""

from __future__ import annotations

import pickle

import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

from tinkex import types
from tinkex.clients.service import ServiceClient
from tinkex.local.config import DEFAULT_MODELS

MODEL = DEFAULT_MODELS[0]
PROMPT = types.ModelInput.from_ints([1, 2, 3, 4])


@pytest.fixture
def service(local_service: ServiceClient) -> ServiceClient:
    return local_service


def test_sample_score_pickle_and_list_on_the_local_server(service: ServiceClient) -> None:
    sampler = service.create_sampling_client(base_model=MODEL).result(60)
    assert sampler.get_base_model() == MODEL
    params = types.SamplingParams(max_tokens=3, temperature=1.0, seed=0)
    result = sampler.sample(PROMPT, 2, params, include_prompt_logprobs=True).result(120)
    assert len(result.sequences) == 2
    assert all(0 < len(s.tokens) <= 3 and s.sequence_id for s in result.sequences)
    assert result.prompt_logprobs is not None
    assert result.prompt_logprobs[0] is None
    scored = sampler.compute_logprobs(PROMPT).result(120)
    assert scored[0] is None
    assert scored[1:] == pytest.approx(result.prompt_logprobs[1:], rel=1e-4)

    clone = pickle.loads(pickle.dumps(sampler))
    assert len(clone.sample(PROMPT, 1, params).result(120).sequences) == 1

    rest = service.create_rest_client()
    assert rest.get_sampler(sampler.sampling_session_id).result(60).base_model == MODEL
