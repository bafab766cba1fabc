"""Sampling: sampling sessions and `asample` (which also serves `compute_logprobs`).

`sample_stream` (a tinkex extension) answers the same request as Server-Sent Events.
Samples run concurrently in the queue's sampling pool; a repeated `(sampling_session_id,
seq_id)` returns the first request's id, so a retried submission never samples twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
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
from tinkex.local.futures import MAX_WAIT_SECONDS, Failure, Pending, Result
from tinkex.proto import decode_sample_response
from tinkex.types import (
    CreateSamplingSessionRequest,
    CreateSamplingSessionResponse,
    JoinSamplingSessionRequest,
    JoinSamplingSessionResponse,
    SampleRequest,
)

__all__ = ["CLONE_STRIDE", "futures_group", "routes"]

CLONE_STRIDE = 1_000_000_000
"""The official client numbers a cloned sampling client's samples from `clone_id * stride`."""


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
    request_id = _submit_sample(runtime, owner_of_request(request), body)
    return future_response(request_id, sample_sequence_ids=_sequence_ids(request_id, body))


async def sample_stream(request: Request) -> Response:
    """The tinkex extension (docs/protocol.md §1.5): the sample as Server-Sent Events.

    Local samples are short, so the events follow the finished sample: one `token` event
    per sampled token, then `done` with the whole `SampleResponse`, or `error`.
    """
    runtime = runtime_of(request)
    body = await parse_body(request, SampleRequest, runtime.config.max_body_bytes)
    request_id = _submit_sample(runtime, owner_of_request(request), body)
    return StreamingResponse(
        _events(runtime, request_id, _sequence_ids(request_id, body)),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


async def _events(
    runtime: Runtime, request_id: str, sequence_ids: list[str]
) -> AsyncIterator[bytes]:
    outcome = await runtime.registry.wait(request_id, MAX_WAIT_SECONDS)
    while isinstance(outcome, Pending):
        outcome = await runtime.registry.wait(request_id, MAX_WAIT_SECONDS)
    if isinstance(outcome, Failure):
        yield _event("error", outcome.to_wire())
        return
    assert isinstance(outcome.body, bytes)
    response = decode_sample_response(outcome.body)
    for index, sequence in enumerate(response.sequences):
        logprobs: list[float | None] = [None] * len(sequence.tokens)
        if sequence.logprobs is not None:
            logprobs = list(sequence.logprobs)
        for token, logprob in zip(sequence.tokens, logprobs, strict=True):
            yield _event("token", {"sequence_index": index, "token": token, "logprob": logprob})
    done = response.model_copy(
        update={
            "sequences": [
                sequence.model_copy(update={"sequence_id": sequence_id})
                for sequence, sequence_id in zip(response.sequences, sequence_ids, strict=True)
            ]
        }
    )
    yield _event("done", done.model_dump(mode="json", exclude_none=True))


def _event(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _sequence_ids(request_id: str, body: SampleRequest) -> list[str]:
    """The ids the client stamps on the sequences, in order (`sample_sequence_ids`)."""
    return [f"{request_id}-{i}" for i in range(body.num_samples)]


def _submit_sample(runtime: Runtime, owner: str, body: SampleRequest) -> str:
    """Queue a sample; a repeated `(sampling_session_id, seq_id)` gets the first id."""
    _refuse_unsupported(body)
    tokens = prompt_tokens(body.prompt, "prompt")
    config = sampling_config(body.sampling_params)
    session_id, model_path, base_model = body.sampling_session_id, body.model_path, body.base_model
    if session_id is not None:
        runtime.store.samplers.get(session_id)
    elif model_path is not None:
        readable_checkpoint(runtime.store, owner, model_path)
    elif base_model is not None:
        runtime.workbench.check_model(base_model)
    else:
        raise ApiError(
            400,
            "sampling_session_id: missing; pass a sampling_session_id (or, as older clients "
            "do, a model_path or base_model)",
            "sampling_session_id",
        )

    def work() -> Result:
        workbench = runtime.workbench
        if session_id is not None:
            host, adapter = workbench.sampler(session_id)
        elif model_path is not None:
            host, adapter = workbench.path_sampler(model_path)
        else:
            host, adapter = workbench.host(base_model or ""), None
        result = Sampler(host).sample(
            tokens,
            config,
            adapter=adapter,
            num_samples=body.num_samples,
            prompt_logprobs=bool(body.prompt_logprobs),
            topk_prompt_logprobs=body.topk_prompt_logprobs,
        )
        return proto_result(sample_response(result, last_n=body.prompt_logprobs_last_n))

    dedup = None if session_id is None or body.seq_id is None else (session_id, body.seq_id)
    group = None
    if session_id is not None:
        group = futures_group(session_id, (body.seq_id or 0) // CLONE_STRIDE)
    return runtime.queue.submit_sampling("sample", user_errors(work), dedup_key=dedup, group=group)


def _refuse_unsupported(body: SampleRequest) -> None:
    if body.num_samples < 1:
        raise ApiError(400, f"num_samples: must be >= 1, got {body.num_samples}", "num_samples")
    unsupported = {
        "topk_sample_logprobs": body.topk_sample_logprobs > 0,
        "target_prompt_logprobs": body.target_prompt_logprobs is not None,
        "prompt_alt_tokens_k": body.prompt_alt_tokens_k > 0,
    }
    for name, asked in unsupported.items():
        if asked:
            raise ApiError(400, f"{name}: not supported by tinkex.local; leave it unset", name)


routes = [
    Route("/create_sampling_session", guarded(create_sampling_session), methods=["POST"]),
    Route("/join_sampling_session", guarded(join_sampling_session), methods=["POST"]),
    Route("/asample", guarded(asample), methods=["POST"]),
    Route("/sample_stream", guarded(sample_stream), methods=["POST"]),
]
