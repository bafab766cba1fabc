"""Pause, don't fail, while the service answers 402 (a billing problem), up to a deadline.

A lapsed payment method should not kill a long training job: like the official client, a
402 to a submission waits `BILLING_POLL_S` and tries again (the same request, same
idempotency key), and a 402 while polling a future pauses the polling (`on_pause`), for at
most the server's `billing_exception_max_pause_duration_sec` from the first 402 of the
incident. Submissions, sampling and polls of one session share the incident, so the limit
is not restarted by every call; 5 minutes without a 402 ends it. While paused a warning is
logged at most once a minute; when the limit is reached the 402 error says what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pristine.errors import APIStatusError, PaymentRequiredError
from pristine.futures import FuturePolicy
from pristine.ports.clock import Clock

__all__ = ["BILLING_POLL_S", "FUTURE_POLICY", "BillingPause"]

BILLING_POLL_S = 5.0
FUTURE_POLICY = FuturePolicy(pause_statuses=frozenset({402}), pause_max_delay_s=BILLING_POLL_S)
"""How tinkex polls futures: the official defaults, pausing (not failing) on a 402."""
INCIDENT_RESET_S = 300.0
LOG_INTERVAL_S = 60.0
_logger = logging.getLogger("tinkex")


class BillingPause:
    """The billing incident of one session: when it began and when it was last logged."""

    def __init__(self, clock: Clock, max_pause_s: Callable[[], float]) -> None:
        self._clock = clock
        self._max_pause_s = max_pause_s
        self._first: float | None = None
        self._last_seen = 0.0
        self._last_logged: float | None = None

    async def wait(self, error: PaymentRequiredError, endpoint_id: str) -> None:
        """Sleep before the next attempt, or raise `error` once the pause limit is spent."""
        self.check(error, endpoint_id)
        await self._clock.sleep(BILLING_POLL_S)

    def on_pause(self, endpoint_id: str) -> Callable[[APIStatusError], bool]:
        """A `poll_future` `on_pause` callback: polling goes on within the incident's limit."""

        def keep_polling(error: APIStatusError) -> bool:
            self.check(error, endpoint_id)
            return True

        return keep_polling

    def check(self, error: APIStatusError, endpoint_id: str) -> None:
        """Record a 402 in the incident (warning at most once a minute); raise `error` with
        what to do once the incident has lasted the pause limit."""
        now = self._clock.monotonic()
        if self._first is None or now - self._last_seen > INCIDENT_RESET_S:
            self._first, self._last_logged = now, None
        self._last_seen = now
        paused, limit = now - self._first, self._max_pause_s()
        if paused >= limit:
            raise error.with_message(
                f"{endpoint_id}: the service has answered 402 (billing problem) for "
                f"{paused:.0f} s, the longest the client waits "
                f"(billing_exception_max_pause_duration_sec={limit:g}). Fix the account's "
                f"billing in the Tinker console, then run the call again. Server said: "
                f"{error.message}"
            )
        if self._last_logged is None or now - self._last_logged >= LOG_INTERVAL_S:
            self._last_logged = now
            _logger.warning(
                "%s is paused: the service answered 402 (billing problem: %s). Calls wait "
                "and resume once billing is fixed; they give up after %g s.",
                endpoint_id,
                error.message,
                limit,
            )
