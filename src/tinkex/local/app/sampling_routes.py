"""Sampling: sampling sessions and `asample` (which also serves `compute_logprobs`).

`sample_stream` (a tinkex extension, docs/protocol.md §1.5) answers the same request as
Server-Sent Events while the tokens are generated. Samples run concurrently in the queue's
sampling pool; a repeated `(sampling_session_id, seq_id)` on `asample` returns the first
request's id, so a retried submission never samples twice.
"""

from __future__ import annotations

import math
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass

import anyio
import anyio.from_thread
import numpy as np
import orjson
from anyio.lowlevel import EventLoopToken, current_token
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tinkex.local.app.access import readable_checkpoint
from tinkex.local.app.convert import prompt_tokens, sample_response, sampling_config
from tinkex.local.app.http import ApiError, guarded, json_response, parse_body
from tinkex.local.app.results import proto_result
from tinkex.local.app.runtime import Runtime, owner_of_request, runtime_of
from tinkex.local.app.work import future_response, user_errors
from tinkex.local.engine import Sampler
from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.sampler import (
    SampleEvent,
    SamplerOutput,
    SampleStream,
    TokenStep,
    check_target_ids,
    collect,
)
from tinkex.local.futures import MAX_WAIT_SECONDS, ErrorCategory, Failure, Pending, RequestFailed
from tinkex.local.futures import Result as FutureResult
from tinkex.proto import decode_sample_response
from tinkex.types import (
    CreateSamplingSessionRequest,
    CreateSamplingSessionResponse,
    JoinSamplingSessionRequest,
    JoinSamplingSessionResponse,
    PromptAltTokens,
    SampleRequest,
    SampleResponse,
    TensorData,
)

__all__ = ["CLONE_STRIDE", "futures_group", "routes"]

CLONE_STRIDE = 1_000_000_000
"""The official client numbers a cloned sampling client's samples from `clone_id * stride`."""

CLIENT_GONE = "the client closed the stream, so sampling stopped early"

RECORD_WAIT_S = 30.0
"""How long a finished `record_stability_info` sample waits for its sequence ids."""


def futures_group(sampling_session_id: str, clone_id: int) -> str:
    """The `retrieve_futures` target that reports a sample's completion."""
    return f"{sampling_session_id}#{clone_id}"


async def create_sampling_session(request: Request) -> Response:
    """A sampler over a base model or saved weights; a retried request gets the same id."""
    runtime = runtime_of(request)
    body = await parse_body(request, CreateSamplingSessionRequest, runtime.config.max_body_bytes)
    store = runtime.store
    store.sessions.get(body.session_id)
    existing = store.samplers.find(body.session_id, body.sampling_session_seq_id)
    if existing is not None:
        return json_response(CreateSamplingSessionResponse(sampling_session_id=existing.sampler_id))
    if body.model_path is not None:
        checkpoint = readable_checkpoint(store, owner_of_request(request), body.model_path)
        base_model = body.base_model or store.runs.get(checkpoint.model_id).base_model
    elif body.base_model is not None:
        base_model = body.base_model
    else:
        raise ApiError(400, "base_model: pass a base_model or a model_path", "base_model")
    runtime.workbench.check_model(base_model)
    sampler_id = f"{body.session_id}:sample:{body.sampling_session_seq_id}"
    store.samplers.create(
        sampler_id,
        session_id=body.session_id,
        base_model=base_model,
        sampling_session_seq_id=body.sampling_session_seq_id,
        model_path=body.model_path,
    )
    return json_response(CreateSamplingSessionResponse(sampling_session_id=sampler_id))


async def join_sampling_session(request: Request) -> Response:
    """Unpickled clients sample with random clone ids; nothing to allocate locally."""
    runtime = runtime_of(request)
    body = await parse_body(request, JoinSamplingSessionRequest, runtime.config.max_body_bytes)
    runtime.store.samplers.get(body.sampling_session_id)
    return json_response(JoinSamplingSessionResponse(client_counter=0))


async def asample(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, SampleRequest, runtime.config.max_body_bytes)
    job = _SampleJob.check(runtime, owner_of_request(request), body)

    sequence_ids: Future[list[str]] = Future()  # known once queued; work may start before

    def work() -> FutureResult:
        return job.finish(collect(job.open(_never), body.num_samples), sequence_ids)

    request_id = runtime.queue.submit_sampling(
        "sample", user_errors(work), dedup_key=job.dedup_key, group=job.group
    )
    sequence_ids.set_result(_sequence_ids(request_id, body))
    return future_response(request_id, sample_sequence_ids=sequence_ids.result())


async def sample_stream(request: Request) -> Response:
    """The tinkex extension: the sample as Server-Sent Events while it is generated.

    Events (docs/protocol.md §1.5): `tokens` `{sequence_index, tokens, logprobs,
    topk_logprobs?, stop_reason?}` for each token or group of tokens sent together, the last
    group of a sequence carrying its stop reason; then `done` with the whole `SampleResponse`,
    or `error` `{error, category, request_id}`. Bad input (found by the prefill, which also
    computes the prompt-level fields of `done`) is a plain 4xx before the first token. When
    the client goes away, generation stops before its next token.
    """
    runtime = runtime_of(request)
    body = await parse_body(request, SampleRequest, runtime.config.max_body_bytes)
    job = _SampleJob.check(runtime, owner_of_request(request), body)
    send, receive = anyio.create_memory_object_stream[SampleEvent](math.inf)
    cancel = threading.Event()
    sequence_ids: Future[list[str]] = Future()
    try:
        request_id = runtime.queue.submit_sampling(
            "sample_stream",
            user_errors(_streaming_work(job, send, cancel, sequence_ids, current_token())),
        )
        sequence_ids.set_result(_sequence_ids(request_id, body))
        first = await receive.receive()
    except anyio.EndOfStream:
        receive.close()
        outcome = await _outcome(runtime, request_id)
        assert isinstance(outcome, Failure)  # a finished sample always reports its prefill
        status = 400 if outcome.category == ErrorCategory.USER else 500
        raise ApiError(status, outcome.message) from None
    except BaseException:  # not queued, or the client left during the prefill
        send.close()
        receive.close()
        raise
    return StreamingResponse(
        _events(runtime, request_id, [first], receive, cancel, sequence_ids.result()),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


def _never() -> bool:
    return False


def _streaming_work(
    job: _SampleJob,
    send: MemoryObjectSendStream[SampleEvent],
    cancel: threading.Event,
    sequence_ids: Future[list[str]],
    loop: EventLoopToken,
) -> Callable[[], FutureResult]:
    """Work that hands each event to the route (on `loop`) as it is made, stopping once
    `cancel` is set."""

    def relay(events: SampleStream) -> SampleStream:
        with closing(events):
            for event in events:
                try:
                    anyio.from_thread.run_sync(send.send_nowait, event, token=loop)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    cancel.set()
                yield event

    def work() -> FutureResult:
        try:
            output = collect(relay(job.open(cancel.is_set)), job.body.num_samples)
        finally:
            anyio.from_thread.run_sync(send.close, token=loop)
        if cancel.is_set():
            raise RequestFailed(CLIENT_GONE, ErrorCategory.USER)
        return job.finish(output, sequence_ids)

    return work


async def _events(
    runtime: Runtime,
    request_id: str,
    pending: list[SampleEvent],
    receive: MemoryObjectReceiveStream[SampleEvent],
    cancel: threading.Event,
    sequence_ids: list[str],
) -> AsyncIterator[bytes]:
    """Token events as they come (all that is waiting goes out together), then the outcome."""
    try:
        with receive:
            while True:
                for group in _groups(pending):
                    yield _event("tokens", group)
                try:
                    pending = [await receive.receive()]
                except anyio.EndOfStream:
                    break
                pending.extend(_waiting(receive))
        outcome = await _outcome(runtime, request_id)
        if isinstance(outcome, Failure):
            yield _event("error", {**outcome.to_wire(), "request_id": request_id})
            return
        assert isinstance(outcome.body, bytes)
        response = decode_sample_response(outcome.body)
        done = response.model_copy(
            update={
                "sequences": [
                    sequence.model_copy(update={"sequence_id": sequence_id})
                    for sequence, sequence_id in zip(response.sequences, sequence_ids, strict=True)
                ]
            }
        )
        yield _event("done", done.model_dump(mode="json", exclude_none=True))
    finally:
        cancel.set()


def _waiting(receive: MemoryObjectReceiveStream[SampleEvent]) -> list[SampleEvent]:
    events: list[SampleEvent] = []
    while True:
        try:
            events.append(receive.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream):
            return events


def _groups(events: list[SampleEvent]) -> list[dict[str, object]]:
    """One `tokens` event per sequence among `events`, tokens in order."""
    groups: dict[int, dict[str, list[object]]] = {}
    reasons: dict[int, str] = {}
    for event in events:
        if not isinstance(event, TokenStep):
            continue  # the prompt scores travel in the final response
        group = groups.setdefault(event.sequence_index, {"tokens": [], "logprobs": []})
        group["tokens"].append(event.token)
        group["logprobs"].append(event.logprob)
        if event.topk_logprobs is not None:
            group.setdefault("topk_logprobs", []).append(event.topk_logprobs)
        if event.stop_reason is not None:
            reasons[event.sequence_index] = event.stop_reason
    return [
        {"sequence_index": index, **group}
        | ({"stop_reason": reasons[index]} if index in reasons else {})
        for index, group in groups.items()
    ]


async def _outcome(runtime: Runtime, request_id: str) -> FutureResult | Failure:
    outcome = await runtime.registry.wait(request_id, MAX_WAIT_SECONDS)
    while isinstance(outcome, Pending):
        outcome = await runtime.registry.wait(request_id, MAX_WAIT_SECONDS)
    return outcome


def _event(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _sequence_ids(request_id: str, body: SampleRequest) -> list[str]:
    """The ids the client stamps on the sequences, in order (`sample_sequence_ids`)."""
    return [f"{request_id}-{i}" for i in range(body.num_samples)]


@dataclass(frozen=True)
class _SampleJob:
    """A checked sample request: what to sample from, how, and how to answer."""

    runtime: Runtime
    body: SampleRequest
    tokens: list[int]
    target_ids: np.ndarray | None

    @classmethod
    def check(cls, runtime: Runtime, owner: str, body: SampleRequest) -> _SampleJob:
        """Refuse bad input with a 4xx before anything is queued."""
        _refuse_unsupported(body)
        tokens = prompt_tokens(body.prompt, "prompt")
        target_ids = _target_ids(body.target_prompt_logprobs, len(tokens))
        if body.sampling_session_id is not None:
            runtime.store.samplers.get(body.sampling_session_id)
        elif body.model_path is not None:
            readable_checkpoint(runtime.store, owner, body.model_path)
        elif body.base_model is not None:
            runtime.workbench.check_model(body.base_model)
        else:
            raise ApiError(
                400,
                "sampling_session_id: missing; pass a sampling_session_id (or, as older "
                "clients do, a model_path or base_model)",
                "sampling_session_id",
            )
        return cls(runtime, body, tokens, target_ids)

    @property
    def dedup_key(self) -> tuple[str, int] | None:
        session_id, seq_id = self.body.sampling_session_id, self.body.seq_id
        return None if session_id is None or seq_id is None else (session_id, seq_id)

    @property
    def group(self) -> str | None:
        session_id = self.body.sampling_session_id
        if session_id is None:
            return None
        return futures_group(session_id, (self.body.seq_id or 0) // CLONE_STRIDE)

    def open(self, cancelled: Callable[[], bool]) -> SampleStream:
        """Start sampling (in a worker thread: it may load a model)."""
        body, workbench = self.body, self.runtime.workbench
        if body.sampling_session_id is not None:
            host, adapter = workbench.sampler(body.sampling_session_id)
        elif body.model_path is not None:
            host, adapter = workbench.path_sampler(body.model_path)
        else:
            host, adapter = workbench.host(body.base_model or ""), None
        return Sampler(host).stream(
            self.tokens,
            sampling_config(body.sampling_params),
            adapter=adapter,
            num_samples=body.num_samples,
            prompt_logprobs=bool(body.prompt_logprobs),
            topk_prompt_logprobs=body.topk_prompt_logprobs,
            topk_sample_logprobs=body.topk_sample_logprobs,
            prompt_alt_tokens_k=body.prompt_alt_tokens_k,
            target_prompt_ids=self.target_ids,
            cancelled=cancelled,
        )

    def finish(self, output: SamplerOutput, sequence_ids: Future[list[str]]) -> FutureResult:
        """The sample's result; its sequences recorded under their ids when the request asked
        for stability info (ids known once queued, so this may wait for them)."""
        if self.body.record_stability_info:
            self.runtime.sequences.record(sequence_ids.result(RECORD_WAIT_S), output.sequences)
        return proto_result(self.response(output))

    def response(self, output: SamplerOutput) -> SampleResponse:
        """The engine's output as the wire `SampleResponse`."""
        response = sample_response(output, last_n=self.body.prompt_logprobs_last_n)
        update: dict[str, object] = {}
        if self.body.topk_sample_logprobs:
            update["sequences"] = [
                wire.model_copy(update={"topk_logprobs": getattr(engine, "topk_logprobs", None)})
                for wire, engine in zip(response.sequences, output.sequences, strict=True)
            ]
        alt = output.prompt_alt_tokens
        if alt is not None:
            update["prompt_alt_tokens"] = PromptAltTokens(
                tokens=TensorData.from_numpy(alt.tokens),
                logprobs=TensorData.from_numpy(alt.logprobs),
            )
        targets = self.body.target_prompt_logprobs
        if targets is not None and output.target_prompt_logprobs is not None:
            update["target_prompt_logprobs"] = _in_layout_of(targets, output.target_prompt_logprobs)
        return response.model_copy(update=update) if update else response


def _refuse_unsupported(body: SampleRequest) -> None:
    if body.num_samples < 1:
        raise ApiError(400, f"num_samples: must be >= 1, got {body.num_samples}", "num_samples")
    for name in ("topk_prompt_logprobs", "topk_sample_logprobs", "prompt_alt_tokens_k"):
        value = getattr(body, name)
        if value < 0:
            raise ApiError(400, f"{name}: must be 0 or greater, got {value}", name)


def _target_ids(targets: TensorData | None, prompt_length: int) -> np.ndarray | None:
    """The requested ids as a dense array (`-1` in every cell a sparse tensor leaves out),
    checked but for the vocabulary, which the engine checks once the model is loaded."""
    if targets is None:
        return None
    ids = targets.to_numpy(pad_value=-1)
    try:
        check_target_ids(ids, prompt_length)
    except UserInputError as exc:
        raise ApiError(400, str(exc), "target_prompt_logprobs") from None
    return ids


def _in_layout_of(targets: TensorData, logprobs: np.ndarray) -> TensorData:
    """The engine's dense logprobs in the request's layout: the same CSR cells when sparse."""
    if targets.sparse_crow_indices is None:
        return TensorData.from_numpy(logprobs)
    assert targets.sparse_col_indices is not None
    rows = np.repeat(np.arange(logprobs.shape[0]), np.diff(targets.sparse_crow_indices))
    return TensorData(
        data=logprobs[rows, np.asarray(targets.sparse_col_indices, dtype=np.int64)],
        dtype="float32",
        shape=list(logprobs.shape),
        sparse_crow_indices=targets.sparse_crow_indices,
        sparse_col_indices=targets.sparse_col_indices,
    )


routes = [
    Route("/create_sampling_session", guarded(create_sampling_session), methods=["POST"]),
    Route("/join_sampling_session", guarded(join_sampling_session), methods=["POST"]),
    Route("/asample", guarded(asample), methods=["POST"]),
    Route("/sample_stream", guarded(sample_stream), methods=["POST"]),
]
