"""Audit log, billing usage, checkpoint storage and session search through the official
client. Every owner on the shared server is the same local user, so assertions look only at
this test's own objects."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

tinker = pytest.importorskip("tinker")

from server_testkit import TINY  # noqa: E402

from tinkex.local.server import LocalServer  # noqa: E402

types = tinker.types
KEY = "tml-admin"


def _train_and_save(service: Any, name: str) -> tuple[Any, str]:
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=8).result()
    tokens = list(range(10, 30))
    datum = types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": np.asarray(tokens[1:], dtype=np.int64)},
    )
    training.forward_backward([datum, datum], "cross_entropy").result()
    return training, training.save_state(name).result().path


def test_audit_and_usage_report_what_the_server_did(open_server: LocalServer) -> None:
    service = tinker.ServiceClient(base_url=open_server.base_url, api_key=KEY)
    training, path = _train_and_save(service, "audited")
    rest = tinker.RestClient(base_url=open_server.base_url, api_key=KEY)
    rest.set_checkpoint_ttl_from_tinker_path(path, 7200).result()
    service.create_training_client_from_state(path).result()
    rest.delete_checkpoint_from_tinker_path(path).result()
    service.close("success")
    admin = tinker.AdminClient(base_url=open_server.base_url, api_key=KEY)

    entries = [e for e in admin.get_audit_log().result().entries if e.tinker_path == path]
    assert [e.event for e in entries] == [
        "checkpoint_create",
        "checkpoint_ttl_set",
        "checkpoint_read",
        "checkpoint_delete",
    ]
    assert entries[2].purpose == "load_weights"
    assert entries[1].event_details["ttl_seconds"] == 7200
    assert admin.get_audit_log(event_type="projects").result().entries == []
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert all(e.tinker_path != path for e in admin.get_audit_log(day=yesterday).result().entries)

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    usage = admin.get_billing_usage(hour, hour + timedelta(hours=1)).result()
    session_id = training.model_id.split(":")[0]
    mine = [e for e in usage.data if e.session_id == session_id]
    assert [e.event_info.type for e in mine] == ["training"]
    assert mine[0].event_info.token_count == 2 * 19
    assert mine[0].base_model == TINY
    assert mine[0].estimated_cost_usd == 0.0
    assert any(e.event_info.type == "checkpoint" for e in usage.data)
    assert session_id in usage.sessions


def test_current_storage_counts_the_checkpoints_held(open_server: LocalServer) -> None:
    project = f"proj-{uuid.uuid4().hex[:8]}"
    service = tinker.ServiceClient(project_id=project, base_url=open_server.base_url, api_key=KEY)
    _train_and_save(service, "kept")
    service.close("success")
    admin = tinker.AdminClient(base_url=open_server.base_url, api_key=KEY)
    storage = admin.get_current_checkpoint_storage_usage(project_id=project).result()
    assert [(item.project_id, item.checkpoint_count) for item in storage.data] == [(project, 1)]
    assert storage.data[0].size_bytes > 0


def test_session_search_filters_and_pages(open_server: LocalServer) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = []
    for i, status in enumerate(["success", "errored", None]):
        service = tinker.ServiceClient(
            user_metadata={"tag": tag, "n": str(i)},
            display_name=f"Search Me {tag} #{i}",
            base_url=open_server.base_url,
            api_key=KEY,
        )
        ids.append(service.create_lora_training_client(base_model=TINY, rank=2).result())
        if status is not None:
            service.close(status)
    session_ids = [client.model_id.split(":")[0] for client in ids]
    rest = tinker.RestClient(base_url=open_server.base_url, api_key=KEY)

    def search(**fields: Any) -> Any:
        return rest.search_sessions(types.SessionSearchRequest(**fields)).result()

    found = search(user_metadata={"tag": tag})
    assert [s.session_id for s in found.sessions] == session_ids[::-1]
    assert found.next_cursor is None
    assert found.sessions[0].status.type == "active"
    assert found.sessions[1].status.reason.type == "errored"

    first = search(display_name=f"me {tag.upper()}", limit=2)
    assert [s.session_id for s in first.sessions] == session_ids[:0:-1]
    rest_page = search(display_name=f"me {tag}", limit=2, cursor=first.next_cursor)
    assert [s.session_id for s in rest_page.sessions] == session_ids[:1]
    assert rest_page.next_cursor is None

    finished = search(
        user_metadata={"tag": tag},
        statuses=[types.ClientFinishedSessionStatusQuery(reasons=["success"])],
    )
    assert [s.session_id for s in finished.sessions] == session_ids[:1]
    by_id = search(session_id=session_ids[1], user_metadata={"tag": tag})
    assert [s.session_id for s in by_id.sessions] == [session_ids[1]]
    assert by_id.sessions[0].checkpoints_count == 0
