"""RestClient against a loopback fake service: every method's route, query and body, the
result types, `_async` twins, pagination helpers and error reporting."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pristine.errors import NotFoundError
from pristine.testing import FakeClock
from tinkex import types
from tinkex.clients.rest import RestClient

if "sampling_testkit" not in sys.modules:  # a helper module beside the tests, any import mode
    _spec = importlib.util.spec_from_file_location(
        "sampling_testkit", Path(__file__).with_name("sampling_testkit.py")
    )
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules["sampling_testkit"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["sampling_testkit"])

from sampling_testkit import API_KEY, LoopHolder

RUN = "sess1:train:0"
NOW = "2026-01-01T00:00:00Z"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def holder(httpserver: HTTPServer) -> Iterator[LoopHolder]:
    made = LoopHolder(httpserver.url_for("/").rstrip("/"), clock=FakeClock())
    yield made
    made.close()


@pytest.fixture
def rest(holder: LoopHolder) -> RestClient:
    return RestClient(holder)


def _checkpoint(name: str, kind: str = "weights") -> dict[str, Any]:
    return {
        "checkpoint_id": f"{kind}/{name}",
        "checkpoint_type": "training" if kind == "weights" else "sampler",
        "time": NOW,
        "tinker_path": f"tinker://{RUN}/{kind}/{name}",
    }


def _run(run_id: str) -> dict[str, Any]:
    return {
        "training_run_id": run_id,
        "base_model": "tiny",
        "model_owner": "me",
        "is_lora": True,
        "last_request_time": NOW,
    }


def test_get_training_run_sends_the_access_scope_and_returns_the_type(
    httpserver: HTTPServer, rest: RestClient
) -> None:
    httpserver.expect_request(
        f"/api/v1/training_runs/{RUN}", method="GET", query_string={"access_scope": "accessible"}
    ).respond_with_json(_run(RUN))
    run = rest.get_training_run(RUN, access_scope="accessible").result(timeout=30)
    assert isinstance(run, types.TrainingRun)
    assert run.training_run_id == RUN
    request = httpserver.log[0][0]
    assert request.headers["X-API-Key"] == API_KEY


def test_get_training_run_by_tinker_path_parses_the_run_id(
    httpserver: HTTPServer, rest: RestClient
) -> None:
    httpserver.expect_request(f"/api/v1/training_runs/{RUN}").respond_with_json(_run(RUN))
    run = rest.get_training_run_by_tinker_path(f"tinker://{RUN}/weights/s1").result(timeout=30)
    assert run.base_model == "tiny"
    with pytest.raises(ValueError, match="tinker://"):
        rest.get_training_run_by_tinker_path("not-a-path")


def test_checkpoint_operations_hit_the_kind_and_name_routes(
    httpserver: HTTPServer, rest: RestClient
) -> None:
    base = f"/api/v1/training_runs/{RUN}/checkpoints/sampler_weights/s1"
    httpserver.expect_request(base, method="DELETE").respond_with_data("", status=204)
    httpserver.expect_request(f"{base}/publish", method="POST").respond_with_data("")
    httpserver.expect_request(f"{base}/publish", method="DELETE").respond_with_data("")
    httpserver.expect_request(f"{base}/ttl", method="PUT").respond_with_data("")
    path = f"tinker://{RUN}/sampler_weights/s1"
    assert rest.delete_checkpoint_from_tinker_path(path).result(timeout=30) is None
    assert rest.delete_checkpoint(RUN, "sampler_weights/s1").result(timeout=30) is None
    rest.publish_checkpoint_from_tinker_path(path).result(timeout=30)
    rest.unpublish_checkpoint_from_tinker_path(path).result(timeout=30)
    rest.set_checkpoint_ttl_from_tinker_path(path, None).result(timeout=30)
    methods = [(r.method, r.path) for r, _ in httpserver.log]
    assert methods == [
        ("DELETE", base),
        ("DELETE", base),
        ("POST", f"{base}/publish"),
        ("DELETE", f"{base}/publish"),
        ("PUT", f"{base}/ttl"),
    ]
    assert json.loads(httpserver.log[-1][0].data) == {"ttl_seconds": None}
    with pytest.raises(ValueError, match="<kind>/<name>"):
        rest.delete_checkpoint(RUN, "no-kind")


def test_list_checkpoints_and_external_urls(httpserver: HTTPServer, rest: RestClient) -> None:
    httpserver.expect_request(f"/api/v1/training_runs/{RUN}/checkpoints").respond_with_json(
        {"checkpoints": [_checkpoint("a"), _checkpoint("b", "sampler_weights")]}
    )
    httpserver.expect_request(
        f"/api/v1/training_runs/{RUN}/checkpoints/external_weights/x/external_weights_urls"
    ).respond_with_json({"urls": {"model.safetensors": "https://x"}, "expires": NOW})
    listing = rest.list_checkpoints(RUN).result(timeout=30)
    assert [c.checkpoint_id for c in listing.checkpoints] == ["weights/a", "sampler_weights/b"]
    urls = rest.get_external_weights_urls(f"tinker://{RUN}/external_weights/x").result(timeout=30)
    assert urls.urls == {"model.safetensors": "https://x"}


def test_weights_info_capabilities_sampler_and_session(
    httpserver: HTTPServer, rest: RestClient
) -> None:
    httpserver.expect_request("/api/v1/weights_info", method="POST").respond_with_json(
        {"base_model": "tiny", "is_lora": True, "lora_rank": 8}
    )
    httpserver.expect_request("/api/v1/get_server_capabilities").respond_with_json(
        {"supported_models": [{"model_name": "tiny"}]}
    )
    httpserver.expect_request("/api/v1/samplers/sess1:sample:0").respond_with_json(
        {"sampler_id": "sess1:sample:0", "base_model": "tiny"}
    )
    httpserver.expect_request(
        "/api/v1/sessions/sess1", query_string={"access_scope": "owned"}
    ).respond_with_json({"training_run_ids": [RUN], "sampler_ids": []})
    httpserver.expect_request("/api/v1/sessions/sess1/project", method="PUT").respond_with_data("")
    info = rest.get_weights_info_by_tinker_path(f"tinker://{RUN}/weights/a").result(timeout=30)
    assert info.lora_rank == 8
    assert json.loads(httpserver.log[0][0].data) == {"tinker_path": f"tinker://{RUN}/weights/a"}
    caps = rest.get_server_capabilities().result(timeout=30)
    assert caps.supported_models[0].model_name == "tiny"
    assert rest.get_sampler("sess1:sample:0").result(timeout=30).base_model == "tiny"
    assert rest.get_session("sess1").result(timeout=30).training_run_ids == [RUN]
    rest.assign_session_project("sess1", "proj").result(timeout=30)
    assert json.loads(httpserver.log[-1][0].data) == {"project_id": "proj"}


def test_copy_weights_uses_one_idempotency_key_and_the_access_token(
    httpserver: HTTPServer, rest: RestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([Response("busy", status=503), Response('{"tinker_path": "tinker://c/w/a"}')])

    def handler(request: Request) -> Response:
        return next(answers)

    httpserver.expect_request("/api/v1/copy_weights", method="POST").respond_with_handler(handler)
    path = f"tinker://{RUN}/weights/a"
    copied = rest.copy_weights(path, "proj", weights_access_token="tok").result(timeout=30)
    assert copied == "tinker://c/w/a"
    first, second = (r for r, _ in httpserver.log)
    assert first.headers["X-Idempotency-Key"] == second.headers["X-Idempotency-Key"]
    assert first.headers["X-Tinker-Weights-Access-Token"] == "tok"
    assert json.loads(first.data)["destination_project_id"] == "proj"
    monkeypatch.delenv("TINKER_PROJECT_ID", raising=False)
    with pytest.raises(ValueError, match="TINKER_PROJECT_ID"):
        rest.copy_weights(path)


def test_iter_training_runs_walks_every_page(httpserver: HTTPServer, rest: RestClient) -> None:
    runs = [_run(f"r{i}") for i in range(5)]

    def handler(request: Request) -> Response:
        limit, offset = int(request.args["limit"]), int(request.args["offset"])
        page = runs[offset : offset + limit]
        cursor = {"offset": offset, "limit": limit, "total_count": len(runs)}
        return Response(json.dumps({"training_runs": page, "cursor": cursor}))

    httpserver.expect_request("/api/v1/training_runs").respond_with_handler(handler)
    ids = [run.training_run_id for run in rest.iter_training_runs(page_size=2)]
    assert ids == ["r0", "r1", "r2", "r3", "r4"]
    assert [r.args["offset"] for r, _ in httpserver.log] == ["0", "2", "4"]
    with pytest.raises(ValueError, match="page_size"):
        next(rest.iter_training_runs(page_size=0))


def test_iter_user_checkpoints_and_sessions_stop_on_the_last_page(
    httpserver: HTTPServer, rest: RestClient
) -> None:
    checkpoints = [_checkpoint(f"c{i}") for i in range(3)]
    sessions = [f"s{i}" for i in range(4)]

    def checkpoints_handler(request: Request) -> Response:
        limit, offset = int(request.args["limit"]), int(request.args["offset"])
        cursor = {"offset": offset, "limit": limit, "total_count": len(checkpoints)}
        body = {"checkpoints": checkpoints[offset : offset + limit], "cursor": cursor}
        return Response(json.dumps(body))

    def sessions_handler(request: Request) -> Response:
        limit, offset = int(request.args["limit"]), int(request.args["offset"])
        return Response(json.dumps({"sessions": sessions[offset : offset + limit]}))

    httpserver.expect_request("/api/v1/checkpoints").respond_with_handler(checkpoints_handler)
    httpserver.expect_request("/api/v1/sessions").respond_with_handler(sessions_handler)
    names = [c.checkpoint_id for c in rest.iter_user_checkpoints(page_size=2)]
    assert names == ["weights/c0", "weights/c1", "weights/c2"]
    assert list(rest.iter_sessions(page_size=2)) == sessions
    session_offsets = [r.args["offset"] for r, _ in httpserver.log if r.path == "/api/v1/sessions"]
    assert session_offsets == ["0", "2", "4"]


@pytest.mark.anyio
async def test_async_twins_and_async_iterators(httpserver: HTTPServer, rest: RestClient) -> None:
    httpserver.expect_request(f"/api/v1/training_runs/{RUN}").respond_with_json(_run(RUN))
    httpserver.expect_request("/api/v1/training_runs").respond_with_json(
        {"training_runs": [_run("a")], "cursor": {"offset": 0, "limit": 100, "total_count": 1}}
    )
    httpserver.expect_request("/api/v1/checkpoints").respond_with_json({"checkpoints": []})
    httpserver.expect_request("/api/v1/sessions").respond_with_json({"sessions": ["s"]})
    assert (await rest.get_training_run_async(RUN)).training_run_id == RUN
    assert [r.training_run_id async for r in rest.iter_training_runs_async()] == ["a"]
    assert [c async for c in rest.iter_user_checkpoints_async()] == []
    assert [s async for s in rest.iter_sessions_async()] == ["s"]
    assert (await rest.list_sessions_async()).sessions == ["s"]


def test_export_session_trace_polls_until_ready(
    httpserver: HTTPServer, rest: RestClient, caplog: pytest.LogCaptureFixture
) -> None:
    answers = iter([{"status": "pending"}, {"status": "ready", "url": "https://trace"}])
    httpserver.expect_request("/api/v1/sessions/sess1/trace_export").respond_with_handler(
        lambda request: Response(json.dumps(next(answers)))
    )
    assert rest.export_session_trace("sess1").result(timeout=30) == "https://trace"
    assert "Building trace export" in caplog.text


def test_errors_name_the_endpoint_and_never_the_key(
    httpserver: HTTPServer, rest: RestClient
) -> None:
    httpserver.expect_request(f"/api/v1/training_runs/{RUN}").respond_with_json(
        {"detail": f"run not found for {API_KEY}"}, status=404
    )
    with pytest.raises(NotFoundError) as caught:
        rest.get_training_run(RUN).result(timeout=30)
    assert API_KEY not in str(caught.value)
    assert "training_runs" in str(caught.value)


def test_a_holder_and_credentials_are_exclusive(holder: LoopHolder) -> None:
    with pytest.raises(ValueError, match="either a holder or base_url/api_key"):
        RestClient(holder, api_key=API_KEY)


def test_whoami_reads_the_claims_of_the_exchanged_jwt(
    httpserver: HTTPServer, rest: RestClient
) -> None:
    claims = {"sub": "tml:user:1", "org_id": "o1", "email": ""}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    httpserver.expect_oneshot_request("/api/v1/auth/token").respond_with_json(
        {"jwt": f"h.{payload}.s"}
    )
    me = rest.whoami().result(timeout=30)
    assert (me.user_urn, me.org_urn, me.email) == ("tml:user:1", "tml:organization:o1", None)
    httpserver.expect_oneshot_request("/api/v1/auth/token").respond_with_json({"jwt": "nope"})
    with pytest.raises(ValueError, match="not a JWT"):
        rest.whoami().result(timeout=30)
    httpserver.expect_oneshot_request("/api/v1/auth/token").respond_with_json({}, status=404)
    with pytest.raises(RuntimeError, match="JWT auth"):
        rest.whoami().result(timeout=30)


def test_a_trace_export_that_fails_or_never_finishes_raises(
    httpserver: HTTPServer, rest: RestClient
) -> None:
    httpserver.expect_oneshot_request("/api/v1/sessions/bad/trace_export").respond_with_json(
        {"status": "failed", "error": "boom"}
    )
    httpserver.expect_request("/api/v1/sessions/slow/trace_export").respond_with_json(
        {"status": "pending"}
    )
    with pytest.raises(RuntimeError, match="boom"):
        rest.export_session_trace("bad").result(timeout=30)
    with pytest.raises(RuntimeError, match="not ready after"):
        rest.export_session_trace("slow").result(timeout=30)


def test_credentials_build_a_sessionless_core(httpserver: HTTPServer) -> None:
    pytest.importorskip("tinkex.clients._holder", reason="needs the client core (H9)")
    httpserver.expect_request("/api/v1/samplers/s").respond_with_json(
        {"sampler_id": "s", "base_model": "tiny"}
    )
    client = RestClient(base_url=httpserver.url_for("/").rstrip("/"), api_key=API_KEY)
    assert client.get_sampler("s").result(timeout=30).base_model == "tiny"


def _answer(request: Request) -> Response:
    """Any REST route of the fake: a valid body for what the path asks."""
    path = request.path.removeprefix("/api/v1")
    cursor = {"offset": 0, "limit": 20, "total_count": 1}
    bodies: list[tuple[str, Any]] = [
        ("/get_server_capabilities", {"supported_models": []}),
        ("/weights_info", {"base_model": "tiny", "is_lora": True}),
        ("/external_weights_urls", {"urls": {}, "expires": NOW}),
        ("/checkpoints", {"checkpoints": []}),
        ("/trace_export", {"status": "ready", "url": "https://t"}),
        ("/sessions/search", {"sessions": []}),
        ("/project", None),
        ("/sessions/s", {"training_run_ids": [], "sampler_ids": []}),
        ("/sessions", {"sessions": []}),
        ("/samplers/", {"sampler_id": "x", "base_model": "tiny"}),
        ("/copy_weights", {"tinker_path": "tinker://c/weights/a"}),
        ("/billing/usage/events", {"data": []}),
        ("/training_runs", {"training_runs": [_run(RUN)], "cursor": cursor}),
    ]
    if request.method in ("DELETE", "PUT") or path.endswith("/publish"):
        return Response("")
    if path.startswith(f"/training_runs/{RUN}") and "/checkpoints" not in path:
        return Response(json.dumps(_run(RUN)))
    for suffix, body in bodies:
        if path.endswith(suffix) or path.startswith(suffix):
            return Response("" if body is None else json.dumps(body))
    return Response(json.dumps({"detail": f"no fake for {path}"}), status=404)


@pytest.mark.anyio
async def test_every_async_twin_answers_like_its_future(
    httpserver: HTTPServer, rest: RestClient
) -> None:
    httpserver.expect_request("").respond_with_handler(_answer)
    path = f"tinker://{RUN}/weights/a"
    assert (await rest.get_server_capabilities_async()).supported_models == []
    assert (await rest.get_training_run_by_tinker_path_async(path)).training_run_id == RUN
    assert (await rest.get_weights_info_by_tinker_path_async(path)).base_model == "tiny"
    assert (await rest.list_training_runs_async()).cursor.total_count == 1
    assert (await rest.list_checkpoints_async(RUN)).checkpoints == []
    assert (await rest.list_user_checkpoints_async()).checkpoints == []
    external = f"tinker://{RUN}/external_weights/a"
    assert (await rest.get_external_weights_urls_async(external)).urls == {}
    await rest.delete_checkpoint_async(RUN, "weights/a")
    await rest.delete_checkpoint_from_tinker_path_async(path)
    await rest.publish_checkpoint_from_tinker_path_async(path)
    await rest.unpublish_checkpoint_from_tinker_path_async(path)
    await rest.set_checkpoint_ttl_from_tinker_path_async(path, 3600)
    assert await rest.copy_weights_async(path, "proj") == "tinker://c/weights/a"
    assert (await rest.get_session_async("s")).sampler_ids == []
    await rest.assign_session_project_async("s", "p")
    assert await rest.export_session_trace_async("s") == "https://t"
    assert (await rest.search_sessions_async(types.SessionSearchRequest())).sessions == []
    assert (await rest.get_sampler_async("x")).base_model == "tiny"
    with pytest.warns(FutureWarning, match="use AdminClient"):
        usage = await rest.get_billing_usage_async("2026-07-13T00:00:00Z", "2026-07-14T00:00:00Z")
    assert usage.data == []
    assert rest.search_sessions(types.SessionSearchRequest()).result(timeout=30).sessions == []
