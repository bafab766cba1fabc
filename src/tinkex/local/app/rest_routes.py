"""The REST surface: training runs, checkpoints (list, delete, publish, TTL), sessions,
samplers and weights info (downloads are in `export_routes`).

Checkpoint ids in paths are the two segments of the tinker path (`weights/<name>`), sent
with the slash unescaped by the official client, hence the `{kind}/{name}` routes. Listings
use offset pagination with the official `Cursor`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tinkex.local.app.access import owned_run, readable_checkpoint
from tinkex.local.app.http import ApiError, guarded, json_response, parse_body
from tinkex.local.app.runtime import Runtime, owner_of_request, runtime_of
from tinkex.local.store import (
    CheckpointRecord,
    NotFoundError,
    RunRecord,
    TinkerPath,
)
from tinkex.local.store.names import checkpoint_kind_for_segment
from tinkex.types import (
    Checkpoint,
    CheckpointsListResponse,
    Cursor,
    GetSamplerResponse,
    GetSessionResponse,
    ListSessionsResponse,
    SetCheckpointTtlRequest,
    TrainingRun,
    TrainingRunsResponse,
    WeightsInfoRequest,
    WeightsInfoResponse,
)

__all__ = ["routes"]

ACCESS_SCOPES = ("owned", "accessible")
CHECKPOINT = "/training_runs/{run_id}/checkpoints/{kind}/{name}"


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _checkpoint(record: CheckpointRecord) -> Checkpoint:
    return Checkpoint(
        checkpoint_id=record.checkpoint_id,
        checkpoint_type=record.kind,
        time=_time(record.created_at),
        tinker_path=record.tinker_path,
        size_bytes=record.size_bytes,
        public=record.public,
        user_metadata=record.user_metadata,
        expires_at=None if record.expires_at is None else _time(record.expires_at),
    )


def _run(record: RunRecord) -> TrainingRun:
    last, last_sampler = record.last_checkpoint, record.last_sampler_checkpoint
    metadata = record.user_metadata
    return TrainingRun(
        training_run_id=record.model_id,
        base_model=record.base_model,
        model_owner=record.owner,
        is_lora=record.is_lora,
        corrupted=record.corrupted,
        lora_rank=record.lora.rank,
        last_request_time=_time(record.last_request_at),
        last_checkpoint=None if last is None else _checkpoint(last),
        last_sampler_checkpoint=None if last_sampler is None else _checkpoint(last_sampler),
        user_metadata=None if metadata is None else {k: str(v) for k, v in metadata.items()},
    )


def _int_query(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"{name}: expected an integer, got {raw!r}", name) from None


def _scope_owner(request: Request) -> str:
    """The caller; `accessible` (objects shared with the caller) means the same locally."""
    scope = request.query_params.get("access_scope", "owned")
    if scope not in ACCESS_SCOPES:
        raise ApiError(400, f"access_scope: must be one of {list(ACCESS_SCOPES)}", "access_scope")
    return owner_of_request(request)


def _owned_run(request: Request, run_id: str) -> RunRecord:
    return owned_run(runtime_of(request).store, _scope_owner(request), run_id)


def _path_of(request: Request) -> str:
    params = request.path_params
    _owned_run(request, params["run_id"])
    kind = checkpoint_kind_for_segment(params["kind"], "checkpoint_id")
    return str(TinkerPath.build(params["run_id"], kind, params["name"]))


async def list_training_runs(request: Request) -> Response:
    page = runtime_of(request).store.runs.list_page(
        owner=_scope_owner(request),
        limit=_int_query(request, "limit", 20),
        offset=_int_query(request, "offset", 0),
    )
    return json_response(
        TrainingRunsResponse(
            training_runs=[_run(run) for run in page.items],
            cursor=Cursor(offset=page.offset, limit=page.limit, total_count=page.total_count),
        )
    )


async def get_training_run(request: Request) -> Response:
    return json_response(_run(_owned_run(request, request.path_params["run_id"])))


async def list_run_checkpoints(request: Request) -> Response:
    run = _owned_run(request, request.path_params["run_id"])
    records = runtime_of(request).store.checkpoints.list_for_run(run.model_id)
    return json_response(CheckpointsListResponse(checkpoints=[_checkpoint(r) for r in records]))


async def list_user_checkpoints(request: Request) -> Response:
    page = runtime_of(request).store.checkpoints.list_for_owner(
        owner_of_request(request),
        limit=_int_query(request, "limit", 100),
        offset=_int_query(request, "offset", 0),
    )
    return json_response(
        CheckpointsListResponse(
            checkpoints=[_checkpoint(r) for r in page.items],
            cursor=Cursor(offset=page.offset, limit=page.limit, total_count=page.total_count),
        )
    )


async def delete_checkpoint(request: Request) -> Response:
    runtime = runtime_of(request)
    path = _path_of(request)
    await anyio.to_thread.run_sync(runtime.store.checkpoints.delete, path)
    return json_response({})


async def publish(request: Request) -> Response:
    """POST publishes, DELETE unpublishes."""
    runtime_of(request).store.checkpoints.set_public(_path_of(request), request.method == "POST")
    return json_response({})


async def set_ttl(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, SetCheckpointTtlRequest, runtime.config.max_body_bytes)
    runtime.store.checkpoints.set_ttl(_path_of(request), body.ttl_seconds)
    return json_response({})


async def weights_info(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, WeightsInfoRequest, runtime.config.max_body_bytes)
    record = readable_checkpoint(runtime.store, owner_of_request(request), body.tinker_path)
    run = runtime.store.runs.get(record.model_id)
    return json_response(
        WeightsInfoResponse(
            base_model=run.base_model,
            is_lora=run.is_lora,
            lora_rank=run.lora.rank,
            train_unembed=run.lora.train_unembed,
            train_mlp=run.lora.train_mlp,
            train_attn=run.lora.train_attn,
        )
    )


async def list_sessions(request: Request) -> Response:
    page = runtime_of(request).store.sessions.list_page(
        owner=_scope_owner(request),
        limit=_int_query(request, "limit", 20),
        offset=_int_query(request, "offset", 0),
    )
    return json_response(ListSessionsResponse(sessions=[s.session_id for s in page.items]))


async def get_session(request: Request) -> Response:
    runtime: Runtime = runtime_of(request)
    session = runtime.store.sessions.get(request.path_params["session_id"])
    if session.owner != _scope_owner(request):
        raise NotFoundError("session", session.session_id)
    metadata = session.user_metadata
    return json_response(
        GetSessionResponse(
            training_run_ids=runtime.store.runs.ids_for_session(session.session_id),
            sampler_ids=runtime.store.samplers.ids_for_session(session.session_id),
            user_metadata=None if metadata is None else {k: str(v) for k, v in metadata.items()},
            display_name=session.display_name,
        )
    )


async def get_sampler(request: Request) -> Response:
    record = runtime_of(request).store.samplers.get(request.path_params["sampler_id"])
    return json_response(
        GetSamplerResponse(
            sampler_id=record.sampler_id,
            base_model=record.base_model,
            model_path=record.model_path,
        )
    )


routes = [
    Route("/training_runs", guarded(list_training_runs), methods=["GET"]),
    Route("/training_runs/{run_id}", guarded(get_training_run), methods=["GET"]),
    Route("/training_runs/{run_id}/checkpoints", guarded(list_run_checkpoints), methods=["GET"]),
    Route(CHECKPOINT, guarded(delete_checkpoint), methods=["DELETE"]),
    Route(f"{CHECKPOINT}/publish", guarded(publish), methods=["POST", "DELETE"]),
    Route(f"{CHECKPOINT}/ttl", guarded(set_ttl), methods=["PUT"]),
    Route("/checkpoints", guarded(list_user_checkpoints), methods=["GET"]),
    Route("/weights_info", guarded(weights_info), methods=["POST"]),
    Route("/sessions", guarded(list_sessions), methods=["GET"]),
    Route("/sessions/{session_id}", guarded(get_session), methods=["GET"]),
    Route("/samplers/{sampler_id}", guarded(get_sampler), methods=["GET"]),
]
