"""The recovery loop's bookkeeping, with scripted clients: which steps run, what is saved,
what is restored, when it gives up. The end-to-end run is in test_recovery_local_server.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pristine.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
)
from pristine.futures import RequestFailedError
from tinkex.recovery import (
    Checkpoint,
    Failure,
    RecoverableTrainingLoop,
    RecoveryCallbacks,
    RecoveryExhaustedError,
    RecoveryPolicy,
    RunCorruptedError,
    RunMonitor,
    classify,
    run_with_recovery,
)

FAST = RecoveryPolicy(backoff_s=0, checkpoint_every=3)


@dataclass(frozen=True)
class Done:
    value: Any

    def result(self, timeout: float | None = None) -> Any:
        return self.value


@dataclass(frozen=True)
class Saved:
    path: str


@dataclass
class Client:
    model_id: str
    saves: list[str] = field(default_factory=list)

    def save_state(self, name: str) -> Done:
        self.saves.append(name)
        return Done(Saved(f"tinker://{self.model_id}/weights/{name}"))


@dataclass
class Service:
    """Restores into clients named m1, m2, ...; `refusals` are raised by the first restores."""

    refusals: list[Exception] = field(default_factory=list)
    restored: list[tuple[str, bool]] = field(default_factory=list)

    def _restore(self, path: str, optimizer: bool) -> Done:
        self.restored.append((path, optimizer))
        if self.refusals:
            raise self.refusals.pop(0)
        return Done(Client(f"m{len(self.restored)}"))

    def create_training_client_from_state(self, path: str) -> Done:
        return self._restore(path, False)

    def create_training_client_from_state_with_optimizer(self, path: str) -> Done:
        return self._restore(path, True)


@dataclass
class Steps:
    """A step function failing with `errors[step]` (once each) and recording what ran."""

    errors: dict[int, list[Exception]] = field(default_factory=dict)
    ran: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, client: Client, step: int) -> None:
        pending = self.errors.get(step)
        if pending:
            raise pending.pop(0)
        self.ran.append((client.model_id, step))


def _failed_future() -> RequestFailedError:
    return RequestFailedError("model lost", request_id="r", category="user")


def test_a_clean_run_checkpoints_every_k_steps_and_at_the_end() -> None:
    client, steps = Client("m0"), Steps()
    checkpoints: list[Checkpoint] = []
    ended: list[int] = []
    callbacks = RecoveryCallbacks[Client](
        on_step_end=lambda step, _client: ended.append(step), on_checkpoint=checkpoints.append
    )

    result = run_with_recovery(Service(), client, steps, 7, policy=FAST, callbacks=callbacks)

    assert steps.ran == [("m0", i) for i in range(7)]
    assert ended == list(range(7))
    assert [c.step for c in checkpoints] == [0, 3, 6, 7]
    assert client.saves[-1] == "recovery-step-000007"
    assert (result.steps_completed, result.recoveries, result.failures) == (7, 0, ())
    assert result.checkpoint == checkpoints[-1]
    assert result.client is client


def test_a_failure_resumes_from_the_last_checkpoint_on_a_new_client() -> None:
    service, steps = Service(), Steps(errors={5: [_failed_future()]})
    swaps: list[tuple[str, str, int]] = []
    callbacks = RecoveryCallbacks[Client](
        on_recovery=lambda old, new, ckpt: swaps.append((old.model_id, new.model_id, ckpt.step))
    )

    result = run_with_recovery(service, Client("m0"), steps, 8, policy=FAST, callbacks=callbacks)

    assert steps.ran == [("m0", i) for i in range(5)] + [("m1", i) for i in range(3, 8)]
    assert service.restored == [("tinker://m0/weights/recovery-step-000003", True)]
    assert swaps == [("m0", "m1", 3)]
    assert result.client.model_id == "m1"
    assert (result.steps_completed, result.recoveries) == (8, 1)
    (failure,) = result.failures
    assert (failure.step, failure.kind, failure.recoverable) == (5, "failed_future", True)


def test_the_optimizer_state_can_be_left_out_of_a_restore() -> None:
    service = Service()
    policy = RecoveryPolicy(backoff_s=0, restore_optimizer=False)

    run_with_recovery(
        service, Client("m0"), Steps(errors={0: [_failed_future()]}), 1, policy=policy
    )

    assert service.restored == [("tinker://m0/weights/recovery-step-000000", False)]


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad datum"),
        BadRequestError("bad", status_code=400),
        AuthenticationError("who?", status_code=401),
    ],
)
def test_input_and_auth_errors_are_raised_without_a_restore(error: Exception) -> None:
    service, seen = Service(), list[Failure]()
    callbacks = RecoveryCallbacks[Client](on_failure=seen.append)

    with pytest.raises(type(error)):
        run_with_recovery(
            service, Client("m0"), Steps(errors={2: [error]}), 4, policy=FAST, callbacks=callbacks
        )

    assert service.restored == []
    assert [(f.step, f.recoverable) for f in seen] == [(2, False)]


def test_restores_in_a_row_are_bounded_and_back_off() -> None:
    waits: list[float] = []
    policy = RecoveryPolicy(max_attempts=3, backoff_s=1, max_backoff_s=3, checkpoint_every=1)
    steps = Steps(errors={1: [_failed_future() for _ in range(4)]})
    loop = RecoverableTrainingLoop(
        Service(), Client("m0"), steps, policy=policy, sleep=waits.append
    )

    with pytest.raises(RecoveryExhaustedError, match="gave up after 3 restore") as raised:
        loop.run(3)

    assert isinstance(raised.value.__cause__, RequestFailedError)
    assert waits == [1, 2, 3]
    assert steps.ran == [("m0", 0)]


def test_a_completed_step_resets_the_attempt_count() -> None:
    policy = RecoveryPolicy(max_attempts=1, backoff_s=0, checkpoint_every=1)
    steps = Steps(errors={1: [_failed_future()], 3: [_failed_future()]})

    result = run_with_recovery(Service(), Client("m0"), steps, 5, policy=policy)

    assert (result.steps_completed, result.recoveries) == (5, 2)


def test_a_failed_restore_is_retried() -> None:
    refused = APIConnectionError("connection refused")
    service = Service(refusals=[refused])
    steps = Steps(errors={4: [InternalServerError("down", status_code=503)]})

    result = run_with_recovery(service, Client("m0"), steps, 5, policy=FAST)

    assert [(f.kind, f.restoring) for f in result.failures] == [
        ("server_error", False),
        ("unreachable", True),
    ]
    assert result.failures[1].describe().startswith("restore to step 3 failed (unreachable")
    assert result.client.model_id == "m2"
    assert steps.ran[-2:] == [("m2", 3), ("m2", 4)]


@dataclass
class Runs:
    corrupted: set[str]

    def get_training_run(self, training_run_id: str) -> Done:
        return Done(type("Run", (), {"corrupted": training_run_id in self.corrupted})())


def test_the_monitor_turns_a_corrupted_run_into_a_restore() -> None:
    steps = Steps()
    monitor = RunMonitor(Runs({"m0"}))

    result = run_with_recovery(Service(), Client("m0"), steps, 2, policy=FAST, monitor=monitor)

    assert steps.ran == [("m1", 0), ("m1", 1)]
    assert isinstance(result.failures[0].error, RunCorruptedError)


def test_a_run_resumes_from_a_given_checkpoint_without_saving_a_baseline() -> None:
    client, steps = Client("m0"), Steps()
    start = Checkpoint(4, "tinker://old/weights/s4")

    result = run_with_recovery(Service(), client, steps, 6, policy=FAST, resume_from=start)

    assert steps.ran == [("m0", 4), ("m0", 5)]
    assert client.saves == ["recovery-step-000006"]
    assert result.steps_completed == 6


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (APIConnectionError("refused"), "unreachable"),
        (ConnectionRefusedError(), "unreachable"),
        (TimeoutError(), "timeout"),
        (InternalServerError("x", status_code=502), "server_error"),
        (RateLimitError("x", status_code=429), "server_error"),
        (_failed_future(), "failed_future"),
        (RunCorruptedError("x"), "corrupted"),
        (BadRequestError("x", status_code=400), "other"),
        (KeyError("x"), "other"),
    ],
)
def test_failures_are_classified(error: BaseException, kind: str) -> None:
    assert classify(error) == kind


@pytest.mark.parametrize(
    ("field_name", "value"),
    [("max_attempts", 0), ("checkpoint_every", 0), ("backoff_s", -1.0), ("timeout_s", 0.0)],
)
def test_bad_policies_name_the_field(field_name: str, value: float) -> None:
    make: Callable[..., RecoveryPolicy] = RecoveryPolicy
    with pytest.raises(ValueError, match=field_name):
        make(**{field_name: value})
