"""`SamplingClient.sample_stream` against scripted servers: the fallback for servers without
the endpoint, error and idle-timeout handling, and UTF-8-safe incremental text."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from fake_tinker import BASE_MODEL, FakeTinker
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pristine.errors import APIResponseValidationError, APITimeoutError, BadRequestError
from pristine.futures import RequestFailedError
from tinkex import types
from tinkex.clients.sampling import SamplingClient
from tinkex.clients.service import ServiceClient
from tinkex.clients.streaming import IncrementalText
from tinkex.tokenizer import get_tokenizer

PROMPT = types.ModelInput.from_ints([5, 6, 7])
PARAMS = types.SamplingParams(max_tokens=3, seed=1)
STREAM_PATH = "/api/v1/sample_stream"


@pytest.fixture
def sampler(service_client: ServiceClient) -> SamplingClient:
    return service_client.create_sampling_client(base_model=BASE_MODEL).result(30)


def _stream_requests(httpserver: HTTPServer) -> int:
    return sum(1 for request, _ in httpserver.log if request.path == STREAM_PATH)


@pytest.mark.parametrize("status", [404, 405, 501])
def test_a_server_without_streaming_is_sampled_and_replayed_per_sequence(
    sampler: SamplingClient, fake_tinker: FakeTinker, httpserver: HTTPServer, status: int
) -> None:
    httpserver.expect_request(STREAM_PATH).respond_with_data("no such route", status=status)

    with sampler.sample_stream(PROMPT, 2, PARAMS) as stream:
        chunks = list(stream)
    again = list(sampler.sample_stream(PROMPT, 1, PARAMS))

    assert [(c.sequence_index, c.tokens, c.stop_reason) for c in chunks] == [
        (0, [7, 6, 5], "length"),
        (1, [7, 6, 5], "length"),
    ]
    assert chunks[0].logprobs == [-0.5] * 3
    assert chunks[0].text_delta is None  # no tokenizer for this model here
    assert stream.response is not None
    assert [s.sequence_id for s in stream.response.sequences] == ["req-1-0", "req-1-1"]
    assert len(again) == 1
    assert _stream_requests(httpserver) == 1  # the second stream went straight to asample
    assert len(fake_tinker.bodies("asample")) == 2


def test_other_errors_are_raised_not_replayed(
    sampler: SamplingClient, fake_tinker: FakeTinker, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(STREAM_PATH).respond_with_json({"detail": "bad prompt"}, status=400)

    with pytest.raises(BadRequestError):
        list(sampler.sample_stream(PROMPT, 1, PARAMS))
    assert fake_tinker.bodies("asample") == []


def _sse(*events: tuple[str, object]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def _serve_events(httpserver: HTTPServer, text: str) -> None:
    httpserver.expect_request(STREAM_PATH).respond_with_data(text, content_type="text/event-stream")


def test_chunks_come_from_tokens_events_and_the_response_from_done(
    sampler: SamplingClient, httpserver: HTTPServer
) -> None:
    done = {"sequences": [{"tokens": [1, 2], "stop_reason": "stop", "sequence_id": "r-0"}]}
    _serve_events(
        httpserver,
        _sse(
            ("tokens", {"sequence_index": 0, "tokens": [1], "logprobs": [-0.1]}),
            ("tokens", {"sequence_index": 0, "tokens": [2], "stop_reason": "stop"}),
            ("done", done),
        ),
    )

    stream = sampler.sample_stream(PROMPT, 1, PARAMS)
    chunks = list(stream)

    assert [(c.tokens, c.logprobs, c.stop_reason) for c in chunks] == [
        ([1], [-0.1], None),
        ([2], None, "stop"),
    ]
    assert stream.response == types.SampleResponse.model_validate(done)
    (request,) = [r for r, _ in httpserver.log if r.path == STREAM_PATH]
    body = json.loads(request.data)
    assert body["sampling_session_id"] == sampler.sampling_session_id
    assert isinstance(body["seq_id"], int)


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        (
            _sse(("error", {"error": "max_tokens too large", "category": "user"})),
            RequestFailedError,
            "max_tokens too large",
        ),
        (
            _sse(("tokens", {"sequence_index": 0, "tokens": [1]})),
            APIResponseValidationError,
            "done",
        ),
        (_sse(("surprise", {})), APIResponseValidationError, "unknown event 'surprise'"),
    ],
)
def test_broken_streams_raise_clear_errors(
    sampler: SamplingClient,
    httpserver: HTTPServer,
    text: str,
    error: type[Exception],
    match: str,
) -> None:
    _serve_events(httpserver, text)

    with pytest.raises(error, match=match):
        list(sampler.sample_stream(PROMPT, 1, PARAMS))


@pytest.fixture
def silent_server(httpserver: HTTPServer) -> Iterator[threading.Event]:
    """A sample_stream route that says nothing until the test ends."""
    release = threading.Event()

    def hold(_request: Request) -> Response:
        release.wait(timeout=30)
        return Response("", content_type="text/event-stream")

    httpserver.expect_request(STREAM_PATH).respond_with_handler(hold)
    yield release
    release.set()


def test_an_idle_stream_times_out(sampler: SamplingClient, silent_server: threading.Event) -> None:
    with pytest.raises(APITimeoutError, match=r"nothing arrived for 0\.2 s"):
        list(sampler.sample_stream(PROMPT, 1, PARAMS, idle_timeout_s=0.2))


def test_bad_arguments_fail_before_any_request(sampler: SamplingClient) -> None:
    with pytest.raises(ValueError, match="num_samples"):
        sampler.sample_stream(PROMPT, 0, PARAMS)
    with pytest.raises(ValueError, match="idle_timeout_s"):
        sampler.sample_stream(PROMPT, 1, PARAMS, idle_timeout_s=0)


TEXT = "naïve café ✓ 日本語 🎉 ok"


def test_incremental_text_never_splits_a_character() -> None:
    tokenizer = get_tokenizer("tinkex/tiny-llama")
    ids = tokenizer.encode(TEXT)
    assert any("\ufffd" in tokenizer.decode([token]) for token in ids)  # bytes do get split

    text = IncrementalText(tokenizer, context=tokenizer.encode("Say:"))
    deltas = [text.push([token]) for token in ids]

    assert all("\ufffd" not in delta for delta in deltas)
    assert "".join(deltas) + text.finish() == TEXT
    assert "" in deltas  # some tokens only completed a character later


def test_incremental_text_flushes_a_broken_character_at_the_end() -> None:
    tokenizer = get_tokenizer("tinkex/tiny-llama")
    ids = tokenizer.encode("✓")
    text = IncrementalText(tokenizer)

    assert text.push(ids[:-1]) == ""
    assert text.finish() == tokenizer.decode(ids[:-1])
    assert "\ufffd" in tokenizer.decode(ids[:-1])
