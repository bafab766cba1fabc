"""`RecoveryExecutor`: a fresh training client from the latest checkpoint, after a backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from tinkex.recovery.policy import RecoveryPolicy

__all__ = ["Checkpoint", "RecoveryExecutor", "Restorer"]

logger = logging.getLogger("tinkex.recovery")

C_co = TypeVar("C_co", covariant=True)
C = TypeVar("C")


class _Pending(Protocol[C_co]):
    def result(self, timeout: float | None = None) -> C_co: ...


class Restorer(Protocol[C_co]):
    """The `ServiceClient` methods that load a checkpoint into a new training client."""

    def create_training_client_from_state(self, path: str) -> _Pending[C_co]: ...

    def create_training_client_from_state_with_optimizer(self, path: str) -> _Pending[C_co]: ...


@dataclass(frozen=True)
class Checkpoint:
    """A saved training state and the number of steps it contains."""

    step: int
    path: str


class RecoveryExecutor(Generic[C]):
    """Waits out the policy's backoff, then loads `checkpoint` into a new training client.

    The old client is left alone (its requests may still be failing); the caller swaps it.
    """

    def __init__(
        self,
        service: Restorer[C],
        policy: RecoveryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._service = service
        self._policy = policy
        self._sleep = sleep

    def restore(self, checkpoint: Checkpoint, attempt: int) -> C:
        delay = self._policy.backoff(attempt)
        if delay > 0:
            logger.info("recovery: waiting %.1f s before restore attempt %d", delay, attempt)
            self._sleep(delay)
        logger.info(
            "recovery: attempt %d/%d, restoring %s (step %d)%s",
            attempt,
            self._policy.max_attempts,
            checkpoint.path,
            checkpoint.step,
            "" if self._policy.restore_optimizer else " without optimizer state",
        )
        if self._policy.restore_optimizer:
            pending = self._service.create_training_client_from_state_with_optimizer(
                checkpoint.path
            )
        else:
            pending = self._service.create_training_client_from_state(checkpoint.path)
        return pending.result(timeout=self._policy.timeout_s)
