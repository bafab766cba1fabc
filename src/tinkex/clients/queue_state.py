"""Queue-state logging: tell the user why a request waits, without flooding the log.

While a future is pending the server reports a queue state (`active`, `paused_rate_limit`,
`paused_capacity`, `unknown`). A paused training request is normal for a while (the service
makes room), so training only warns once a pause has lasted 15 minutes; sampling warns at
once. Either way at most one warning a minute. Messages match the official client's.
"""

from __future__ import annotations

import logging

from pristine.futures import QueueState, QueueStateName
from pristine.ports.clock import Clock

__all__ = [
    "LOG_INTERVAL_S",
    "PAUSE_GRACE_S",
    "QueueStateLogger",
    "sampling_queue_logger",
    "training_queue_logger",
]

logger = logging.getLogger(__name__)

PAUSE_GRACE_S = 15 * 60.0
"""How long a training request may stay paused before the user is told."""
LOG_INTERVAL_S = 60.0
"""At most one warning per logger per interval."""

_CAPACITY_REASON = "Tinker backend is running short on capacity, please wait"


class QueueStateLogger:
    """A pristine `on_queue_state` callback that warns about pauses, throttled.

    `template` is formatted with `identifier` and `reason`; `rate_limit_reason` is the
    explanation used when the server gives none for `paused_rate_limit`.
    """

    def __init__(
        self,
        identifier: str,
        *,
        template: str,
        rate_limit_reason: str,
        clock: Clock,
        grace_s: float = 0.0,
        interval_s: float = LOG_INTERVAL_S,
    ) -> None:
        self.identifier = identifier
        self._template = template
        self._rate_limit_reason = rate_limit_reason
        self._clock = clock
        self._grace_s = grace_s
        self._interval_s = interval_s
        self._state: QueueStateName | None = None
        self._state_since = 0.0
        self._last_logged: float | None = None

    def __call__(self, queue_state: QueueState) -> None:
        now = self._clock.monotonic()
        if queue_state.state != self._state:
            self._state = queue_state.state
            self._state_since = now
        if queue_state.state == "active" or now - self._state_since < self._grace_s:
            return
        if self._last_logged is not None and now - self._last_logged < self._interval_s:
            return
        self._last_logged = now
        reason = queue_state.reason or self._default_reason(queue_state.state)
        logger.warning(self._template.format(identifier=self.identifier, reason=reason))

    def _default_reason(self, state: QueueStateName) -> str:
        if state == "paused_rate_limit":
            return self._rate_limit_reason
        if state == "paused_capacity":
            return _CAPACITY_REASON
        return "unknown"


def training_queue_logger(
    identifier: str, clock: Clock, message_prefix: str = "Training"
) -> QueueStateLogger:
    """Training and model creation: warn after 15 minutes paused, then once a minute."""
    return QueueStateLogger(
        identifier,
        template=message_prefix + " for {identifier} is paused. Reason: {reason}.",
        rate_limit_reason="concurrent training clients rate limit hit",
        clock=clock,
        grace_s=PAUSE_GRACE_S,
    )


def sampling_queue_logger(sampling_session_id: str, clock: Clock) -> QueueStateLogger:
    """Sampling: warn as soon as a sample is paused, then once a minute."""
    return QueueStateLogger(
        sampling_session_id,
        template="Sampling is paused for sampler {identifier}. Reason: {reason}",
        rate_limit_reason="concurrent sampler weights limit hit",
        clock=clock,
    )
