"""API keys: X-API-Key or Bearer, configured keys only, `tml-` keys when none are configured."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from server_testkit import GOOD_KEY, OTHER_KEY, TINY, Api

from tinkex.local.server import LocalServer

CONFIG_BODY = {"sdk_version": "0.38.0"}


def _config(server: LocalServer, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/api/v1/client/config", json=CONFIG_BODY, headers=headers, timeout=10
    )


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": GOOD_KEY}, {"Authorization": f"Bearer {GOOD_KEY}"}],
    ids=["x-api-key", "bearer"],
)
def test_configured_key_is_accepted(keyed_server: LocalServer, headers: dict[str, str]) -> None:
    response = _config(keyed_server, headers)
    assert response.status_code == 200
    assert response.json()["use_pyqwest_transport"] is False


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key"),
        ({"X-API-Key": "tml-unknown-key"}, "invalid API key"),
        ({"X-API-Key": GOOD_KEY + "x"}, "invalid API key"),
        ({"Authorization": "Basic dG1sLWdvb2Qta2V5"}, "missing API key"),
    ],
    ids=["missing", "unknown", "longer", "basic-scheme"],
)
def test_other_credentials_get_401(
    keyed_server: LocalServer, headers: dict[str, str], message: str
) -> None:
    response = _config(keyed_server, headers)
    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert response.headers["x-should-retry"] == "false"


def test_without_configured_keys_any_tml_key_works(open_server: LocalServer) -> None:
    assert _config(open_server, {"X-API-Key": "tml-anything"}).status_code == 200
    refused = _config(open_server, {"X-API-Key": "sk-not-tinker"})
    assert refused.status_code == 401
    assert "tml-" in refused.json()["detail"]
    assert _config(open_server, {"X-API-Key": "tml-"}).status_code == 401


def test_health_needs_no_key(keyed_server: LocalServer) -> None:
    for path in ("/healthz", "/api/v1/healthz"):
        response = httpx.get(f"{keyed_server.base_url}{path}", timeout=10)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_body_over_the_limit_is_refused_with_413(keyed_server: LocalServer) -> None:
    response = httpx.post(
        f"{keyed_server.base_url}/api/v1/telemetry",
        content=b"x" * ((1 << 20) + 1),
        headers={"X-API-Key": GOOD_KEY, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_streamed_body_over_the_limit_is_refused_with_413(keyed_server: LocalServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(17):
            yield b"y" * (1 << 16)

    response = httpx.post(
        f"{keyed_server.base_url}/api/v1/telemetry",
        content=chunks(),
        headers={"X-API-Key": GOOD_KEY},
        timeout=10,
    )
    assert response.status_code == 413


def test_keys_see_only_their_own_runs_and_published_checkpoints(
    keyed_server: LocalServer,
) -> None:
    assert keyed_server.base_url is not None
    owner, other = Api(keyed_server.base_url, GOOD_KEY), Api(keyed_server.base_url, OTHER_KEY)
    try:
        model_id = owner.create_model(owner.session())
        save = {"model_id": model_id, "path": "mine", "seq_id": 1}
        path = owner.result(owner.ok("/save_weights", save)["request_id"])["path"]
        assert owner.ok("/get_info", {"model_id": model_id})["model_data"]["model_name"] == TINY

        assert other.post("/get_info", {"model_id": model_id}).status_code == 404
        step = {"model_id": model_id, "seq_id": 2, "adam_params": {}}
        assert other.post("/optim_step", step).status_code == 404
        assert other.http.get(f"/training_runs/{model_id}").status_code == 404
        assert other.http.get(f"/training_runs/{model_id}/checkpoints").status_code == 404
        assert other.post("/weights_info", {"tinker_path": path}).status_code == 404
        listed = other.http.get("/training_runs", params={"access_scope": "accessible"}).json()
        assert model_id not in [run["training_run_id"] for run in listed["training_runs"]]

        published = owner.http.post(f"/training_runs/{model_id}/checkpoints/weights/mine/publish")
        assert published.status_code == 200
        info = other.ok("/weights_info", {"tinker_path": path})
        assert info["base_model"] == TINY
    finally:
        owner.close()
        other.close()
