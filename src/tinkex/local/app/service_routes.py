"""Client start-up and liveness: config, capabilities, health, sessions, telemetry."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tinkex.local.app.http import ApiError, guarded, json_response, parse_body, read_body
from tinkex.local.app.runtime import owner_of_request, runtime_of
from tinkex.types import (
    ClientConfigRequest,
    ClientConfigResponse,
    ClientDynamicConfigResponse,
    CreateSessionRequest,
    CreateSessionResponse,
    FinishSessionRequest,
    GetServerCapabilitiesResponse,
    HealthResponse,
    SessionHeartbeatRequest,
    SessionHeartbeatResponse,
    SupportedModel,
    TelemetryResponse,
)

__all__ = ["routes"]


async def client_config(request: Request) -> Response:
    """Feature flags: the plain httpx transport and per-request future polling."""
    config = runtime_of(request).config
    await parse_body(request, ClientConfigRequest, config.max_body_bytes)
    return json_response(
        ClientConfigResponse(use_pyqwest_transport=False, custom_loss_server_side=True)
    )


async def dynamic_config(request: Request) -> Response:
    await read_body(request, runtime_of(request).config.max_body_bytes)
    return json_response(ClientDynamicConfigResponse())


async def capabilities(request: Request) -> Response:
    """Aliases are listed like models (`SupportedModel` has no field to tell them apart), so
    code that looks a base model up in this list finds the names `create_model` accepts."""
    names = runtime_of(request).workbench.names
    return json_response(
        GetServerCapabilitiesResponse(
            supported_models=[
                SupportedModel(model_name=name, trainable=True, sampleable=True) for name in names
            ]
        )
    )


async def healthz(request: Request) -> Response:
    return json_response(HealthResponse(status="ok"))


async def create_session(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, CreateSessionRequest, runtime.config.max_body_bytes)
    session_id = f"session-{uuid.uuid4().hex}"
    runtime.store.sessions.create(
        session_id,
        sdk_version=body.sdk_version,
        owner=owner_of_request(request),
        tags=body.tags,
        user_metadata=body.user_metadata,
        project_id=body.project_id,
        display_name=body.display_name,
    )
    return json_response(CreateSessionResponse(session_id=session_id))


async def heartbeat(request: Request) -> Response:
    """410 once the session is finished, so the client stops beating."""
    runtime = runtime_of(request)
    body = await parse_body(request, SessionHeartbeatRequest, runtime.config.max_body_bytes)
    session = runtime.store.sessions.get(body.session_id)
    if session.finished_at is not None:
        raise ApiError(410, f"session {body.session_id!r} has finished; create a new client")
    runtime.store.sessions.heartbeat(body.session_id)
    return json_response(SessionHeartbeatResponse())


async def finish_session(request: Request) -> Response:
    """Idempotent: the first finish reason wins."""
    runtime = runtime_of(request)
    body = await parse_body(request, FinishSessionRequest, runtime.config.max_body_bytes)
    session_id = request.path_params["session_id"]
    if runtime.store.sessions.get(session_id).finished_at is None:
        runtime.store.sessions.finish(session_id, body.reason.type)
    return json_response({})


async def telemetry(request: Request) -> Response:
    """Accept and drop: a local server has nowhere to send events."""
    await read_body(request, runtime_of(request).config.max_body_bytes)
    return json_response(TelemetryResponse(status="accepted"))


routes = [
    Route("/client/config", guarded(client_config), methods=["POST"]),
    Route("/client/dynamic_config", guarded(dynamic_config), methods=["POST"]),
    Route("/get_server_capabilities", guarded(capabilities), methods=["GET"]),
    Route("/healthz", guarded(healthz), methods=["GET"]),
    Route("/create_session", guarded(create_session), methods=["POST"]),
    Route("/session_heartbeat", guarded(heartbeat), methods=["POST"]),
    Route("/sessions/{session_id}/finish", guarded(finish_session), methods=["POST"]),
    Route("/telemetry", guarded(telemetry), methods=["POST"]),
]
