"""`AdminClient`: organization audit log and billing, for admin and billing-admin roles.

Constructed like `RestClient` (`AdminClient()` or with `base_url`/`api_key`); every method
returns an `APIFuture`, and its `_async` twin the value itself.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from tinkex import types
from tinkex.clients.rest import RestCore

if TYPE_CHECKING:
    from tinkex.clients.future import APIFuture

__all__ = ["AdminClient", "AuditEventType"]

AuditEventType = Literal["all", "checkpoints", "projects", "teams", "organizations"]


class AdminClient(RestCore):
    """Organization-level operations; the server answers 403 to callers without the role."""

    def get_audit_log(
        self, event_type: AuditEventType = "all", day: date | None = None
    ) -> APIFuture[types.AuditLogResponse]:
        """Audit events of the caller's organization, optionally of one UTC `day`."""
        query = {"event_type": event_type, "day": day.isoformat() if day else None}
        return self._submit(self._call("get_audit_log", query=query))

    async def get_audit_log_async(
        self, event_type: AuditEventType = "all", day: date | None = None
    ) -> types.AuditLogResponse:
        return await self.get_audit_log(event_type, day)

    def get_billing_usage(
        self, starting_on: datetime | str, ending_before: datetime | str
    ) -> APIFuture[types.BillingUsageResponse]:
        """Hourly billing events in `[starting_on, ending_before)` (UTC, at most 14 days)."""
        request = types.GetBillingUsageRequest.model_validate(
            {"starting_on": starting_on, "ending_before": ending_before}
        )
        query = request.model_dump(mode="json", exclude_none=True)
        return self._submit(self._call("get_billing_usage", query=query))

    async def get_billing_usage_async(
        self, starting_on: datetime | str, ending_before: datetime | str
    ) -> types.BillingUsageResponse:
        return await self.get_billing_usage(starting_on, ending_before)

    def get_current_checkpoint_storage_usage(
        self, project_id: str | None = None
    ) -> APIFuture[types.CurrentCheckpointStorageUsageResponse]:
        """Checkpoint count, size and projected cost, for the organization or one project."""
        query = {"project_id": project_id}
        return self._submit(self._call("get_checkpoint_storage_usage", query=query))

    async def get_current_checkpoint_storage_usage_async(
        self, project_id: str | None = None
    ) -> types.CurrentCheckpointStorageUsageResponse:
        return await self.get_current_checkpoint_storage_usage(project_id)
