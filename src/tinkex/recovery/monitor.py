"""Detecting that a training run failed, and whether restoring a checkpoint can fix it.

A run fails in a few recognisable ways: the server is unreachable (connection refused, a
circuit breaker open), a call or a future takes too long, the server answers 5xx or asks
to slow down, it answers 410 (e.g. the model was lost in a server restart: the local server
refuses such a model at once), a future comes back failed, a client is poisoned by an
earlier failure, or the server flags the run `corrupted`. Those are worth a restore; a
malformed request or a rejected key is not, as replaying it would fail the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pristine.errors import APIConnectionError, APIStatusError, CircuitOpenError
from pristine.futures import RequestFailedError

__all__ = [
    "Failure",
    "FailureKind",
    "RunCorruptedError",
    "RunMonitor",
    "classify",
    "is_recoverable",
]

logger = logging.getLogger("tinkex.recovery")

FailureKind = Literal[
    "unreachable", "timeout", "server_error", "failed_future", "poisoned", "corrupted", "other"
]

_RETRYABLE_STATUSES = frozenset({408, 409, 410, 429})


class RunCorruptedError(RuntimeError):
    """The server reports the run's state as corrupted (a step died half way)."""


@dataclass(frozen=True)
class Failure:
    """One failure of the run: at which step, what happened, and whether it is recovered."""

    step: int
    kind: FailureKind
    error: BaseException
    recoverable: bool
    restoring: bool = False
    """True when restoring the checkpoint of `step` failed, rather than the step itself."""

    def describe(self) -> str:
        what = f"restore to step {self.step}" if self.restoring else f"step {self.step}"
        return f"{what} failed ({self.kind}: {type(self.error).__name__}: {self.error})"


def classify(error: BaseException) -> FailureKind:
    """The kind of failure `error` is (`other` for anything not caused by the server)."""
    if isinstance(error, RunCorruptedError):
        return "corrupted"
    if isinstance(error, RequestFailedError):
        return "failed_future"
    if isinstance(error, TimeoutError):  # APIFuture.result and pristine's APITimeoutError
        return "timeout"
    if isinstance(error, APIConnectionError | CircuitOpenError | ConnectionError):
        return "unreachable"
    if isinstance(error, APIStatusError) and (
        error.status_code >= 500 or error.status_code in _RETRYABLE_STATUSES
    ):
        return "server_error"
    if type(error).__name__ == "PoisonedClientError":
        return "poisoned"
    return "other"


def is_recoverable(error: BaseException) -> bool:
    """The default rule: every server-side failure counts; input and auth errors do not.

    A failed future counts whatever its category, since the server may fail it for a reason
    only a restore fixes; one that fails because of its own input fails again on replay, and
    `max_attempts` ends that. A model lost in a restart is answered 410, which counts too.
    """
    return classify(error) != "other"


class _Pending(Protocol):
    def result(self, timeout: float | None = None) -> Any: ...


class RunInfoSource(Protocol):
    """The `RestClient` method the monitor polls."""

    def get_training_run(self, training_run_id: str) -> _Pending: ...


class RunMonitor:
    """Checks a run's health on the server between steps (`corrupted` flag)."""

    def __init__(self, rest: RunInfoSource, *, timeout_s: float = 60.0) -> None:
        self._rest = rest
        self._timeout_s = timeout_s

    def check(self, training_run_id: str) -> None:
        """Raise RunCorruptedError when the server flags the run; errors reaching the server
        propagate (they are failures of their own)."""
        run = self._rest.get_training_run(training_run_id).result(timeout=self._timeout_s)
        if getattr(run, "corrupted", False):
            raise RunCorruptedError(
                f"the server flags run {training_run_id} as corrupted; restoring its last "
                "checkpoint"
            )
