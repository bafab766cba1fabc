"""ServiceClient against the fake service: factories, credentials from the environment,
session finish on close and as a context manager."""

from __future__ import annotations

import json

import pytest
from fake_tinker import API_KEY, BASE_MODEL, SESSION_ID, FakeTinker
from werkzeug import Request, Response

from tinkex import types
from tinkex.clients import service as service_module
from tinkex.clients.rest import RestClient
from tinkex.clients.service import ServiceClient


@pytest.fixture(autouse=True)
def no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake service has no telemetry endpoint unless a test adds one."""
    monkeypatch.setenv("TINKER_TELEMETRY", "0")


def test_construction_reads_the_environment_and_is_offline(
    fake_tinker: FakeTinker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINKER_API_KEY", API_KEY)
    monkeypatch.setenv("TINKER_BASE_URL", fake_tinker.base_url)
    monkeypatch.setenv("TINKER_PROJECT_ID", "proj-1")
    with pytest.warns(FutureWarning, match="bogus"):
        client = ServiceClient(user_metadata={"run": "a"}, display_name="demo", bogus=1)
    assert fake_tinker.requests == []
    assert client.get_console_url().endswith("/sessions")
    training = client.create_lora_training_client(BASE_MODEL).result(10)
    (session,) = fake_tinker.bodies("create_session")
    assert session["project_id"] == "proj-1"
    assert session["user_metadata"] == {"run": "a"}
    assert session["display_name"] == "demo"
    assert session["sdk_version"] == "0.38.0"
    assert training.model_id == f"{SESSION_ID}:train:0"
    assert client.get_console_url().endswith(SESSION_ID)
    client.close("success").result(10)
    (finish,) = fake_tinker.bodies("finish")
    assert finish == {"reason": {"type": "success"}, "detail": None}


def test_factory_futures_act_as_clients(
    service_client: ServiceClient, fake_tinker: FakeTinker
) -> None:
    future = service_client.create_lora_training_client(BASE_MODEL, rank=4, seed=1)
    assert future.get_info().model_id == f"{SESSION_ID}:train:0"
    second = service_client.create_lora_training_client(BASE_MODEL, train_mlp=False).result(10)
    assert second.model_id == f"{SESSION_ID}:train:1"
    with pytest.raises(ValueError, match="train_mlp"):
        service_client.create_lora_training_client(
            BASE_MODEL, train_mlp=False, train_attn=False, train_unembed=False
        )


def test_training_client_from_state(service_client: ServiceClient, fake_tinker: FakeTinker) -> None:
    path = "tinker://run/weights/step-1"
    plain = service_client.create_training_client_from_state(path, BASE_MODEL).result(10)
    full = service_client.create_training_client_from_state_with_optimizer(path).result(10)
    first, second = fake_tinker.bodies("load_weights")
    assert (first["optimizer"], second["optimizer"]) == (False, True)
    assert (first["model_seq_id"], second["model_seq_id"]) == (0, 1)
    assert first["base_model"] == BASE_MODEL
    assert plain.model_id == f"{SESSION_ID}:train:0"
    assert full.model_id == f"{SESSION_ID}:train:1"


def test_sampling_client_needs_exactly_one_source(
    service_client: ServiceClient, fake_tinker: FakeTinker
) -> None:
    sampling = service_client.create_sampling_client(base_model=BASE_MODEL).result(10)
    assert sampling.get_base_model() == BASE_MODEL
    (body,) = fake_tinker.bodies("create_sampling_session")
    assert body["base_model"] == BASE_MODEL
    assert body["sampling_session_seq_id"] == 0
    with pytest.raises(ValueError, match="exactly one"):
        service_client.create_sampling_client()


def test_rest_client_and_capabilities(service_client: ServiceClient) -> None:
    assert isinstance(service_client.create_rest_client(), RestClient)
    capabilities = service_client.get_server_capabilities()
    assert capabilities.supported_models[0].model_name == BASE_MODEL


@pytest.mark.anyio
async def test_async_factories(service_client: ServiceClient) -> None:
    training = await service_client.create_lora_training_client_async(BASE_MODEL)
    again = await service_client.create_training_client_from_state_async("tinker://x")
    full = await service_client.create_training_client_from_state_with_optimizer_async("p")
    sampling = await service_client.create_sampling_client_async(base_model=BASE_MODEL)
    capabilities = await service_client.get_server_capabilities_async()
    assert [training.model_id, again.model_id, full.model_id] == [
        f"{SESSION_ID}:train:{n}" for n in range(3)
    ]
    assert sampling.get_base_model() == BASE_MODEL
    assert isinstance(capabilities, types.GetServerCapabilitiesResponse)


def test_context_manager_finishes_with_the_outcome(fake_tinker: FakeTinker) -> None:
    client = ServiceClient(base_url=fake_tinker.base_url, api_key=API_KEY)

    def work() -> None:
        with client:
            client.create_sampling_client(base_model=BASE_MODEL).result(10)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        work()
    (finish,) = fake_tinker.bodies("finish")
    assert finish["reason"] == {"type": "errored"}
    assert "boom" in finish["detail"]
    assert client.close("success").result(1) is None


def test_close_without_a_session_sends_nothing(fake_tinker: FakeTinker) -> None:
    client = ServiceClient(base_url=fake_tinker.base_url, api_key=API_KEY)
    client.close("interrupted").result(10)
    assert fake_tinker.requests == []


def test_a_closed_client_cannot_be_entered_again(fake_tinker: FakeTinker) -> None:
    client = ServiceClient(base_url=fake_tinker.base_url, api_key=API_KEY)
    client.close("success").result(10)
    with pytest.raises(RuntimeError, match="closed; create a new ServiceClient"):
        client.__enter__()


def test_copy_weights_goes_to_the_client_project(
    fake_tinker: FakeTinker, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_tinker.server.expect_request("/api/v1/copy_weights").respond_with_json(
        {"tinker_path": "tinker://copy/weights/a"}
    )
    client = ServiceClient(project_id="archive", base_url=fake_tinker.base_url, api_key=API_KEY)
    try:
        assert client.copy_weights("tinker://run/weights/a", ttl_seconds=3600).result(10) == (
            "tinker://copy/weights/a"
        )
    finally:
        client.close("success").result(10)


@pytest.mark.anyio
async def test_copy_weights_async(fake_tinker: FakeTinker) -> None:
    fake_tinker.server.expect_request("/api/v1/copy_weights").respond_with_json(
        {"tinker_path": "tinker://copy/weights/b"}
    )
    client = ServiceClient(project_id="archive", base_url=fake_tinker.base_url, api_key=API_KEY)
    try:
        assert await client.copy_weights_async("tinker://run/weights/b") == (
            "tinker://copy/weights/b"
        )
    finally:
        await client.close("success")


def test_session_messages_are_logged_and_interrupt_is_reported(
    fake_tinker: FakeTinker, caplog: pytest.LogCaptureFixture
) -> None:
    fake_tinker.session_messages = {"info_message": "hi", "warning_message": "careful"}
    client = ServiceClient(base_url=fake_tinker.base_url, api_key=API_KEY)
    assert client.holder is not None
    assert client.get_telemetry() is None

    def work() -> None:
        with client:
            client.create_sampling_client(base_model=BASE_MODEL).result(10)
            raise KeyboardInterrupt

    with caplog.at_level("INFO", logger="tinkex"), pytest.raises(KeyboardInterrupt):
        work()
    assert {"hi", "careful"} <= {r.getMessage() for r in caplog.records}
    assert fake_tinker.bodies("finish")[0]["reason"] == {"type": "interrupted"}


def test_clean_exit_finishes_with_success(fake_tinker: FakeTinker) -> None:
    with ServiceClient(base_url=fake_tinker.base_url, api_key=API_KEY) as client:
        client.create_sampling_client(base_model=BASE_MODEL).result(10)
    assert fake_tinker.bodies("finish")[0]["reason"] == {"type": "success"}


def test_telemetry_reports_session_start_and_end_on_close(
    fake_tinker: FakeTinker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINKER_TELEMETRY", "1")
    batches: list[dict[str, object]] = []

    def accept(request: Request) -> Response:
        batches.append(json.loads(request.get_data()))
        return Response(json.dumps({"status": "accepted"}), content_type="application/json")

    fake_tinker.server.expect_request("/api/v1/telemetry").respond_with_handler(accept)
    with ServiceClient(base_url=fake_tinker.base_url, api_key=API_KEY) as client:
        client.create_sampling_client(base_model=BASE_MODEL).result(10)
        assert client.get_telemetry() is not None
    kinds = [event["event"] for batch in batches for event in batch["events"]]  # type: ignore[attr-defined]
    assert kinds == ["SESSION_START", "SESSION_END"]
    assert all(batch["session_id"] == SESSION_ID for batch in batches)
    assert API_KEY not in json.dumps(batches)


def test_close_gives_up_on_an_unreachable_finish_instead_of_retrying_for_minutes(
    fake_tinker: FakeTinker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finishing a session is a courtesy (the server expires it without heartbeats); a dead
    server must not hold `with ServiceClient(...)` for the 15-minute retry budget."""
    monkeypatch.setattr(service_module, "FINISH_TIMEOUT_S", 0.2)
    fake_tinker.fail("finish", 503, times=1000)
    client = ServiceClient(base_url=fake_tinker.base_url, api_key=API_KEY)
    with client:
        client.create_sampling_client(base_model=BASE_MODEL).result(10)
    assert fake_tinker.bodies("finish")
    assert client.close("success").result(1) is None
