"""`RecoverableTrainingLoop`: run N steps, checkpoint every K, restore and resume on failure.

The loop owns the step counter and the checkpoints, so a restore is exact: the training
state is saved (weights and optimizer) after every `checkpoint_every` completed steps, and
after a failure the executor loads the newest such checkpoint into a fresh client and the
loop resumes at the step that checkpoint contains. Steps after it are run again on the new
client, whose state never saw them, so every optimizer step lands exactly once in the
final weights; a step that completed on the old client is discarded with it.

`step_fn(client, step)` must submit the step's requests and wait for them (with a timeout:
a `TimeoutError` counts as a failure), e.g. `forward_backward` + `optim_step` + `.result()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from tinkex.recovery.executor import Checkpoint, RecoveryExecutor, Restorer
from tinkex.recovery.monitor import Failure, RunMonitor, classify
from tinkex.recovery.policy import RecoveryPolicy

__all__ = [
    "RecoverableTrainingLoop",
    "RecoveryCallbacks",
    "RecoveryExhaustedError",
    "RecoveryResult",
    "TrainingLike",
    "run_with_recovery",
]

logger = logging.getLogger("tinkex.recovery")


class _Pending(Protocol):
    def result(self, timeout: float | None = None) -> Any: ...


class TrainingLike(Protocol):
    """What the loop needs of a training client (tinkex's or the official one)."""

    @property
    def model_id(self) -> str: ...

    def save_state(self, name: str) -> _Pending: ...


C = TypeVar("C", bound=TrainingLike)


class RecoveryExhaustedError(RuntimeError):
    """`max_attempts` restores in a row did not get a step through; the cause is chained."""


@dataclass(frozen=True)
class RecoveryCallbacks(Generic[C]):
    """Hooks called from the loop's thread; an exception raised in one ends the run."""

    on_step_end: Callable[[int, C], None] | None = None
    """(step index, client) after a step completed (and its checkpoint, if due, was saved)."""
    on_checkpoint: Callable[[Checkpoint], None] | None = None
    on_failure: Callable[[Failure], None] | None = None
    """Every failure, recoverable or not, before anything is done about it."""
    on_recovery: Callable[[C, C, Checkpoint], None] | None = None
    """(old client, new client, checkpoint restored) once a restore succeeded."""


@dataclass(frozen=True)
class RecoveryResult(Generic[C]):
    client: C
    """The client that finished the run (a new one after a restore)."""
    steps_completed: int
    checkpoint: Checkpoint
    """The last checkpoint saved (the final state: the last step always saves)."""
    recoveries: int
    failures: tuple[Failure, ...] = field(default=())


class RecoverableTrainingLoop(Generic[C]):
    """Runs `step_fn` for steps `[start, num_steps)` and survives server-side failures."""

    def __init__(
        self,
        service: Restorer[C],
        client: C,
        step_fn: Callable[[C, int], object],
        *,
        policy: RecoveryPolicy | None = None,
        callbacks: RecoveryCallbacks[C] | None = None,
        monitor: RunMonitor | None = None,
        name: str = "recovery",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`monitor` checks the run's health before every step; `name` prefixes the
        checkpoint names (`<name>-step-000010`); `sleep` waits out the backoff."""
        self._policy = policy or RecoveryPolicy()
        self._executor = RecoveryExecutor(service, self._policy, sleep=sleep)
        self._client = client
        self._step_fn = step_fn
        self._callbacks = callbacks or RecoveryCallbacks()
        self._monitor = monitor
        self._name = name
        self._failures: list[Failure] = []
        self._recoveries = 0

    def run(self, num_steps: int, *, resume_from: Checkpoint | None = None) -> RecoveryResult[C]:
        """Train until `num_steps` steps are done; resume at `resume_from.step` if given.

        Without `resume_from` the client's current state is saved first as step 0, so even
        a failure in the first steps has a checkpoint to go back to.
        """
        if num_steps < 0:
            raise ValueError(f"num_steps must be >= 0, got {num_steps}")
        client = self._client
        checkpoint = resume_from or self._save(client, 0)
        if checkpoint.step > num_steps:
            raise ValueError(
                f"resume_from: checkpoint {checkpoint.path} holds {checkpoint.step} steps, more "
                f"than num_steps={num_steps}"
            )
        step, attempt = checkpoint.step, 0
        while step < num_steps:
            try:
                saved = self._step(client, step, num_steps)
            except Exception as error:
                self._fail(step, error)
                client, attempt = self._restore(client, checkpoint, attempt)
                step = checkpoint.step
                continue
            step, attempt = step + 1, 0
            checkpoint = saved or checkpoint
            if self._callbacks.on_step_end is not None:
                self._callbacks.on_step_end(step - 1, client)
        return RecoveryResult(client, step, checkpoint, self._recoveries, tuple(self._failures))

    def _step(self, client: C, step: int, num_steps: int) -> Checkpoint | None:
        """Run one step and, when due, save the state it leads to."""
        if self._monitor is not None:
            self._monitor.check(client.model_id)
        self._step_fn(client, step)
        done = step + 1
        if done % self._policy.checkpoint_every == 0 or done == num_steps:
            return self._save(client, done)
        return None

    def _save(self, client: C, step: int) -> Checkpoint:
        saved = client.save_state(f"{self._name}-step-{step:06d}").result(self._policy.timeout_s)
        checkpoint = Checkpoint(step, str(saved.path))
        logger.info("recovery: saved %s (step %d)", checkpoint.path, step)
        if self._callbacks.on_checkpoint is not None:
            self._callbacks.on_checkpoint(checkpoint)
        return checkpoint

    def _fail(self, step: int, error: Exception, *, restoring: bool = False) -> None:
        """Record a failure; raise it unless the policy recovers it."""
        recoverable = self._policy.recoverable(error)
        failure = Failure(step, classify(error), error, recoverable, restoring)
        self._failures.append(failure)
        logger.warning(
            "recovery: %s%s", failure.describe(), "" if failure.recoverable else "; not recovered"
        )
        if self._callbacks.on_failure is not None:
            self._callbacks.on_failure(failure)
        if not failure.recoverable:
            raise error

    def _restore(self, client: C, checkpoint: Checkpoint, attempt: int) -> tuple[C, int]:
        """A new client on `checkpoint`, retrying failed restores; the attempts used so far."""
        while True:
            attempt += 1
            if attempt > self._policy.max_attempts:
                cause = self._failures[-1].error
                raise RecoveryExhaustedError(
                    f"gave up after {self._policy.max_attempts} restore(s) of {checkpoint.path} "
                    f"without a completed step; last failure: {type(cause).__name__}: {cause}"
                ) from cause
            try:
                restored = self._executor.restore(checkpoint, attempt)
            except Exception as error:
                self._fail(checkpoint.step, error, restoring=True)
                continue
            self._recoveries += 1
            logger.info("recovery: resumed at step %d on %s", checkpoint.step, restored.model_id)
            if self._callbacks.on_recovery is not None:
                self._callbacks.on_recovery(client, restored, checkpoint)
            return restored, attempt


def run_with_recovery(
    service: Restorer[C],
    client: C,
    step_fn: Callable[[C, int], object],
    num_steps: int,
    *,
    policy: RecoveryPolicy | None = None,
    callbacks: RecoveryCallbacks[C] | None = None,
    monitor: RunMonitor | None = None,
    resume_from: Checkpoint | None = None,
    name: str = "recovery",
) -> RecoveryResult[C]:
    """`RecoverableTrainingLoop(...).run(num_steps)` in one call."""
    loop = RecoverableTrainingLoop(
        service, client, step_fn, policy=policy, callbacks=callbacks, monitor=monitor, name=name
    )
    return loop.run(num_steps, resume_from=resume_from)
