"""Recovery end to end: the local server is stopped and restarted mid-run (same port, same
data directory), and the run completes from its last checkpoint.

The restart comes from the loop's `on_step_end` callback, so it always falls between the
same two steps. The restarted server has lost the model's in-memory state; the next step's
requests are refused at once (HTTP 410, the model is gone), the loop restores the last
checkpoint into a new client and replays the steps after it. The server-side count of
optimizer steps (AdamW's `step` in the saved optimizer state) and a bit-for-bit comparison
with an uninterrupted run show that no optimizer step was lost or applied twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

import torch
from safetensors.torch import load_file

from tinkex import types
from tinkex.clients.service import ServiceClient
from tinkex.clients.training import TrainingClient
from tinkex.local.config import DEFAULT_MODELS, ServerConfig
from tinkex.local.server import LocalServer
from tinkex.recovery import RecoveryCallbacks, RecoveryPolicy, run_with_recovery

MODEL = DEFAULT_MODELS[0]
STEPS = 8
CHECKPOINT_EVERY = 3
RESTART_AFTER_STEP = 4
"""Five steps done, the last checkpoint holds three: steps 3 and 4 are lost and replayed."""
WAIT_S = 120.0
ADAM = types.AdamParams(learning_rate=1e-2)


class RestartableServer:
    """A LocalServer that can be restarted on the same port and data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.config = ServerConfig(port=0, data_dir=data_dir)
        self.server = LocalServer(self.config)
        self.url = self.server.start()
        self.config = self.config.replace(port=int(self.url.rsplit(":", 1)[1]))
        self.restarts = 0

    def restart(self) -> None:
        self.server.stop()
        self.server = LocalServer(self.config)
        assert self.server.start() == self.url
        self.restarts += 1


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RestartableServer]:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    restartable = RestartableServer(tmp_path / "server")
    try:
        yield restartable
    finally:
        restartable.server.stop()


def batch(step: int) -> list[types.Datum]:
    tokens = [(7 * step + 3 * i) % 200 + 1 for i in range(8)]
    return [
        types.Datum(
            model_input=types.ModelInput.from_ints(tokens[:-1]),
            loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (len(tokens) - 1)},
        )
    ]


def train_step(client: TrainingClient, step: int) -> None:
    forward_backward = client.forward_backward(batch(step), "cross_entropy")
    optim = client.optim_step(ADAM)
    forward_backward.result(WAIT_S)
    optim.result(WAIT_S)


def stored(data_dir: Path, name: str) -> dict[str, torch.Tensor]:
    """The tensors of checkpoint `name` as the server keeps them, adapter and optimizer."""
    (directory,) = [p for p in data_dir.rglob(name) if (p / "optimizer.safetensors").is_file()]
    return {
        **load_file(directory / "adapter_model.safetensors"),
        **load_file(directory / "optimizer.safetensors"),
    }


def optimizer_steps(tensors: dict[str, torch.Tensor]) -> set[int]:
    return {int(value.item()) for key, value in tensors.items() if key.endswith(".step")}


def test_a_run_survives_a_server_restart_without_losing_or_repeating_a_step(
    server: RestartableServer,
) -> None:
    ran: list[tuple[str, int]] = []

    def step_fn(client: TrainingClient, step: int) -> None:
        train_step(client, step)
        ran.append((client.model_id, step))

    def restart_once(step: int, _client: TrainingClient) -> None:
        if step == RESTART_AFTER_STEP and server.restarts == 0:
            server.restart()

    policy = RecoveryPolicy(backoff_s=0, checkpoint_every=CHECKPOINT_EVERY, timeout_s=WAIT_S)
    with ServiceClient(base_url=server.url, api_key="tml-recovery-test") as service:
        first = service.create_lora_training_client(MODEL, rank=4, seed=3).result(WAIT_S)
        result = run_with_recovery(
            service,
            first,
            step_fn,
            STEPS,
            policy=policy,
            callbacks=RecoveryCallbacks(on_step_end=restart_once),
            name="rec",
        )
        clean = service.create_lora_training_client(MODEL, rank=4, seed=3).result(WAIT_S)
        for step in range(STEPS):
            train_step(clean, step)
        clean.save_state("clean-final").result(WAIT_S)

    assert server.restarts == 1
    assert (result.steps_completed, result.recoveries) == (STEPS, 1)
    assert [f.kind for f in result.failures] == ["server_error"]
    resumed = result.client.model_id
    assert resumed != first.model_id
    assert ran == [(first.model_id, s) for s in range(RESTART_AFTER_STEP + 1)] + [
        (resumed, s) for s in range(CHECKPOINT_EVERY, STEPS)
    ]
    data_dir = server.config.data_dir
    recovered = stored(data_dir, "rec-step-000008")
    assert optimizer_steps(stored(data_dir, "rec-step-000003")) == {3}
    assert optimizer_steps(recovered) == {STEPS}
    reference = stored(data_dir, "clean-final")
    assert recovered.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(recovered[key], value), key
