"""`sample_stream` takes every argument `sample` takes and its final response carries the same
prompt-level fields; a stream asked for stability info is recorded like a sample."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fake_tinker import BASE_MODEL
from pytest_httpserver import HTTPServer

from tinkex import types
from tinkex.clients.sampling import SamplingClient
from tinkex.clients.service import ServiceClient

PROMPT_IDS = [1, 415, 565, 302, 843, 349]
PROMPT = types.ModelInput.from_ints(PROMPT_IDS)
PARAMS = types.SamplingParams(max_tokens=4, seed=11, temperature=1.0, stop=[])
STREAM_PATH = "/api/v1/sample_stream"
PROMPT_OPTIONS: dict[str, Any] = {
    "include_prompt_logprobs": True,
    "topk_prompt_logprobs": 3,
    "topk_sample_logprobs": 2,
    "prompt_alt_tokens_k": 2,
    "prompt_logprobs_last_n": 3,
}
TARGETS = types.TensorData.from_numpy(np.zeros((len(PROMPT_IDS) - 1, 1), dtype=np.int64))


def _drain(stream_client: SamplingClient, **options: Any) -> types.SampleResponse:
    with stream_client.sample_stream(PROMPT, 1, PARAMS, **options) as stream:
        for _ in stream:
            pass
    assert stream.response is not None
    return stream.response


# -- against the embedded server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def local(local_server: str) -> Iterator[ServiceClient]:
    pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")
    with ServiceClient(base_url=local_server, api_key="tml-local-test") as service:
        yield service


@pytest.fixture(scope="module")
def tiny(local: ServiceClient) -> SamplingClient:
    from tinkex.local.config import DEFAULT_MODELS

    return local.create_sampling_client(base_model=DEFAULT_MODELS[0]).result(60)


def test_the_done_response_has_the_prompt_fields_sample_returns(tiny: SamplingClient) -> None:
    streamed = _drain(tiny, **PROMPT_OPTIONS)
    sampled = tiny.sample(PROMPT, 1, PARAMS, **PROMPT_OPTIONS).result(60)

    assert streamed.prompt_logprobs is not None
    assert streamed.prompt_logprobs[: -PROMPT_OPTIONS["prompt_logprobs_last_n"]] == [None] * 3
    assert streamed.prompt_logprobs == sampled.prompt_logprobs
    assert streamed.topk_prompt_logprobs is not None
    assert streamed.topk_prompt_logprobs == sampled.topk_prompt_logprobs
    assert streamed.prompt_alt_tokens is not None
    assert streamed.prompt_alt_tokens.tokens.shape == [len(PROMPT_IDS) - 1, 2]
    assert streamed.prompt_alt_tokens == sampled.prompt_alt_tokens
    assert streamed.prompt_cache_hit_tokens == sampled.prompt_cache_hit_tokens
    assert list(streamed.sequences[0].tokens) == list(sampled.sequences[0].tokens)


def test_target_prompt_logprobs_come_back_alike_from_sample_and_stream(
    tiny: SamplingClient,
) -> None:
    sampled = tiny.sample(PROMPT, 1, PARAMS, target_prompt_logprobs=TARGETS).result(60)
    streamed = _drain(tiny, target_prompt_logprobs=TARGETS)

    assert sampled.target_prompt_logprobs is not None
    assert sampled.target_prompt_logprobs.dtype == "float32"
    assert sampled.target_prompt_logprobs.shape == [len(PROMPT_IDS) - 1, 1]
    assert bool(np.all(sampled.target_prompt_logprobs.to_numpy() < 0))
    assert streamed.target_prompt_logprobs == sampled.target_prompt_logprobs


def test_a_stream_asked_for_stability_info_is_recorded_for_stable_reinforce(
    local: ServiceClient,
) -> None:
    from tinkex.local.config import DEFAULT_MODELS

    training = local.create_lora_training_client(DEFAULT_MODELS[0], rank=4, seed=0).result(60)
    sampler = training.save_weights_and_get_sampling_client(record_stability_info=True).result(60)
    sequence = _drain(sampler).sequences[0]

    ob = len(PROMPT_IDS) - 1
    tokens, logprobs = list(sequence.tokens), list(sequence.logprobs or [])
    datum = types.Datum(
        model_input=types.ModelInput.from_ints(PROMPT_IDS + tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": np.asarray([0] * ob + tokens, dtype=np.int64),
            "logprobs": np.asarray([0.0] * ob + [-50.0] * len(tokens), dtype=np.float32),
            "advantages": np.asarray([0.0] * ob + [1.0] * len(tokens), dtype=np.float32),
        },
    ).with_provenance(
        model_input=[
            types.PromptProvenanceSpan(sequence_id=sequence.sequence_id, length=len(PROMPT_IDS)),
            types.SampledProvenanceSpan(sequence_id=sequence.sequence_id, length=len(tokens) - 1),
        ],
        loss_fn_inputs=[
            types.PromptProvenanceSpan(sequence_id=sequence.sequence_id, offset=1, length=ob),
            types.SampledProvenanceSpan(sequence_id=sequence.sequence_id, length=len(tokens)),
        ],
    )

    output = training.forward([datum], "stable_reinforce").result(60)

    # The server's recorded logprobs replace the client's -50s: every ratio is 1.
    assert output.metrics["loss:sum"] == pytest.approx(-sum(logprobs), rel=1e-4)


# -- against scripted servers ------------------------------------------------------------------


@pytest.fixture
def scripted(service_client: ServiceClient) -> SamplingClient:
    return service_client.create_sampling_client(base_model=BASE_MODEL).result(30)


def _done(**fields: object) -> str:
    response = {"sequences": [{"tokens": [7], "logprobs": [-0.5], "stop_reason": "length"}]}
    return f"event: done\ndata: {json.dumps({**response, **fields})}\n\n"


def test_every_sample_argument_travels_in_the_stream_request(
    scripted: SamplingClient, httpserver: HTTPServer
) -> None:
    wire = {"data": TARGETS.data, "dtype": "int64", "shape": TARGETS.shape}
    alt = {"tokens": wire, "logprobs": {**wire, "dtype": "float32"}}
    httpserver.expect_request(STREAM_PATH).respond_with_data(
        _done(prompt_alt_tokens=alt), content_type="text/event-stream"
    )

    _drain(scripted, target_prompt_logprobs=TARGETS, **PROMPT_OPTIONS)

    [body] = [json.loads(r.data) for r, _ in httpserver.log if r.path == STREAM_PATH]
    assert body["prompt_logprobs"] is True
    assert body["target_prompt_logprobs"]["shape"] == [len(PROMPT_IDS) - 1, 1]
    for name in ("topk_prompt_logprobs", "topk_sample_logprobs"):
        assert body[name] == PROMPT_OPTIONS[name]
    for name in ("prompt_alt_tokens_k", "prompt_logprobs_last_n"):
        assert body[name] == PROMPT_OPTIONS[name]


@pytest.mark.parametrize("streams", [True, False], ids=["stream", "fallback"])
def test_a_server_ignoring_prompt_alt_tokens_k_fails_as_sample_does(
    scripted: SamplingClient, httpserver: HTTPServer, streams: bool
) -> None:
    if streams:
        httpserver.expect_request(STREAM_PATH).respond_with_data(
            _done(), content_type="text/event-stream"
        )
    else:
        httpserver.expect_request(STREAM_PATH).respond_with_data("no such route", status=404)

    with pytest.raises(RuntimeError, match="no prompt_alt_tokens"):
        _drain(scripted, prompt_alt_tokens_k=2)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"prompt_alt_tokens_k": -1}, "prompt_alt_tokens_k"),
        ({"prompt_logprobs_last_n": 0, "include_prompt_logprobs": True}, "prompt_logprobs_last_n"),
        ({"prompt_logprobs_last_n": 2}, "include_prompt_logprobs"),
        ({"target_prompt_logprobs": types.TensorData(data=[1], dtype="float32")}, "int64"),
    ],
)
def test_bad_arguments_fail_before_any_request_as_in_sample(
    scripted: SamplingClient, httpserver: HTTPServer, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        scripted.sample(PROMPT, 1, PARAMS, **options)
    with pytest.raises(ValueError, match=field):
        scripted.sample_stream(PROMPT, 1, PARAMS, **options)
    assert not [r for r, _ in httpserver.log if r.path == STREAM_PATH]
