"""SamplingClient against a loopback fake sampler: request shape, sequence ids from the
promise, protobuf results, 429/402 backpressure that queues, retries, stuck detection,
argument validation and compute_logprobs."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from pristine.errors import APIResponseValidationError, APIStatusError, BadRequestError
from pristine.ports.clock import Clock, SystemClock
from pristine.testing import FakeClock
from tinkex import types
from tinkex.clients.dispatch import RetryConfig, StuckError
from tinkex.clients.sampling import SamplingClient

if "sampling_testkit" not in sys.modules:  # a helper module beside the tests, any import mode
    _spec = importlib.util.spec_from_file_location(
        "sampling_testkit", Path(__file__).with_name("sampling_testkit.py")
    )
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules["sampling_testkit"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["sampling_testkit"])

from sampling_testkit import SAMPLER, FakeSampler, LoopHolder

NO_STUCK = RetryConfig(enable_stuck_detection=False)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sampler(httpserver: HTTPServer) -> FakeSampler:
    return FakeSampler(httpserver)


def _holder(httpserver: HTTPServer, clock: Clock, **config: Any) -> LoopHolder:
    return LoopHolder(
        httpserver.url_for("/").rstrip("/"),
        clock=clock,
        config=types.ClientConfigResponse(**config),
    )


@pytest.fixture
def holder(httpserver: HTTPServer) -> Iterator[LoopHolder]:
    made = _holder(httpserver, SystemClock())
    yield made
    made.close()


@pytest.fixture
def fake_clock_holder(httpserver: HTTPServer) -> Iterator[tuple[LoopHolder, FakeClock]]:
    clock = FakeClock()
    made = _holder(httpserver, clock)
    yield made, clock
    made.close()


def _client(holder: LoopHolder, retry_config: RetryConfig | None = None) -> SamplingClient:
    return SamplingClient(
        holder, sampling_session_id=SAMPLER, base_model="tiny", retry_config=retry_config
    )


PROMPT = types.ModelInput.from_ints([1, 2, 3])
PARAMS = types.SamplingParams(max_tokens=3, temperature=0.7)


def test_sample_sends_the_official_request_and_stamps_sequence_ids(
    sampler: FakeSampler, holder: LoopHolder
) -> None:
    client = _client(holder)
    result = client.sample(PROMPT, 2, PARAMS).result(timeout=30)
    assert [s.tokens for s in result.sequences] == [[3, 2, 1], [3, 2, 1]]
    assert [s.sequence_id for s in result.sequences] == ["req1-0", "req1-1"]
    (sent,) = sampler.requests
    assert sent == {
        "num_samples": 2,
        "prompt": {"chunks": [{"tokens": [1, 2, 3], "type": "encoded_text"}]},
        "sampling_params": {"max_tokens": 3, "temperature": 0.7, "top_k": -1, "top_p": 1.0},
        "sampling_session_id": SAMPLER,
        "seq_id": 0,
        "prompt_logprobs": False,
        "topk_prompt_logprobs": 0,
        "topk_sample_logprobs": 0,
        "prompt_alt_tokens_k": 0,
        "record_stability_info": False,
        "type": "sample",
    }
    assert sampler.poll_headers[0]["Accept"] == "application/x-protobuf"
    client.sample(PROMPT, 1, PARAMS).result(timeout=30)
    assert sampler.requests[1]["seq_id"] == 1


def test_compute_logprobs_asks_for_prompt_logprobs(
    sampler: FakeSampler, holder: LoopHolder
) -> None:
    logprobs = _client(holder).compute_logprobs(PROMPT).result(timeout=30)
    assert logprobs == [None, -0.5, -0.5]
    sent = sampler.requests[0]
    assert sent["prompt_logprobs"] is True
    assert sent["sampling_params"]["max_tokens"] == 1


@pytest.mark.anyio
async def test_async_twins_work_from_inside_a_running_loop(
    sampler: FakeSampler, holder: LoopHolder
) -> None:
    client = _client(holder)
    result = await client.sample_async(PROMPT, 1, PARAMS, include_prompt_logprobs=True)
    assert result.prompt_logprobs == [None, -0.5, -0.5]
    assert await client.compute_logprobs_async(PROMPT) == [None, -0.5, -0.5]
    assert await client.get_base_model_async() == "tiny"


def test_429_pauses_and_resubmits_instead_of_failing(
    sampler: FakeSampler, fake_clock_holder: tuple[LoopHolder, FakeClock]
) -> None:
    holder, clock = fake_clock_holder
    sampler.pushback = [429, 429]
    result = _client(holder, NO_STUCK).sample(PROMPT, 1, PARAMS).result(timeout=30)
    assert result.sequences[0].sequence_id == "req1-0"
    assert [r["seq_id"] for r in sampler.requests] == [0, 0, 0]  # same submission, resent
    assert clock.sleeps == [1.0, 1.0]  # the shared backoff window, never the wall clock


def test_402_pauses_until_the_billing_limit_then_raises(
    sampler: FakeSampler, httpserver: HTTPServer
) -> None:
    clock = FakeClock()
    holder = _holder(httpserver, clock, billing_exception_max_pause_duration_sec=2)
    try:
        sampler.pushback = [402, 402, 402, 402]
        with pytest.raises(APIStatusError, match="pushback 402"):
            _client(holder, NO_STUCK).sample(PROMPT, 1, PARAMS).result(timeout=30)
        assert clock.sleeps == [1.0, 1.0]  # the 402 at 2 s ends the pause
    finally:
        holder.close()


def test_transient_server_errors_are_retried_by_the_handler(
    sampler: FakeSampler, fake_clock_holder: tuple[LoopHolder, FakeClock]
) -> None:
    holder, clock = fake_clock_holder
    sampler.pushback = [503]
    result = _client(holder, NO_STUCK).sample(PROMPT, 1, PARAMS).result(timeout=30)
    assert result.sequences[0].tokens == [3, 2, 1]
    assert [r["seq_id"] for r in sampler.requests] == [0, 1]  # a new submission
    assert len(clock.sleeps) == 1


def test_user_errors_are_not_retried(
    sampler: FakeSampler, fake_clock_holder: tuple[LoopHolder, FakeClock]
) -> None:
    holder, _ = fake_clock_holder
    sampler.pushback = [400]
    with pytest.raises(BadRequestError, match="pushback 400"):
        _client(holder, NO_STUCK).sample(PROMPT, 1, PARAMS).result(timeout=30)
    assert len(sampler.requests) == 1


def test_a_sample_that_never_finishes_is_reported_as_stuck(
    sampler: FakeSampler, fake_clock_holder: tuple[LoopHolder, FakeClock]
) -> None:
    holder, _ = fake_clock_holder
    sampler.hold.clear()  # the server answers try_again forever
    client = _client(holder, RetryConfig(progress_timeout=30.0))
    with pytest.raises(StuckError, match=r"no progress made in 30\.0s"):
        client.sample(PROMPT, 1, PARAMS).result(timeout=30)


def test_bad_arguments_fail_before_anything_is_sent(
    sampler: FakeSampler, holder: LoopHolder
) -> None:
    client = _client(holder)
    with pytest.raises(ValueError, match="prompt_alt_tokens_k"):
        client.sample(PROMPT, 1, PARAMS, prompt_alt_tokens_k=-1)
    with pytest.raises(ValueError, match="include_prompt_logprobs"):
        client.sample(PROMPT, 1, PARAMS, prompt_logprobs_last_n=1)
    with pytest.raises(ValueError, match="prompt_logprobs_last_n"):
        client.compute_logprobs(PROMPT, prompt_logprobs_last_n=0)
    with pytest.raises(ValueError, match="num_samples"):
        client.sample(PROMPT, 0, PARAMS)
    floats = types.TensorData(data=[1.0], dtype="float32", shape=[1, 1])
    with pytest.raises(ValueError, match="int64"):
        client.sample(PROMPT, 1, PARAMS, target_prompt_logprobs=floats)
    flat = types.TensorData(data=[1], dtype="int64", shape=[1])
    with pytest.raises(ValueError, match="2-D"):
        client.sample(PROMPT, 1, PARAMS, target_prompt_logprobs=flat)
    assert sampler.requests == []


def test_an_older_server_ignoring_new_features_is_reported(
    sampler: FakeSampler, holder: LoopHolder
) -> None:
    client = _client(holder, RetryConfig(enable_retry_logic=False))
    with pytest.raises(RuntimeError, match="prompt_alt_tokens"):
        client.sample(PROMPT, 1, PARAMS, prompt_alt_tokens_k=2).result(timeout=30)
    with pytest.raises(RuntimeError, match="before that suffix"):
        client.compute_logprobs(PROMPT, prompt_logprobs_last_n=1).result(timeout=30)


def test_create_opens_a_session_and_fetches_the_base_model(
    httpserver: HTTPServer, holder: LoopHolder
) -> None:
    httpserver.expect_request("/api/v1/create_sampling_session").respond_with_json(
        {"sampling_session_id": SAMPLER}
    )
    httpserver.expect_request(f"/api/v1/samplers/{SAMPLER}").respond_with_json(
        {"sampler_id": SAMPLER, "base_model": "tiny", "model_path": "tinker://r/sampler_weights/s"}
    )
    client = SamplingClient.create(holder, model_path="tinker://r/sampler_weights/s").result(
        timeout=30
    )
    assert client.get_base_model() == "tiny"
    assert client.sampling_session_id == SAMPLER
    assert json.loads(httpserver.log[0][0].data)["model_path"] == "tinker://r/sampler_weights/s"


def test_a_clone_joins_the_session_for_its_seq_id_block(
    sampler: FakeSampler, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/api/v1/join_sampling_session").respond_with_json(
        {"client_counter": 3}
    )
    holder = _holder(httpserver, SystemClock(), sample_join_sampling_session=True)
    try:
        clone = SamplingClient(holder, sampling_session_id=SAMPLER, base_model="t", shadow=True)
        clone.sample(PROMPT, 1, PARAMS).result(timeout=30)
        clone.sample(PROMPT, 1, PARAMS).result(timeout=30)
    finally:
        holder.close()
    assert [r["seq_id"] for r in sampler.requests] == [3_000_000_000, 3_000_000_001]
    joins = [r for r, _ in httpserver.log if r.path == "/api/v1/join_sampling_session"]
    assert len(joins) == 1


def test_a_clone_without_join_picks_a_random_block(holder: LoopHolder) -> None:
    clone = SamplingClient(holder, sampling_session_id=SAMPLER, base_model="t", shadow=True)
    assert clone._next_seq_id >= 1_000_000_000


def test_json_results_and_missing_sequence_ids(httpserver: HTTPServer, holder: LoopHolder) -> None:
    answers = iter(
        [
            {"request_id": "a", "sample_sequence_ids": ["a-0"]},
            {"request_id": "b"},  # no sequence ids: a broken server
        ]
    )
    httpserver.expect_request("/api/v1/asample").respond_with_handler(
        lambda request: Response(json.dumps(next(answers)))
    )
    httpserver.expect_request("/api/v1/retrieve_future").respond_with_json(
        {"type": "sample", "sequences": [{"stop_reason": "stop", "tokens": [5]}]}
    )
    client = _client(holder, RetryConfig(enable_retry_logic=False))
    result = client.sample(PROMPT, 1, PARAMS).result(timeout=30)
    assert (result.sequences[0].tokens, result.sequences[0].sequence_id) == ([5], "a-0")
    with pytest.raises(APIResponseValidationError, match="sample_sequence_ids"):
        client.sample(PROMPT, 1, PARAMS).result(timeout=30)


def test_server_config_overrides_retry_settings(httpserver: HTTPServer) -> None:
    holder = _holder(
        httpserver,
        SystemClock(),
        sample_enable_stuck_detection=False,
        sample_no_retries=True,
        sample_max_concurrent_requests=7,
    )
    try:
        config = _client(holder).retry_handler.config
    finally:
        holder.close()
    assert (config.enable_stuck_detection, config.enable_retry_logic) == (False, False)
    assert config.max_connections == 7


def test_concurrent_samples_all_complete_through_a_burst_of_429s(
    sampler: FakeSampler, fake_clock_holder: tuple[LoopHolder, FakeClock]
) -> None:
    holder, clock = fake_clock_holder
    sampler.pushback = [429] * 5
    first, second = _client(holder, NO_STUCK), _client(holder, NO_STUCK)
    futures = [c.sample(PROMPT, 1, PARAMS) for c in (first, second) for _ in range(4)]
    results = [f.result(timeout=30) for f in futures]
    assert len(results) == 8
    assert all(r.sequences[0].tokens == [3, 2, 1] for r in results)
    assert len(sampler.requests) == 8 + 5  # every pushed-back submission was sent again
    assert clock.sleeps  # the shared window paused them on the (fake) clock
    assert all(0 < s <= 1.0 for s in clock.sleeps)


def test_get_tokenizer_loads_the_base_models_tokenizer_offline(holder: LoopHolder) -> None:
    pytest.importorskip("tokenizers")
    client = SamplingClient(holder, sampling_session_id=SAMPLER, base_model="tinkex/tiny-llama")
    tokenizer = client.get_tokenizer()
    assert tokenizer.decode(tokenizer.encode("hello")).strip() == "hello"
