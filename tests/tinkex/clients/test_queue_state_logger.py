"""Queue-state warnings: training waits out a 15-minute grace, sampling warns at once,
both at most once a minute."""

from __future__ import annotations

import logging

import pytest

from pristine.futures import QueueState
from pristine.testing import FakeClock
from tinkex.clients.queue_state import sampling_queue_logger, training_queue_logger

LOGGER = "tinkex.clients.queue_state"


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_training_pause_is_reported_only_after_the_grace_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    log = training_queue_logger("sess:train:0", clock)
    with caplog.at_level(logging.WARNING, LOGGER):
        log(QueueState("paused_capacity"))
        clock.advance(14 * 60)
        log(QueueState("paused_capacity"))
        assert _messages(caplog) == []
        clock.advance(61)
        log(QueueState("paused_capacity"))
    assert _messages(caplog) == [
        "Training for sess:train:0 is paused. Reason: "
        "Tinker backend is running short on capacity, please wait."
    ]


def test_training_warnings_are_throttled_to_one_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    log = training_queue_logger("m", clock, "Model creation")
    with caplog.at_level(logging.WARNING, LOGGER):
        log(QueueState("paused_rate_limit"))
        clock.advance(15 * 60)
        log(QueueState("paused_rate_limit"))
        clock.advance(30)
        log(QueueState("paused_rate_limit"))
        clock.advance(31)
        log(QueueState("paused_rate_limit", "too many runs"))
    assert _messages(caplog) == [
        "Model creation for m is paused. Reason: concurrent training clients rate limit hit.",
        "Model creation for m is paused. Reason: too many runs.",
    ]


def test_becoming_active_restarts_the_grace_period(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    log = training_queue_logger("m", clock)
    with caplog.at_level(logging.WARNING, LOGGER):
        log(QueueState("paused_capacity"))
        clock.advance(10 * 60)
        log(QueueState("active"))
        clock.advance(1)
        log(QueueState("paused_capacity"))
        clock.advance(10 * 60)
        log(QueueState("paused_capacity"))
    assert _messages(caplog) == []


def test_sampling_pause_is_reported_at_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    log = sampling_queue_logger("sess:sample:0", clock)
    with caplog.at_level(logging.WARNING, LOGGER):
        log(QueueState("active"))
        log(QueueState("paused_rate_limit"))
        log(QueueState("unknown"))
        clock.advance(60)
        log(QueueState("unknown"))
    assert _messages(caplog) == [
        "Sampling is paused for sampler sess:sample:0. "
        "Reason: concurrent sampler weights limit hit",
        "Sampling is paused for sampler sess:sample:0. Reason: unknown",
    ]
