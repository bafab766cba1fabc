"""Exactly-once training under faults: a supervised run through the fault proxy at a 30 %
fault rate ends with the same LoRA weights, bit for bit, as the same run without faults.

Each fault kind hits the client differently: 5xx/429/408 and a reset before the server saw
the request are plain retries; a reset after the server processed it, a truncated body or a
response held past the client's deadline make the client resend a request the server already
ran. Only then does the server's de-duplication by `seq_id` keep a step from running twice,
which would double a gradient and change the weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

from reliability_kit import Served, scaled, sl_batch
from safetensors.torch import load_file

from tinkex import types
from tinkex.clients.service import ServiceClient
from tinkex.local.config import DEFAULT_MODELS
from tinkex.testing import FaultKind, FaultOptions, FaultProxy, FaultRates

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
MODEL = DEFAULT_MODELS[0]
STEPS = scaled(10, 50)
CALL_DEADLINE_S = 120.0
ATTEMPT_TIMEOUT_S = 1.0
# The faults after which the server has run the request but the client cannot know it.
SERVER_RAN_IT = (FaultKind.RESET_AFTER, FaultKind.TRUNCATE, FaultKind.SLOW)
FAULTS = FaultRates(
    server_error=0.05,
    rate_limit=0.04,
    request_timeout=0.04,
    reset_before=0.05,
    reset_after=0.05,
    truncate=0.04,
    slow=0.03,
)


class HasResult(Protocol[T_co]):
    def result(self, timeout: float | None = None) -> T_co: ...


class Timed:
    """Waits for futures with a deadline and records how long each one took."""

    def __init__(self) -> None:
        self.took: list[float] = []

    def __call__(self, future: HasResult[T]) -> T:
        started = time.monotonic()
        result = future.result(CALL_DEADLINE_S)
        self.took.append(time.monotonic() - started)
        return result


def run(service: ServiceClient, name: str, timed: Timed) -> None:
    """Train STEPS steps from a fixed seed, then save the state as checkpoint `name`."""
    training = timed(service.create_lora_training_client(MODEL, rank=4, seed=7))
    for step in range(STEPS):
        fwd_bwd = training.forward_backward(sl_batch(step), "cross_entropy")
        optim = training.optim_step(types.AdamParams(learning_rate=1e-2))
        timed(fwd_bwd)
        timed(optim)
    timed(training.save_state(name))


def checkpoint_dir(data_dir: Path, name: str) -> Path:
    (found,) = [p for p in data_dir.rglob(name) if (p / "adapter_model.safetensors").is_file()]
    return found


def test_faulty_run_matches_clean_run_bit_for_bit(
    served: Served, make_service: Callable[..., ServiceClient]
) -> None:
    clean = make_service(served.url, timeout_cap_s=ATTEMPT_TIMEOUT_S)
    run(clean, "clean", Timed())
    options = FaultOptions(retry_after=0.05, slow_delay=4 * ATTEMPT_TIMEOUT_S)
    with FaultProxy(served.url, rates=FAULTS, seed=1234, options=options) as proxy:
        for path in ("create_model", "forward_backward", "optim_step", "save_weights"):
            proxy.script(SERVER_RAN_IT, path=f"/api/v1/{path}")
        faulty = make_service(proxy.base_url, timeout_cap_s=ATTEMPT_TIMEOUT_S)
        timed = Timed()
        run(faulty, "faulty", timed)
        counts = proxy.counts
    injected = sum(n for kind, n in counts.items() if kind is not FaultKind.NONE)
    assert injected >= 0.15 * sum(counts.values()), counts
    assert max(timed.took) < CALL_DEADLINE_S

    expected = checkpoint_dir(served.data_dir, "clean")
    actual = checkpoint_dir(served.data_dir, "faulty")
    want, got = (load_file(d / "adapter_model.safetensors") for d in (expected, actual))
    assert want.keys() == got.keys()
    for key in want:
        assert want[key].equal(got[key]), key
    optimizer = load_file(actual / "optimizer.safetensors")
    steps = {value.item() for key, value in optimizer.items() if key.endswith(".step")}
    assert steps == {float(STEPS)}, "the server ran a different number of optimizer steps"


@pytest.mark.parametrize("fault", [FaultKind.RESET_BEFORE, FaultKind.RESET_AFTER])
def test_save_state_survives_a_lost_connection(
    served: Served, make_service: Callable[..., ServiceClient], fault: FaultKind
) -> None:
    """The save endpoints have no HTTP-level retries; the holder-level ones must cover them."""
    with FaultProxy(served.url) as proxy:
        service = make_service(proxy.base_url, timeout_cap_s=ATTEMPT_TIMEOUT_S)
        training = service.create_lora_training_client(MODEL, rank=2, seed=1).result(60)
        proxy.script([fault], path="/api/v1/save_weights")
        saved = training.save_state(f"after-{fault.value}").result(CALL_DEADLINE_S)
        assert proxy.counts[fault] == 1
    assert saved.path.endswith(f"/weights/after-{fault.value}")
