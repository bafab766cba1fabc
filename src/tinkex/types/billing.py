"""Billing usage, checkpoint storage usage and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, TypeAlias

import pydantic

from ._base import RequestModel, ResponseModel

__all__ = [
    "AuditLogEntry",
    "AuditLogResponse",
    "BillingEventInfo",
    "BillingUsageEvent",
    "BillingUsageResponse",
    "BillingUsageSession",
    "CheckpointBillingEvent",
    "CurrentCheckpointStorageUsageItem",
    "CurrentCheckpointStorageUsageResponse",
    "GetBillingUsageRequest",
    "GetCurrentCheckpointStorageUsageRequest",
    "SamplingPrefillBillingEvent",
    "SamplingSampleBillingEvent",
    "StorageBillingEvent",
    "TrainingBillingEvent",
]


class GetBillingUsageRequest(RequestModel):
    """Query for hourly usage in ``[starting_on, ending_before)`` (UTC hours, ≤ 14 days)."""

    starting_on: datetime
    ending_before: datetime


class TrainingBillingEvent(ResponseModel):
    """Training tokens processed by forward/backward passes."""

    type: Literal["training"] = "training"
    token_count: int


class SamplingPrefillBillingEvent(ResponseModel):
    """Prompt (prefill) tokens; ``cached`` ones are billed at the cache rate."""

    type: Literal["sampling_prefill"] = "sampling_prefill"
    cached: bool
    token_count: int


class SamplingSampleBillingEvent(ResponseModel):
    """Tokens generated while sampling."""

    type: Literal["sampling_sample"] = "sampling_sample"
    token_count: int


class CheckpointBillingEvent(ResponseModel):
    """Checkpoint operations."""

    type: Literal["checkpoint"] = "checkpoint"
    count: int


class StorageBillingEvent(ResponseModel):
    """Checkpoint storage."""

    type: Literal["storage"] = "storage"
    free: bool = False
    gigabyte_hours: float


BillingEventInfo: TypeAlias = Annotated[
    TrainingBillingEvent
    | SamplingPrefillBillingEvent
    | SamplingSampleBillingEvent
    | CheckpointBillingEvent
    | StorageBillingEvent,
    pydantic.Field(discriminator="type"),
]


class BillingUsageEvent(ResponseModel):
    """One hourly usage bucket; ``event_info`` says what kind and how much."""

    bucket_start: datetime
    bucket_end: datetime
    base_model: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    session_id: str | None = None
    project_id: str | None = None
    estimated_cost_usd: float | None = None
    """Gross estimate before credits; not an invoice amount."""
    effective_rate_usd_per_million_tokens: float | None = None
    effective_rate_usd_per_gigabyte_month: float | None = None
    event_info: BillingEventInfo


class BillingUsageSession(ResponseModel):
    """Attributes of a session appearing in usage data."""

    user_metadata: dict[str, str] | None = None


class BillingUsageResponse(ResponseModel):
    """Hourly usage events and the sessions they mention."""

    data: list[BillingUsageEvent]
    sessions: dict[str, BillingUsageSession] = pydantic.Field(default_factory=dict)
    cost_data_through: datetime | None = None
    """Estimates before this use invoice-derived rates, later ones the published rates."""


class GetCurrentCheckpointStorageUsageRequest(RequestModel):
    """Query for current checkpoint storage, optionally of one project."""

    project_id: str | None = None


class CurrentCheckpointStorageUsageItem(ResponseModel):
    """Storage of one project and session owner."""

    project_id: str | None = None
    org_user_urn: str | None = None
    user_email: str | None = None
    user_name: str | None = None
    checkpoint_count: int
    size_bytes: int
    size_gigabytes: float
    estimated_monthly_cost_usd: float | None = None


class CurrentCheckpointStorageUsageResponse(ResponseModel):
    """Current checkpoint storage by project and owner (may lag 1-2 hours)."""

    effective_rate_usd_per_gigabyte_month: float | None = None
    data: list[CurrentCheckpointStorageUsageItem]


class AuditLogEntry(ResponseModel):
    """One audited event."""

    timestamp: datetime
    event: str
    """``<resource>_<action>``, e.g. ``checkpoint_read``."""
    event_details: dict[str, object] = pydantic.Field(default_factory=dict)
    model_id: str | None = None
    """Deprecated: read ``event_details``."""
    tinker_path: str | None = None
    """Deprecated: read ``event_details``."""
    purpose: str | None = None
    """Deprecated: read ``event_details``."""


class AuditLogResponse(ResponseModel):
    """Audit log entries sorted by time."""

    entries: list[AuditLogEntry]
