"""Polling futures: `retrieve_future` (one request, long-poll) and `retrieve_futures`.

`retrieve_future` holds the poll up to `long_poll_s`, then answers `try_again` with the queue
state; the official client re-polls at once, so this bounds its 45 s timeout without busy
looping. An id never issued is 404 (fatal for the client); an expired one is 410 (resubmit).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tinkex.local.app.http import ApiError, guarded, json_response, parse_body, read_body
from tinkex.local.app.results import render_result, wants_protobuf
from tinkex.local.app.runtime import runtime_of
from tinkex.local.app.sampling_routes import futures_group
from tinkex.local.futures import Failure, FutureExpired, FutureNotFound, Pending
from tinkex.types import (
    FutureFailed,
    FutureFinished,
    FutureRetrieveRequest,
    FuturesRetrieveRequest,
    FuturesRetrieveResponse,
    TryAgainResponse,
)

__all__ = ["routes"]


async def retrieve_future(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, FutureRetrieveRequest, runtime.config.max_body_bytes)
    try:
        outcome = await runtime.registry.wait(body.request_id, runtime.config.long_poll_s)
    except FutureExpired as exc:
        raise ApiError(410, str(exc), "request_id") from None
    except FutureNotFound as exc:
        raise ApiError(404, str(exc), "request_id") from None
    if isinstance(outcome, Pending):
        state = runtime.queue.state_of(body.request_id)
        return json_response(TryAgainResponse(request_id=body.request_id, queue_state=state.value))
    if isinstance(outcome, Failure):
        return json_response(outcome.to_wire())
    return render_result(outcome, protobuf_ok=wants_protobuf(request.headers.get("accept")))


async def retrieve_futures(request: Request) -> Response:
    """Completions of one sampling session (and clone) after the client's cursor."""
    runtime = runtime_of(request)
    body = await parse_body(request, FuturesRetrieveRequest, runtime.config.max_body_bytes)
    limit = runtime.config.long_poll_s
    timeout = limit if body.timeout is None else min(max(body.timeout, 0.0), limit)
    completions, cursor = await runtime.registry.wait_completions(
        futures_group(body.target.sampling_session_id, body.target.cloned_sampler_id),
        prev_cursor=body.prev_cursor,
        timeout_s=timeout,
        retrieved=body.retrieved_request_ids,
    )
    return json_response(
        FuturesRetrieveResponse(
            completions=[
                FutureFinished(
                    request_id=c.request_id,
                    response_payload_uncompressed_size=c.response_payload_uncompressed_size,
                )
                if c.state == "finished"
                else FutureFailed(request_id=c.request_id)
                for c in completions
            ],
            cursor=cursor,
        )
    )


async def cancel_future(request: Request) -> Response:
    """Accepted and ignored: local samples are short, and their results expire anyway."""
    await read_body(request, runtime_of(request).config.max_body_bytes)
    return json_response({})


routes = [
    Route("/retrieve_future", guarded(retrieve_future), methods=["POST"]),
    Route("/retrieve_futures", guarded(retrieve_futures), methods=["POST"]),
    Route("/cancel_future", guarded(cancel_future), methods=["POST"]),
]
