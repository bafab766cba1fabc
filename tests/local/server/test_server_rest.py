"""The REST surface over raw HTTP: sessions, runs, pagination, downloads, heartbeats."""

from __future__ import annotations

import httpx
from server_testkit import TINY, Api


def _save(api: Api, model_id: str, name: str, seq_id: int) -> str:
    future = api.ok("/save_weights", {"model_id": model_id, "path": name, "seq_id": seq_id})
    path: str = api.result(future["request_id"])["path"]
    return path


def test_session_lifecycle_heartbeat_finish_and_listing(api: Api) -> None:
    session_id = api.session()
    assert api.ok("/session_heartbeat", {"session_id": session_id})["type"] == "session_heartbeat"
    assert session_id in api.http.get("/sessions", params={"limit": 1000}).json()["sessions"]

    finish = {"reason": {"type": "success"}, "detail": None}
    assert api.ok(f"/sessions/{session_id}/finish", finish) == {}
    again = {"reason": {"type": "errored"}, "detail": "late"}
    assert api.ok(f"/sessions/{session_id}/finish", again) == {}
    beat = api.post("/session_heartbeat", {"session_id": session_id})
    assert beat.status_code == 410
    assert "finished" in beat.json()["detail"]


def test_user_checkpoints_paginate_newest_first(api: Api) -> None:
    model_id = api.create_model(api.session())
    paths = [_save(api, model_id, f"c{i}", i + 1) for i in range(3)]
    first = api.http.get("/checkpoints", params={"limit": 2, "offset": 0}).json()
    assert first["cursor"]["limit"] == 2
    assert first["cursor"]["total_count"] >= 3
    assert [c["tinker_path"] for c in first["checkpoints"]] == paths[::-1][:2]
    runs = api.http.get("/training_runs", params={"limit": 1000}).json()
    assert model_id in [run["training_run_id"] for run in runs["training_runs"]]
    bad = api.http.get("/checkpoints", params={"limit": "many"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "limit"
    assert api.http.get("/checkpoints", params={"limit": 0}).status_code == 400


def test_checkpoint_files_download_by_signed_url(api: Api) -> None:
    """Every kind of checkpoint is served file by file; the URLs work without a key and stop
    working once the checkpoint is deleted."""
    model_id = api.create_model(api.session())
    _save(api, model_id, "packed", 1)
    base = f"/training_runs/{model_id}/checkpoints/weights/packed"
    urls = api.http.get(f"{base}/external_weights_urls").json()
    assert urls["expires"]
    assert set(urls["urls"]) == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "optimizer.safetensors",
    }
    url = urls["urls"]["adapter_config.json"]
    assert httpx.get(url, timeout=30).json()["r"] == 4
    assert api.http.delete(base).status_code == 200
    assert httpx.get(url, timeout=30).status_code == 404


def test_sampler_session_and_weights_info(api: Api) -> None:
    session_id = api.session()
    model_id = api.create_model(session_id)
    future = api.ok(
        "/save_weights_for_sampler",
        {"model_id": model_id, "seq_id": 1, "sampling_session_seq_id": 3},
    )
    sampler_id = api.result(future["request_id"])["sampling_session_id"]
    assert sampler_id == f"{session_id}:sample:3"
    assert api.http.get(f"/samplers/{sampler_id}").json()["base_model"] == TINY
    session = api.http.get(f"/sessions/{session_id}").json()
    assert session["training_run_ids"] == [model_id]
    assert session["sampler_ids"] == [sampler_id]
    info = api.ok("/get_info", {"model_id": model_id})
    assert info["model_data"]["model_name"] == TINY
    assert info["model_data"]["arch"] == "llama"
    assert info["lora_rank"] == 4
    capabilities = api.http.get("/get_server_capabilities").json()
    assert capabilities["supported_models"][0]["model_name"] == TINY


def test_unknown_routes_answer_json(api: Api) -> None:
    missing = api.http.get("/no/such/route")
    assert missing.status_code == 404
    assert "/api/v1/no/such/route" in missing.json()["detail"]
    wrong_method = api.http.get("/create_model")
    assert wrong_method.status_code == 405
