"""Admin views, answered truthfully for a local server: the audit log of checkpoint actions,
token usage per hour, and the checkpoint storage held now.

A local server bills nothing, so every cost and rate is 0.0 (known, and free) rather than
unknown. Usage covers the tokens of forward and forward_backward requests (`training`) and
checkpoint writes (`checkpoint`); sampling tokens are not metered.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pydantic
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tinkex.local.app.http import ApiError, guarded, json_response, validation_error
from tinkex.local.app.runtime import owner_of_request, runtime_of
from tinkex.local.store.usage import HOUR_S
from tinkex.types import (
    AuditLogEntry,
    AuditLogResponse,
    BillingUsageEvent,
    BillingUsageResponse,
    BillingUsageSession,
    CheckpointBillingEvent,
    CurrentCheckpointStorageUsageItem,
    CurrentCheckpointStorageUsageResponse,
    GetBillingUsageRequest,
    TrainingBillingEvent,
)

__all__ = ["routes"]

MAX_USAGE_WINDOW = timedelta(days=14)
GIGABYTE = 1e9
# `event_type` values of the official AdminClient, and the resource prefix of their events.
_RESOURCES = {
    "all": None,
    "checkpoints": "checkpoint",
    "projects": "project",
    "teams": "team",
    "organizations": "organization",
}


async def audit_log(request: Request) -> Response:
    """One UTC day (today by default) of the caller's audit entries, oldest first."""
    event_type = request.query_params.get("event_type", "all")
    if event_type not in _RESOURCES:
        raise ApiError(400, f"event_type: must be one of {list(_RESOURCES)}", "event_type")
    raw_day = request.query_params.get("day")
    try:
        day = datetime.now(UTC).date() if raw_day is None else date.fromisoformat(raw_day)
    except ValueError:
        raise ApiError(400, f"day: expected YYYY-MM-DD, got {raw_day!r}", "day") from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    entries = runtime_of(request).store.audit.entries(
        owner_of_request(request), start, start + 24 * HOUR_S, _RESOURCES[event_type]
    )
    return json_response(
        AuditLogResponse(
            entries=[
                AuditLogEntry(
                    timestamp=datetime.fromtimestamp(entry.at, UTC),
                    event=entry.event,
                    event_details=entry.details,
                    model_id=_text(entry.details.get("model_id")),
                    tinker_path=_text(entry.details.get("tinker_path")),
                    purpose=_text(entry.details.get("purpose")),
                )
                for entry in entries
            ]
        )
    )


async def billing_usage(request: Request) -> Response:
    """Hourly buckets of training tokens and checkpoint writes in the asked window."""
    try:
        window = GetBillingUsageRequest.model_validate(dict(request.query_params))
    except pydantic.ValidationError as exc:
        raise validation_error(exc, "GetBillingUsageRequest") from None
    start, end = _utc(window.starting_on), _utc(window.ending_before)
    if not start < end <= start + MAX_USAGE_WINDOW:
        raise ApiError(
            400,
            "ending_before: must be after starting_on and at most 14 days later",
            "ending_before",
        )
    runtime, owner = runtime_of(request), owner_of_request(request)
    store = runtime.store
    events = [
        _event(
            bucket.bucket_start,
            TrainingBillingEvent(token_count=bucket.token_count),
            session_id=bucket.session_id,
            base_model=bucket.base_model,
        )
        for bucket in store.usage.hourly(owner, start.timestamp(), end.timestamp())
        if bucket.kind == "training"
    ]
    writes = Counter(
        entry.at // HOUR_S * HOUR_S
        for entry in store.audit.entries(owner, start.timestamp(), end.timestamp(), "checkpoint")
        if entry.event == "checkpoint_create"
    )
    events += [_event(at, CheckpointBillingEvent(count=n)) for at, n in sorted(writes.items())]
    events.sort(key=lambda event: event.bucket_start)
    sessions = {}
    for session_id in {event.session_id for event in events if event.session_id is not None}:
        metadata = store.sessions.get(session_id).user_metadata
        sessions[session_id] = BillingUsageSession(
            user_metadata=None if metadata is None else {k: str(v) for k, v in metadata.items()}
        )
    return json_response(BillingUsageResponse(data=events, sessions=sessions))


async def checkpoint_storage(request: Request) -> Response:
    """Checkpoints held now, per project of the session that wrote them."""
    project = request.query_params.get("project_id")
    storage = runtime_of(request).store.checkpoints.storage(owner=owner_of_request(request))
    items = [
        CurrentCheckpointStorageUsageItem(
            project_id=project_id,
            org_user_urn=owner_of_request(request),
            checkpoint_count=held.count,
            size_bytes=held.size_bytes,
            size_gigabytes=held.size_bytes / GIGABYTE,
            estimated_monthly_cost_usd=0.0,
        )
        for project_id, held in sorted(storage.items(), key=lambda item: str(item[0]))
        if project is None or project_id == project
    ]
    return json_response(
        CurrentCheckpointStorageUsageResponse(effective_rate_usd_per_gigabyte_month=0.0, data=items)
    )


def _event(
    bucket_start: float,
    info: TrainingBillingEvent | CheckpointBillingEvent,
    *,
    session_id: str | None = None,
    base_model: str | None = None,
) -> BillingUsageEvent:
    start = datetime.fromtimestamp(bucket_start, UTC)
    token = isinstance(info, TrainingBillingEvent)
    return BillingUsageEvent(
        bucket_start=start,
        bucket_end=start + timedelta(seconds=HOUR_S),
        event_info=info,
        session_id=session_id,
        base_model=base_model,
        estimated_cost_usd=0.0 if token else None,
        effective_rate_usd_per_million_tokens=0.0 if token else None,
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


routes = [
    Route("/audit", guarded(audit_log), methods=["GET"]),
    Route("/billing/usage/events", guarded(billing_usage), methods=["GET"]),
    Route("/billing/usage/checkpoints/current", guarded(checkpoint_storage), methods=["GET"]),
]
