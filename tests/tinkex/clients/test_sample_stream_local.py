"""`SamplingClient.sample_stream` against the real embedded server: the stream adds up to
`sample` for the same seed, it iterates sync and async, and closing it stops the server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from typing import Any, ClassVar

import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

from tinkex import types
from tinkex.clients.sampling import SamplingClient
from tinkex.clients.service import ServiceClient
from tinkex.local.app import sampling_routes
from tinkex.local.config import DEFAULT_MODELS
from tinkex.local.engine import Sampler
from tinkex.local.engine.sampler import SampleStream, TokenStep
from tinkex.tokenizer import get_tokenizer

MODEL = DEFAULT_MODELS[0]
TOKENIZER = get_tokenizer(MODEL)
PROMPT = types.ModelInput.from_ints(
    TOKENIZER.encode("<|im_start|>user\nWhat is the capital of Peru?<|im_end|>\n")
)


@pytest.fixture(scope="module")
def sampler(local_server: str) -> Iterator[SamplingClient]:
    with ServiceClient(base_url=local_server, api_key="tml-local-test") as service:
        yield service.create_sampling_client(base_model=MODEL).result(60)


def _joined(chunks: list[types.SampleStreamChunk], count: int) -> list[dict[str, Any]]:
    """Each sequence's chunks joined: what `sample` returns for it, plus the streamed text."""
    joined: list[dict[str, Any]] = [
        {"tokens": [], "logprobs": [], "topk": [], "stop_reason": None, "text": ""}
        for _ in range(count)
    ]
    for chunk in chunks:
        sequence = joined[chunk.sequence_index]
        assert sequence["stop_reason"] is None, "a chunk came after the sequence's last one"
        sequence["tokens"] += chunk.tokens
        sequence["logprobs"] += chunk.logprobs or []
        sequence["topk"] += chunk.topk_logprobs or []
        sequence["stop_reason"] = chunk.stop_reason
        sequence["text"] += chunk.text_delta
    return joined


PARAMETER_SETS = {
    "greedy": (1, types.SamplingParams(max_tokens=12, temperature=0.0)),
    "seeded": (1, types.SamplingParams(max_tokens=16, temperature=0.9, seed=3, stop=[])),
    "stop string": (1, types.SamplingParams(max_tokens=20, temperature=0.0, stop=["Peru"])),
    "stop tokens": (
        1,
        types.SamplingParams(max_tokens=20, temperature=1.0, seed=1, stop=TOKENIZER.encode(" ")),
    ),
    "filtered batch": (
        3,
        types.SamplingParams(max_tokens=10, temperature=1.2, top_k=30, top_p=0.9, seed=7),
    ),
}


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_the_stream_adds_up_to_sample_for_the_same_seed(sampler: SamplingClient, name: str) -> None:
    num_samples, params = PARAMETER_SETS[name]

    with sampler.sample_stream(PROMPT, num_samples, params, topk_sample_logprobs=2) as stream:
        chunks = list(stream)
    sampled = sampler.sample(PROMPT, num_samples, params, topk_sample_logprobs=2).result(60)

    assert stream.response is not None
    joined = _joined(chunks, num_samples)
    for streamed, final, expected in zip(
        joined, stream.response.sequences, sampled.sequences, strict=True
    ):
        assert streamed["tokens"] == final.tokens == expected.tokens
        assert streamed["logprobs"] == final.logprobs == expected.logprobs
        assert streamed["topk"] == final.topk_logprobs == expected.topk_logprobs
        assert streamed["stop_reason"] == final.stop_reason == expected.stop_reason
        assert streamed["text"] == TOKENIZER.decode(expected.tokens)
        assert final.sequence_id
    if name == "stop string":
        assert joined[0]["stop_reason"] == "stop"
        assert joined[0]["text"].endswith("Peru")


@pytest.mark.anyio
async def test_async_iteration_with_prompt_logprobs(sampler: SamplingClient) -> None:
    params = types.SamplingParams(max_tokens=6, temperature=0.0)
    chunks = []
    async with sampler.sample_stream_async(
        PROMPT, 1, params, include_prompt_logprobs=True
    ) as stream:
        async for chunk in stream:
            chunks.append(chunk)

    sampled = await sampler.sample_async(PROMPT, 1, params, include_prompt_logprobs=True)
    assert stream.response is not None
    assert _joined(chunks, 1)[0]["tokens"] == sampled.sequences[0].tokens
    assert stream.response.prompt_logprobs == sampled.prompt_logprobs


class _Gated(Sampler):
    """Counts the tokens made server-side; after the first, waits for the route to cancel."""

    produced: ClassVar[list[int]]
    finished: ClassVar[threading.Event]

    def stream(self, *args: Any, **kwargs: Any) -> SampleStream:
        cancel: threading.Event = kwargs["cancelled"].__self__  # the route's flag
        inner = super().stream(*args, **kwargs)

        def gated() -> SampleStream:
            try:
                with closing(inner):
                    for event in inner:
                        yield event
                        if isinstance(event, TokenStep):
                            self.produced.append(event.token)
                            if len(self.produced) == 1:
                                cancel.wait(timeout=10)  # never set: every token gets made
            finally:
                self.finished.set()

        return gated()


def test_closing_the_stream_stops_generation_on_the_server(
    sampler: SamplingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Gated(_Gated):
        produced: ClassVar[list[int]] = []
        finished: ClassVar[threading.Event] = threading.Event()

    monkeypatch.setattr(sampling_routes, "Sampler", Gated)
    params = types.SamplingParams(max_tokens=100, temperature=1.0, seed=0, stop=[])

    with sampler.sample_stream(PROMPT, 1, params) as stream:
        first = next(stream)

    assert first.tokens
    assert Gated.finished.wait(timeout=30)
    assert len(Gated.produced) <= 2
    assert stream.response is None
    with pytest.raises(StopIteration):
        next(stream)
