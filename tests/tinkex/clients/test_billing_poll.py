"""Polling a future pauses (not fails) while the service answers 402, like the official
client: the poll resumes when billing is fixed, and gives up with an error saying what to do
once the session's billing incident has lasted the server's pause limit."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fake_tinker import API_KEY, BASE_MODEL, FakeTinker

from pristine.errors import APIStatusError
from pristine.testing import FakeClock
from tinkex import types
from tinkex.clients._holder import ClientHolder
from tinkex.clients.dispatch import RetryConfig
from tinkex.clients.service import ServiceClient

PROMPT = types.ModelInput.from_ints([5, 6, 7])
PARAMS = types.SamplingParams(max_tokens=3, seed=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(fake_tinker: FakeTinker, clock: FakeClock) -> Iterator[ServiceClient]:
    """A client on a fake clock and without the heartbeat: virtual time moves only when the
    poll pauses."""
    holder = ClientHolder(
        base_url=fake_tinker.base_url, api_key=API_KEY, clock=clock, with_session=False
    )
    yield ServiceClient.from_holder(holder)
    holder.close()


def polls_answer_402(fake_tinker: FakeTinker, times: int) -> None:
    """The next `times` polls of any future answer 402 (before the fake's own route)."""
    for _ in range(times):
        fake_tinker.server.expect_oneshot_request("/api/v1/retrieve_future").respond_with_json(
            {"detail": "payment method declined"}, status=402
        )


def datum() -> types.Datum:
    return types.Datum(
        model_input=types.ModelInput.from_ints([1, 2, 3]),
        loss_fn_inputs={"target_tokens": [2, 3, 4], "weights": [1.0, 1.0, 1.0]},
    )


def test_a_poll_answered_402_pauses_then_returns_the_result(
    fake_tinker: FakeTinker,
    service: ServiceClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    training = service.create_lora_training_client(BASE_MODEL).result(10)
    polls_answer_402(fake_tinker, times=2)
    with caplog.at_level(logging.WARNING, logger="tinkex"):
        output = training.optim_step(types.AdamParams(learning_rate=1e-4)).result(10)
    assert output.metrics == {"step": 1.0}
    assert len(clock.sleeps) == 2
    assert all(0 < s <= 5.0 for s in clock.sleeps)
    paused = [r.message for r in caplog.records if "402 (billing problem" in r.message]
    assert len(paused) == 1  # logged once per minute, not per poll
    assert "optim_step is paused" in paused[0]


def test_a_sample_poll_answered_402_pauses_then_returns_the_result(
    fake_tinker: FakeTinker, service: ServiceClient, clock: FakeClock
) -> None:
    no_watchdog = RetryConfig(enable_stuck_detection=False)  # its sleep is virtual too
    sampler = service.create_sampling_client(base_model=BASE_MODEL, retry_config=no_watchdog)
    polls_answer_402(fake_tinker, times=2)
    result = sampler.sample(PROMPT, 1, PARAMS).result(10)
    assert result.sequences
    assert len(clock.sleeps) == 2


def test_polling_gives_up_at_the_servers_limit_saying_it_is_billing(
    fake_tinker: FakeTinker, service: ServiceClient, clock: FakeClock
) -> None:
    fake_tinker.config["billing_exception_max_pause_duration_sec"] = 12
    training = service.create_lora_training_client(BASE_MODEL).result(10)
    polls_answer_402(fake_tinker, times=30)
    with pytest.raises(APIStatusError) as info:
        training.forward_backward([datum()], "cross_entropy").result(10)
    assert info.value.status_code == 402
    message = str(info.value)
    assert "402 (billing problem)" in message
    assert "billing_exception_max_pause_duration_sec=12" in message
    assert "Fix the account's billing" in message
    assert 12 <= sum(clock.sleeps) < 12 + 5.0


def test_submissions_and_polls_share_one_incident(
    fake_tinker: FakeTinker, service: ServiceClient, clock: FakeClock
) -> None:
    fake_tinker.config["billing_exception_max_pause_duration_sec"] = 12
    training = service.create_lora_training_client(BASE_MODEL).result(10)
    fake_tinker.fail("optim_step", 402, times=2)  # 10 s of the 12 s spent submitting
    polls_answer_402(fake_tinker, times=30)
    with pytest.raises(APIStatusError, match="billing_exception_max_pause_duration_sec=12"):
        training.optim_step(types.AdamParams(learning_rate=1e-4)).result(10)
    assert sum(clock.sleeps) < 12 + 5.0
