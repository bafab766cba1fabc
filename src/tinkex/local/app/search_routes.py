"""`POST /sessions/search`: filter sessions, newest first, with cursor pagination.

Filters follow the official `SessionSearchRequest`: `session_id` or `display_name` (either
may match; every word of `display_name` must appear, case-insensitively), exact
`user_metadata` pairs, `project_ids`, `statuses`, and `owner` (own, every owner's, or listed
owners). A session counts as active while it has not finished and its client beat within
`ACTIVE_HEARTBEAT_S`; one that stopped beating has no known status (None), as the official
type allows. A local server never cancels or fails sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tinkex.local.app.http import guarded, json_response, parse_body
from tinkex.local.app.runtime import Runtime, owner_of_request, runtime_of
from tinkex.local.store import SessionRecord
from tinkex.types import (
    AccessibleSearchOwner,
    ActiveSessionStatusQuery,
    ClientFinishedSessionStatusQuery,
    ClientSessionFinished,
    SessionActive,
    SessionSearchCursor,
    SessionSearchRequest,
    SessionSearchResponse,
    SessionSummary,
    UserSearchOwner,
)

__all__ = ["ACTIVE_HEARTBEAT_S", "routes"]

ACTIVE_HEARTBEAT_S = 120.0
"""The official client warns after this long without a successful heartbeat."""
DEFAULT_PROJECT = "default"
"""`SessionSummary.project_id` is required; sessions created without one report this."""


async def search_sessions(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, SessionSearchRequest, runtime.config.max_body_bytes)
    caller = owner_of_request(request)
    matches: list[SessionRecord] = []
    more = False
    for session in _candidates(runtime, caller, body):
        if len(matches) == body.limit:
            more = True
            break
        matches.append(session)
    last = matches[-1] if more else None
    return json_response(
        SessionSearchResponse(
            sessions=[_summary(runtime, session) for session in matches],
            next_cursor=None
            if last is None
            else SessionSearchCursor(
                last_created_at=_time(last.created_at),
                last_session_id=last.session_id,
            ),
        )
    )


def _candidates(
    runtime: Runtime, caller: str, body: SessionSearchRequest
) -> Iterator[SessionRecord]:
    """Every session the request matches, after its cursor, newest first."""
    owner = None if isinstance(body.owner, AccessibleSearchOwner | UserSearchOwner) else caller
    now = runtime.clock.wall()
    for session in runtime.store.sessions.newest_first(owner):
        if body.cursor is not None and not _after(session, body.cursor):
            continue
        if isinstance(body.owner, UserSearchOwner) and session.owner not in body.owner.owner_urns:
            continue
        if _matches(session, body, now):
            yield session


def _after(session: SessionRecord, cursor: SessionSearchCursor) -> bool:
    """Whether `session` comes after the cursor, comparing times as the cursor carries them
    (microseconds), so the last session of a page is never repeated."""
    at = _time(session.created_at)
    last = cursor.last_created_at
    return at < last or (at == last and session.session_id > cursor.last_session_id)


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _matches(session: SessionRecord, body: SessionSearchRequest, now: float) -> bool:
    named = body.session_id is not None or body.display_name is not None
    if named and not (
        session.session_id == body.session_id or _name_matches(session, body.display_name)
    ):
        return False
    metadata = session.user_metadata or {}
    if any(str(metadata.get(key)) != value for key, value in body.user_metadata.items()):
        return False
    if body.project_ids is not None and _project(session) not in body.project_ids:
        return False
    return body.statuses is None or any(
        _status_matches(session, query, now) for query in body.statuses
    )


def _name_matches(session: SessionRecord, display_name: str | None) -> bool:
    if display_name is None or session.display_name is None:
        return False
    name = session.display_name.lower()
    return all(word in name for word in display_name.lower().split())


def _status_matches(session: SessionRecord, query: object, now: float) -> bool:
    if isinstance(query, ActiveSessionStatusQuery):
        return _active(session, now)
    if isinstance(query, ClientFinishedSessionStatusQuery):
        reason = session.finish_reason
        return reason is not None and (query.reasons is None or reason in query.reasons)
    return False  # cancelled and failed: never, locally


def _active(session: SessionRecord, now: float) -> bool:
    return session.finished_at is None and now - session.last_heartbeat_at <= ACTIVE_HEARTBEAT_S


def _project(session: SessionRecord) -> str:
    return session.project_id or DEFAULT_PROJECT


def _summary(runtime: Runtime, session: SessionRecord) -> SessionSummary:
    held = runtime.store.checkpoints.storage(owner=session.owner, session_id=session.session_id)
    status: ClientSessionFinished | SessionActive | None = None
    if session.finish_reason is not None:
        status = ClientSessionFinished.model_validate({"reason": {"type": session.finish_reason}})
    elif _active(session, runtime.clock.wall()):
        status = SessionActive()
    metadata = session.user_metadata
    return SessionSummary(
        session_id=session.session_id,
        created_at=_time(session.created_at),
        owner=session.owner,
        project_id=_project(session),
        status=status,
        checkpoints_count=sum(h.count for h in held.values()),
        display_name=session.display_name,
        user_metadata=None if metadata is None else {k: str(v) for k, v in metadata.items()},
        checkpoint_storage_bytes=sum(h.size_bytes for h in held.values()),
    )


routes = [Route("/sessions/search", guarded(search_sessions), methods=["POST"])]
