"""`POST /sample_stream` over raw HTTP: the event format, errors, and stopping when the client
goes away."""

from __future__ import annotations

import json
import threading
from contextlib import closing
from typing import Any, ClassVar

import pytest
from server_testkit import TINY, TOKENS, Api

from tinkex.local.app import sampling_routes
from tinkex.local.engine import Sampler
from tinkex.local.engine.sampler import SampleStream, TokenStep

Event = tuple[str, Any]


def _body(**params: object) -> dict[str, object]:
    return {
        "base_model": TINY,
        "num_samples": 1,
        "prompt": {"chunks": [{"type": "encoded_text", "tokens": TOKENS[:4]}]},
        "sampling_params": {"max_tokens": 6, "seed": 5, "temperature": 1.0, "stop": [], **params},
        "prompt_logprobs": True,
    }


def _parse(text: str) -> list[Event]:
    events = []
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def _stream(api: Api, body: dict[str, object]) -> list[Event]:
    with api.http.stream("POST", "/sample_stream", json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return _parse(response.read().decode())


def test_tokens_arrive_in_groups_that_add_up_to_the_final_response(api: Api) -> None:
    body = _body()
    body["num_samples"] = 2

    events = _stream(api, body)

    names = [name for name, _ in events]
    assert names == ["tokens"] * (len(names) - 1) + ["done"]
    done = events[-1][1]
    for index, sequence in enumerate(done["sequences"]):
        groups = [data for name, data in events[:-1] if data["sequence_index"] == index]
        assert [t for g in groups for t in g["tokens"]] == sequence["tokens"]
        assert [lp for g in groups for lp in g["logprobs"]] == sequence["logprobs"]
        assert [g.get("stop_reason") for g in groups] == [None] * (len(groups) - 1) + ["length"]
        assert sequence["stop_reason"] == "length"
        assert sequence["sequence_id"].endswith(f"-{index}")
    assert done["prompt_logprobs"][0] is None


def test_the_stream_equals_asample_for_the_same_seed(api: Api) -> None:
    body = _body(temperature=0.7, top_k=20)
    body["topk_sample_logprobs"] = 2

    streamed = _stream(api, body)[-1][1]
    sampled = api.result(api.ok("/asample", body)["request_id"])

    assert streamed["sequences"][0]["tokens"] == sampled["sequences"][0]["tokens"]
    assert streamed["sequences"][0]["logprobs"] == sampled["sequences"][0]["logprobs"]
    assert streamed["sequences"][0]["topk_logprobs"] == sampled["sequences"][0]["topk_logprobs"]
    assert streamed["prompt_logprobs"] == sampled["prompt_logprobs"]


def test_bad_input_found_before_the_first_token_is_a_400(api: Api) -> None:
    with api.http.stream("POST", "/sample_stream", json=_body(max_tokens=10_000)) as response:
        assert response.status_code == 400
        assert "max_tokens" in json.loads(response.read())["detail"]
    missing = {**_body(), "base_model": None}
    assert api.post("/sample_stream", missing).status_code == 400


def test_a_failure_during_generation_is_an_error_event(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Failing(Sampler):
        def stream(self, *args: Any, **kwargs: Any) -> SampleStream:
            def broken() -> SampleStream:
                with closing(super(Failing, self).stream(*args, **kwargs)) as events:
                    yield next(events)
                    yield next(events)
                    raise RuntimeError("the GPU caught fire")

            return broken()

    monkeypatch.setattr(sampling_routes, "Sampler", Failing)

    events = _stream(api, _body())

    assert [name for name, _ in events] == ["tokens", "error"]
    assert events[-1][1]["category"] == "server"
    assert "GPU caught fire" in events[-1][1]["error"]


class _Gated(Sampler):
    """Counts tokens made server-side; after the first, holds until the route cancels."""

    produced: ClassVar[list[int]]
    finished: ClassVar[threading.Event]

    def stream(self, *args: Any, **kwargs: Any) -> SampleStream:
        cancelled = kwargs["cancelled"]
        inner = super().stream(*args, **kwargs)

        def gated() -> SampleStream:
            try:
                with closing(inner):
                    for event in inner:
                        if isinstance(event, TokenStep):
                            self.produced.append(event.token)
                            if len(self.produced) == 1:
                                yield event
                                _wait_until(cancelled)
                                continue
                        yield event
            finally:
                self.finished.set()

        return gated()


def _wait_until(condition: Any) -> None:
    """Wait (on an event, no sleep) for the route's cancel flag, a bound `Event.is_set`; if it
    never comes, generation goes on and the test sees every token made."""
    flag: threading.Event = condition.__self__
    flag.wait(timeout=10)


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> type[_Gated]:
    class Gated(_Gated):
        produced: ClassVar[list[int]] = []
        finished: ClassVar[threading.Event] = threading.Event()

    monkeypatch.setattr(sampling_routes, "Sampler", Gated)
    return Gated


def test_closing_the_stream_early_stops_generation(api: Api, gated: type[_Gated]) -> None:
    body = _body(max_tokens=200)

    with api.http.stream("POST", "/sample_stream", json=body) as response:
        first = next(response.iter_text())
        assert first.startswith("event: tokens")
    # Leaving the block closed the connection before the sample finished.

    assert gated.finished.wait(timeout=30)
    assert len(gated.produced) < 200
    assert len(gated.produced) <= 2  # the token in flight when the flag was seen, at most
