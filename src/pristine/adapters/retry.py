"""The retry policy as pure decisions: how long to wait, and whether to try again at all.

Nothing here sleeps or reads a clock; the pipeline passes in elapsed time, wall time and a
`random.Random`, so every schedule is testable without waiting.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Mapping
from dataclasses import dataclass

from pristine.manifest import RetryPolicy

__all__ = ["RetryDecision", "RetryState", "backoff_delay", "decide", "parse_retry_after"]


def parse_retry_after(headers: Mapping[str, str], now_wall: float) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, `retry-after` seconds or date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - now_wall)


def backoff_delay(policy: RetryPolicy, retry_number: int, rng: random.Random) -> float:
    """`base * 2**n` capped at `max_delay_s`, minus up to `jitter` of it at random.

    Jitter only shortens the delay, so the cap stays a true upper bound.
    """
    exponent = min(retry_number, 60)  # 2**60 s is already "forever"; avoids float overflow
    delay = min(policy.max_delay_s, policy.base_delay_s * 2.0**exponent)
    return delay * (1 - policy.jitter * rng.random())


@dataclass(frozen=True, slots=True)
class RetryState:
    """What the retry decision sees after one failed attempt."""

    attempts: int
    elapsed_s: float
    retryable: bool
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Retry after `delay_s`, or give up; `reason` says why (for telemetry and errors)."""

    retry: bool
    delay_s: float
    reason: str


def decide(policy: RetryPolicy, state: RetryState, rng: random.Random) -> RetryDecision:
    """The next step after a failed attempt."""
    if not state.retryable:
        return RetryDecision(False, 0.0, "not retryable")
    if state.attempts >= policy.max_attempts:
        return RetryDecision(False, 0.0, f"all {policy.max_attempts} attempts used")
    if policy.respect_retry_after and state.retry_after_s is not None:
        delay = min(state.retry_after_s, policy.max_retry_after_s)
    else:
        delay = backoff_delay(policy, state.attempts - 1, rng)
    if state.elapsed_s + delay > policy.deadline_s:
        return RetryDecision(False, 0.0, f"the {policy.deadline_s:g}s retry deadline would pass")
    return RetryDecision(True, delay, "retrying")
