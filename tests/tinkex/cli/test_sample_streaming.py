"""`tinkex sample` streaming, and the adapter over clients with the official sampling API."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cli_testkit import TINY, Done, ScriptedClients, ScriptedSampler, run

from tinkex import types
from tinkex.cli.context import SampleRequest
from tinkex.cli.sample import StreamPrinter
from tinkex.cli.sampler import ServiceSampler
from tinkex.tokenizer import get_tokenizer

TEXT = "Hello world, streaming text!"
REQUEST = SampleRequest(prompt_tokens=[1, 2], num_samples=1, max_tokens=5, temperature=0.5, seed=7)


def test_one_sample_streams_as_tokens_arrive() -> None:
    printed_before_each_token: list[str] = []

    def snapshot() -> None:
        sys.stdout.flush()
        buffer: Any = sys.stdout.buffer  # CliRunner's in-memory stdout
        printed_before_each_token.append(buffer.getvalue().decode())

    sampler = ScriptedSampler(TEXT, snapshot)

    result = run(["sample", "-m", TINY, "-p", "Hi", "--seed", "3"], ScriptedClients(sampler))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == TEXT + "\n"
    assert len(printed_before_each_token) == len(sampler.tokens)
    assert printed_before_each_token[0] == ""
    assert printed_before_each_token[-1]
    assert TEXT.startswith(printed_before_each_token[-1])
    (request,) = sampler.requests
    assert request.seed == 3
    assert request.max_tokens == 64
    assert list(request.prompt_tokens) == get_tokenizer(TINY).encode("Hi")


def test_no_stream_json_and_many_samples_print_the_whole_result() -> None:
    for extra in (["--no-stream"], ["--json"], ["-n", "2"]):
        sampler = ScriptedSampler(TEXT)
        gated: list[None] = []
        sampler.gate = lambda gated=gated: gated.append(None)

        result = run(["sample", "-m", TINY, "-p", "Hi", *extra], ScriptedClients(sampler))

        assert result.exit_code == 0, result.stderr
        assert gated == []
        if "--json" in extra:
            assert json.loads(result.stdout)["samples"][0]["text"] == TEXT
        else:
            assert "sample(s) from tinkex/tiny-llama" in result.stdout


def test_stream_printer_never_prints_half_a_character(capsys: Any) -> None:
    tokenizer = get_tokenizer(TINY)
    tokens = tokenizer.encode("naïve café ✓")
    printer = StreamPrinter(tokenizer)

    for token in tokens:
        printer(0, token)
        printer(1, token)  # other sequences are not streamed
        assert "\ufffd" not in capsys.readouterr().out
    printer.finish(types.SampledSequence(stop_reason="stop", tokens=tokens))

    assert "\ufffd" not in capsys.readouterr().out


def test_stream_printer_prints_the_final_text_when_it_disagrees(capsys: Any) -> None:
    tokenizer = get_tokenizer(TINY)
    printer = StreamPrinter(tokenizer)
    printer(0, tokenizer.encode("abc")[0])
    streamed = capsys.readouterr().out

    printer.finish(types.SampledSequence(stop_reason="stop", tokens=tokenizer.encode("xyz")))

    assert streamed
    assert capsys.readouterr().out == "\nxyz\n"


@dataclass
class FakeSamplingClient:
    calls: list[tuple[Any, int, Any]] = field(default_factory=list)

    def get_base_model(self) -> str:
        return TINY

    def sample(self, prompt: Any, num_samples: int, params: Any) -> Done:
        self.calls.append((prompt, num_samples, params))
        return Done(types.SampleResponse(sequences=[]))


@dataclass
class FakeStream:
    """Stands in for `tinkex.clients.streaming.SampleStream`: chunks, then `response`."""

    chunks: list[types.SampleStreamChunk]
    final: types.SampleResponse | None
    response: types.SampleResponse | None = None
    closed: bool = False

    def __enter__(self) -> FakeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def __iter__(self) -> Iterator[types.SampleStreamChunk]:
        yield from self.chunks
        self.response = self.final


@dataclass
class StreamingSamplingClient(FakeSamplingClient):
    stream: FakeStream | None = None

    def sample_stream(self, prompt: Any, num_samples: int, params: Any) -> FakeStream:
        self.calls.append((prompt, num_samples, params))
        assert self.stream is not None
        return self.stream


@dataclass
class FakeService:
    client: FakeSamplingClient
    opened: list[dict[str, str]] = field(default_factory=list)

    def create_sampling_client(self, **where: str) -> Done:
        self.opened.append(where)
        return Done(self.client)


def _chunk(index: int, *tokens: int) -> types.SampleStreamChunk:
    return types.SampleStreamChunk(sequence_index=index, tokens=list(tokens))


def test_service_sampler_opens_base_models_and_tinker_paths() -> None:
    service = FakeService(FakeSamplingClient())

    ServiceSampler.open(service, TINY, types, 5.0)
    sampler = ServiceSampler.open(service, "tinker://r/sampler_weights/s", types, 5.0)

    assert service.opened == [{"base_model": TINY}, {"model_path": "tinker://r/sampler_weights/s"}]
    assert sampler.base_model == TINY
    assert not sampler.streams


def test_service_sampler_builds_the_clients_request_types() -> None:
    client = FakeSamplingClient()
    sampler = ServiceSampler(client, TINY, types, 5.0)

    sampler.sample(REQUEST)

    ((prompt, count, params),) = client.calls
    assert prompt == types.ModelInput.from_ints([1, 2])
    assert count == 1
    assert params == types.SamplingParams(max_tokens=5, temperature=0.5, seed=7)


def test_service_sampler_streams_when_the_client_can() -> None:
    final = types.SampleResponse(
        sequences=[types.SampledSequence(stop_reason="length", tokens=[5, 6])]
    )
    stream = FakeStream([_chunk(0, 5), _chunk(1, 7), _chunk(0, 6, 8)], final)
    client = StreamingSamplingClient(stream=stream)
    sampler = ServiceSampler(client, TINY, types, 5.0)
    received: list[tuple[int, int]] = []

    response = sampler.sample(REQUEST, lambda index, token: received.append((index, token)))

    assert sampler.streams
    assert received == [(0, 5), (1, 7), (0, 6), (0, 8)]
    assert response is final
    assert stream.closed


def test_a_stream_without_its_final_response_is_an_error() -> None:
    client = StreamingSamplingClient(stream=FakeStream([_chunk(0, 5)], None))
    sampler = ServiceSampler(client, TINY, types, 5.0)

    with pytest.raises(RuntimeError, match="ended without its final response"):
        sampler.sample(REQUEST, lambda _index, _token: None)
