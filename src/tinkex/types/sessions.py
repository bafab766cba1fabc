"""Client sessions: creation, heartbeats, status and search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias

import pydantic

from ._base import RequestModel, ResponseModel
from .ids import ModelID

__all__ = [
    "AccessibleSearchOwner",
    "ActiveSessionStatusQuery",
    "CancelledSessionStatusQuery",
    "ClientFinishedSessionStatusQuery",
    "ClientSessionFinishErrored",
    "ClientSessionFinishInterrupted",
    "ClientSessionFinishReason",
    "ClientSessionFinishReasonType",
    "ClientSessionFinishSuccess",
    "ClientSessionFinished",
    "CreateSessionRequest",
    "CreateSessionResponse",
    "FailedSessionStatusQuery",
    "FinishSessionRequest",
    "GetSessionResponse",
    "ListSessionsResponse",
    "OwnSearchOwner",
    "SearchOwner",
    "SessionActive",
    "SessionCancelled",
    "SessionFailed",
    "SessionFailedReason",
    "SessionFailedRequestReason",
    "SessionFailedSamplingSessionReason",
    "SessionFailedTrainingRunReason",
    "SessionHeartbeatRequest",
    "SessionHeartbeatResponse",
    "SessionProjectRequest",
    "SessionSearchCursor",
    "SessionSearchRequest",
    "SessionSearchResponse",
    "SessionStatus",
    "SessionStatusQuery",
    "SessionSummary",
    "SessionTraceExportResponse",
    "UserSearchOwner",
]


class CreateSessionRequest(RequestModel):
    """Open a client session; every model and sampler lives in one."""

    tags: list[str]
    user_metadata: dict[str, Any] | None = None
    """Required (may be None) in the official SDK, which then omits None from the body; a
    default lets servers parse what official clients actually send."""
    sdk_version: str
    project_id: str | None = None
    display_name: str | None = None
    """Human-readable, not unique; for display and search only."""
    type: Literal["create_session"] = "create_session"


class CreateSessionResponse(ResponseModel):
    """The new session id, plus any message the server wants shown."""

    type: Literal["create_session"] = "create_session"
    info_message: str | None = None
    warning_message: str | None = None
    error_message: str | None = None
    session_id: str


class SessionHeartbeatRequest(RequestModel):
    """Keep a session alive."""

    session_id: str
    type: Literal["session_heartbeat"] = "session_heartbeat"


class SessionHeartbeatResponse(ResponseModel):
    """Heartbeat acknowledged."""

    type: Literal["session_heartbeat"] = "session_heartbeat"


class GetSessionResponse(ResponseModel):
    """The training runs and samplers a session owns."""

    training_run_ids: list[ModelID]
    sampler_ids: list[str]
    user_metadata: dict[str, str] | None = None
    display_name: str | None = None


class ListSessionsResponse(ResponseModel):
    """Session ids."""

    sessions: list[str]


class SessionFailedRequestReason(ResponseModel):
    """A request failed the session."""

    type: Literal["request"] = "request"
    request_id: str
    request_type: str


class SessionFailedTrainingRunReason(ResponseModel):
    """A training run failed the session."""

    type: Literal["training_run"] = "training_run"
    training_run_id: str


class SessionFailedSamplingSessionReason(ResponseModel):
    """A sampling session failed the session."""

    type: Literal["sampling_session"] = "sampling_session"
    sampling_session_id: str


SessionFailedReason: TypeAlias = Annotated[
    SessionFailedRequestReason
    | SessionFailedTrainingRunReason
    | SessionFailedSamplingSessionReason,
    pydantic.Field(discriminator="type"),
]


class SessionFailed(ResponseModel):
    """The session was failed by one of its requests, training runs or sampling sessions."""

    type: Literal["failed"] = "failed"
    category: Literal["user", "internal"]
    reason: SessionFailedReason
    message: str


class SessionCancelled(ResponseModel):
    """The session was cancelled from the console."""

    type: Literal["cancelled"] = "cancelled"
    detail: str | None = None


class ClientSessionFinishSuccess(ResponseModel):
    """The client finished normally."""

    type: Literal["success"] = "success"


class ClientSessionFinishErrored(ResponseModel):
    """The client finished with an error."""

    type: Literal["errored"] = "errored"


class ClientSessionFinishInterrupted(ResponseModel):
    """The client was interrupted."""

    type: Literal["interrupted"] = "interrupted"


ClientSessionFinishReason: TypeAlias = Annotated[
    ClientSessionFinishSuccess | ClientSessionFinishErrored | ClientSessionFinishInterrupted,
    pydantic.Field(discriminator="type"),
]


class ClientSessionFinished(ResponseModel):
    """The session's client reported it was done."""

    type: Literal["client_finished"] = "client_finished"
    reason: ClientSessionFinishReason
    detail: str | None = None


class FinishSessionRequest(RequestModel):
    """Report why the client finished; the first reason recorded wins."""

    wire_keeps_none = True

    reason: ClientSessionFinishReason
    detail: str | None = None


class SessionActive(ResponseModel):
    """The session is running."""

    type: Literal["active"] = "active"


SessionStatus: TypeAlias = Annotated[
    SessionFailed | SessionCancelled | ClientSessionFinished | SessionActive,
    pydantic.Field(discriminator="type"),
]

ClientSessionFinishReasonType: TypeAlias = Literal["success", "errored", "interrupted"]


class ActiveSessionStatusQuery(RequestModel):
    """Match sessions still running."""

    type: Literal["active"] = "active"


class CancelledSessionStatusQuery(RequestModel):
    """Match sessions cancelled from the console."""

    type: Literal["cancelled"] = "cancelled"


class FailedSessionStatusQuery(RequestModel):
    """Match sessions failed by a request, training run or sampling session."""

    type: Literal["failed"] = "failed"


class ClientFinishedSessionStatusQuery(RequestModel):
    """Match sessions whose client reported it was done, optionally by reason."""

    type: Literal["client_finished"] = "client_finished"
    reasons: list[ClientSessionFinishReasonType] | None = pydantic.Field(default=None, min_length=1)


SessionStatusQuery: TypeAlias = (
    ActiveSessionStatusQuery
    | CancelledSessionStatusQuery
    | FailedSessionStatusQuery
    | ClientFinishedSessionStatusQuery
)


class OwnSearchOwner(RequestModel):
    """The caller's own sessions."""

    type: Literal["own"] = "own"


class AccessibleSearchOwner(RequestModel):
    """Every owner's sessions the caller may see."""

    type: Literal["accessible"] = "accessible"


class UserSearchOwner(RequestModel):
    """The listed users' sessions."""

    type: Literal["user"] = "user"
    owner_urns: list[str] = pydantic.Field(min_length=1, max_length=10)


SearchOwner: TypeAlias = OwnSearchOwner | AccessibleSearchOwner | UserSearchOwner


class SessionProjectRequest(RequestModel):
    """Move a session (with its training runs and samplers) into a project."""

    project_id: str


class SessionTraceExportResponse(ResponseModel):
    """A Perfetto trace export: poll until ``ready`` (then ``url``) or ``failed`` (``error``)."""

    status: Literal["pending", "ready", "failed"]
    url: str | None = None
    error: str | None = None


class SessionSearchCursor(ResponseModel):
    """Where the next page starts; pass a response's ``next_cursor`` back unchanged."""

    last_created_at: pydantic.AwareDatetime
    last_session_id: str


class SessionSearchRequest(RequestModel):
    """Search sessions in the projects the caller may list."""

    session_id: str | None = None
    project_ids: list[str] | None = None
    user_metadata: dict[str, str] = pydantic.Field(default_factory=dict)
    display_name: str | None = pydantic.Field(default=None, min_length=1)
    owner: SearchOwner = OwnSearchOwner()
    statuses: list[SessionStatusQuery] | None = pydantic.Field(default=None, min_length=1)
    limit: int = pydantic.Field(default=50, ge=1, le=200)
    cursor: SessionSearchCursor | None = None


class SessionSummary(ResponseModel):
    """One session in search results."""

    session_id: str
    created_at: datetime
    owner: str
    project_id: str
    status: SessionStatus | None = None
    checkpoints_count: int
    display_name: str | None = None
    user_metadata: dict[str, str] | None = None
    checkpoint_storage_bytes: int | None = None


class SessionSearchResponse(ResponseModel):
    """One page of results, newest first."""

    sessions: list[SessionSummary]
    next_cursor: SessionSearchCursor | None = None
