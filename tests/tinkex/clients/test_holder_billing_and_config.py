"""Holder-level behaviour shared by the clients: training calls pause (not fail) while the
service answers 402, up to the billing pause limit; the dynamic client config is fetched at
start-up and refreshed in the background, keeping the last good values."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fake_tinker import API_KEY, BASE_MODEL, FakeTinker

from pristine.errors import NotFoundError, PaymentRequiredError
from pristine.testing import FakeClock
from tinkex import types
from tinkex.clients._holder import ClientHolder
from tinkex.clients.billing import BILLING_POLL_S, INCIDENT_RESET_S, BillingPause
from tinkex.clients.service import ServiceClient


def datum() -> types.Datum:
    return types.Datum(
        model_input=types.ModelInput.from_ints([1, 2, 3]),
        loss_fn_inputs={"target_tokens": [2, 3, 4], "weights": [1.0, 1.0, 1.0]},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def paused_service(fake_tinker: FakeTinker, clock: FakeClock) -> Iterator[ServiceClient]:
    """A client on a fake clock; without the background heartbeat (`with_session=False`),
    virtual time moves only when the billing pause sleeps."""
    holder = ClientHolder(
        base_url=fake_tinker.base_url, api_key=API_KEY, clock=clock, with_session=False
    )
    yield ServiceClient.from_holder(holder)
    holder.close()


def test_a_402_pauses_the_call_and_it_resumes_with_the_same_request(
    fake_tinker: FakeTinker,
    paused_service: ServiceClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    training = paused_service.create_lora_training_client(BASE_MODEL).result(10)
    fake_tinker.fail("forward_backward", 402, times=3)
    with caplog.at_level(logging.WARNING, logger="tinkex"):
        output = training.forward_backward([datum()], "cross_entropy").result(10)
    assert output.loss_fn_outputs
    attempts = [r for r in fake_tinker.requests if r.endpoint == "forward_backward"]
    assert len(attempts) == 4
    assert len({r.headers["X-Idempotency-Key"] for r in attempts}) == 1
    assert {r.body["seq_id"] for r in attempts} == {1}
    assert clock.sleeps == [BILLING_POLL_S] * 3
    paused = [r.message for r in caplog.records if "402 (billing problem" in r.message]
    assert len(paused) == 1
    assert "forward_backward is paused" in paused[0]


def test_the_pause_ends_at_the_servers_limit_with_an_error_saying_what_to_do(
    fake_tinker: FakeTinker, paused_service: ServiceClient, clock: FakeClock
) -> None:
    fake_tinker.config["billing_exception_max_pause_duration_sec"] = 12
    training = paused_service.create_lora_training_client(BASE_MODEL).result(10)
    fake_tinker.fail("forward_backward", 402, times=10)
    with pytest.raises(PaymentRequiredError) as info:
        training.forward_backward([datum()], "cross_entropy").result(10)
    message = str(info.value)
    assert "billing_exception_max_pause_duration_sec=12" in message
    assert "Fix the account's billing" in message
    assert clock.sleeps == [BILLING_POLL_S] * 3


@pytest.mark.anyio
async def test_an_incident_is_shared_and_ends_after_quiet_time(clock: FakeClock) -> None:
    pause = BillingPause(clock, lambda: 20.0)
    error = PaymentRequiredError("billing", status_code=402)
    for _ in range(4):  # 0, 5, 10, 15 s into the incident
        await pause.wait(error, "optim_step")
    with pytest.raises(PaymentRequiredError, match="for 20 s"):
        await pause.wait(error, "save_weights")
    clock.advance(INCIDENT_RESET_S + 1)
    await pause.wait(error, "optim_step")  # a new incident: the limit starts again


def test_dynamic_config_is_fetched_at_start_and_refreshed(
    fake_tinker: FakeTinker, clock: FakeClock
) -> None:
    fake_tinker.dynamic_config = {"refresh_interval_sec": 1, "sample_cancel_max_batch_size": 8}
    holder = ClientHolder(
        base_url=fake_tinker.base_url, api_key=API_KEY, clock=clock, heartbeat_interval_s=7
    )
    try:
        assert holder.get_client_dynamic_config() == types.ClientDynamicConfigResponse()
        holder.run_coroutine_threadsafe(holder.ensure_session()).result(10)
        assert holder.get_client_dynamic_config().sample_cancel_max_batch_size == 8
        fake_tinker.dynamic_config = {"refresh_interval_sec": 30, "sample_cancel_enabled": True}
        seen = len(fake_tinker.bodies("client/dynamic_config"))
        fake_tinker.wait_for("client/dynamic_config", seen + 2)
        assert holder.get_client_dynamic_config().sample_cancel_enabled is True
        fake_tinker.fail("client/dynamic_config", 500, times=2)
        seen = len(fake_tinker.bodies("client/dynamic_config"))
        fake_tinker.wait_for("client/dynamic_config", seen + 3)
        assert holder.get_client_dynamic_config().sample_cancel_enabled is True
    finally:
        holder.close()
    assert 10.0 in clock.sleeps  # 1 s is raised to the 10 s minimum
    assert 30.0 in clock.sleeps


def test_a_server_without_dynamic_config_means_defaults(fake_tinker: FakeTinker) -> None:
    fake_tinker.fail("client/dynamic_config", 404)
    fake_tinker.dynamic_config = {"sample_cancel_enabled": True}
    holder = ClientHolder(base_url=fake_tinker.base_url, api_key=API_KEY)
    try:
        holder.run_coroutine_threadsafe(holder.ensure_session()).result(10)
        assert holder.get_client_dynamic_config() == types.ClientDynamicConfigResponse()
    finally:
        holder.close()


def test_transient_failures_are_retried_by_the_holder_then_raised(
    fake_tinker: FakeTinker, paused_service: ServiceClient, clock: FakeClock
) -> None:
    training = paused_service.create_lora_training_client(BASE_MODEL).result(10)
    fake_tinker.fail("save_weights", 503, times=2)
    assert training.save_state("after-outage").result(10).path.endswith("after-outage")
    assert clock.sleeps == [1.0, 2.0]
    fake_tinker.fail("save_weights", 404)
    with pytest.raises(NotFoundError):
        training.save_state("gone").result(10)
    assert clock.sleeps == [1.0, 2.0]
