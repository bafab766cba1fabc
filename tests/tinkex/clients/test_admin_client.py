"""AdminClient against a loopback fake service: routes, query parameters, result types."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from pristine.errors import PermissionDeniedError
from pristine.testing import FakeClock
from tinkex import types
from tinkex.clients.admin import AdminClient
from tinkex.clients.rest import RestClient

if "sampling_testkit" not in sys.modules:  # a helper module beside the tests, any import mode
    _spec = importlib.util.spec_from_file_location(
        "sampling_testkit", Path(__file__).with_name("sampling_testkit.py")
    )
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules["sampling_testkit"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["sampling_testkit"])

from sampling_testkit import LoopHolder


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def holder(httpserver: HTTPServer) -> Iterator[LoopHolder]:
    made = LoopHolder(httpserver.url_for("/").rstrip("/"), clock=FakeClock())
    yield made
    made.close()


def test_audit_log_sends_event_type_and_day(httpserver: HTTPServer, holder: LoopHolder) -> None:
    httpserver.expect_request(
        "/api/v1/audit", query_string={"event_type": "checkpoints", "day": "2026-01-15"}
    ).respond_with_json({"entries": []})
    admin = AdminClient(holder)
    log = admin.get_audit_log("checkpoints", date(2026, 1, 15)).result(timeout=30)
    assert isinstance(log, types.AuditLogResponse)
    assert log.entries == []


def test_billing_usage_validates_and_serialises_the_window(
    httpserver: HTTPServer, holder: LoopHolder
) -> None:
    httpserver.expect_request(
        "/api/v1/billing/usage/events",
        query_string={
            "starting_on": "2026-07-13T00:00:00Z",
            "ending_before": "2026-07-14T00:00:00Z",
        },
    ).respond_with_json({"data": []})
    admin = AdminClient(holder)
    usage = admin.get_billing_usage("2026-07-13T00:00:00Z", "2026-07-14T00:00:00Z")
    assert usage.result(timeout=30).data == []
    with pytest.raises(ValueError, match="ending_before"):
        admin.get_billing_usage("2026-07-13T00:00:00Z", "yesterday")


def test_checkpoint_storage_usage_with_and_without_a_project(
    httpserver: HTTPServer, holder: LoopHolder
) -> None:
    httpserver.expect_request(
        "/api/v1/billing/usage/checkpoints/current", query_string={"project_id": "p"}
    ).respond_with_json({"data": []})
    httpserver.expect_request(
        "/api/v1/billing/usage/checkpoints/current", query_string=""
    ).respond_with_json({"data": []})
    admin = AdminClient(holder)
    assert admin.get_current_checkpoint_storage_usage("p").result(timeout=30).data == []
    assert admin.get_current_checkpoint_storage_usage().result(timeout=30).data == []


@pytest.mark.anyio
async def test_async_twins_and_the_rest_client_shims(
    httpserver: HTTPServer, holder: LoopHolder
) -> None:
    httpserver.expect_request("/api/v1/audit").respond_with_json({"entries": []})
    httpserver.expect_request("/api/v1/billing/usage/events").respond_with_json({"data": []})
    httpserver.expect_request("/api/v1/billing/usage/checkpoints/current").respond_with_json(
        {"data": []}
    )
    admin = AdminClient(holder)
    assert (await admin.get_audit_log_async()).entries == []
    window = ("2026-07-13T00:00:00Z", "2026-07-14T00:00:00Z")
    assert (await admin.get_billing_usage_async(*window)).data == []
    assert (await admin.get_current_checkpoint_storage_usage_async()).data == []
    rest = RestClient(holder)
    with pytest.warns(FutureWarning, match="AdminClient"):
        assert (await rest.get_audit_log_async()).entries == []
    with pytest.warns(FutureWarning, match="AdminClient"):
        assert rest.get_current_checkpoint_storage_usage().result(timeout=30).data == []


def test_forbidden_is_raised_as_permission_denied(
    httpserver: HTTPServer, holder: LoopHolder
) -> None:
    httpserver.expect_request("/api/v1/audit").respond_with_json({"detail": "admins only"}, 403)
    admin = AdminClient(holder)
    with pytest.raises(PermissionDeniedError, match="admins only"):
        admin.get_audit_log().result(timeout=30)
