"""Dimuon: a Muon step (orthogonalised momentum) on every LoRA matrix, with resumable state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from tinkex.local.engine import (
    AdamConfig,
    AdapterHost,
    DimuonConfig,
    EngineDatum,
    LoraSpec,
    TrainingSession,
    UserInputError,
    load_training_state,
    save_training_state,
)

Encode = Callable[[str], list[int]]
TEXT = "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\nTeal."


def _datum(encode: Encode) -> EngineDatum:
    ids = encode(TEXT)
    return EngineDatum(ids[:-1], {"target_tokens": np.array(ids[1:])})


def _dimuon(host: AdapterHost, name: str) -> TrainingSession:
    return TrainingSession.create(host, name, LoraSpec(rank=4, seed=3), "dimuon")


def _weights(session: TrainingSession) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in session.parameters.items()}


def test_a_step_moves_each_matrix_by_an_orthogonalised_update(
    host: AdapterHost, encode: Encode
) -> None:
    """Muon's signature: the update of a matrix has all singular values close to one (times
    the RMS-matching scale), whatever the gradient's spectrum."""
    session = _dimuon(host, "muon")
    before = _weights(session)
    session.forward_backward([_datum(encode)], "cross_entropy")
    grads = {
        k: p.grad.detach().clone() for k, p in session.parameters.items() if p.grad is not None
    }
    lr = 1e-3
    session.optim_step(DimuonConfig(learning_rate=lr, beta1=0.9))

    moved = 0
    for name, grad in grads.items():
        if not bool(grad.abs().sum() > 0):
            continue  # LoRA A gets no gradient while B is zero
        delta = (before[name] - session.parameters[name].detach()).double()
        scale = lr * 0.2 * max(delta.shape) ** 0.5
        singular = torch.linalg.svdvals(delta / scale)
        rank = min(delta.shape)
        assert singular[:rank].min() > 0.5, name
        assert singular.max() < 1.5, name
        gradient_spectrum = torch.linalg.svdvals(grad.double())
        assert gradient_spectrum[0] / gradient_spectrum[rank - 1] > 2, name
        moved += 1
    assert moved > 0
    assert session.optimizer_kind == "dimuon"


def test_dimuon_learns_a_memorisation_task(host: AdapterHost, encode: Encode) -> None:
    session = _dimuon(host, "learner")
    losses = []
    for _ in range(8):
        losses.append(
            session.forward_backward([_datum(encode)], "cross_entropy").metrics["loss:sum"]
        )
        session.optim_step(DimuonConfig(learning_rate=2e-2))
    assert losses[-1] < 0.5 * losses[0]


def test_momentum_is_saved_and_restored_exactly(
    host: AdapterHost, encode: Encode, tmp_path: Path
) -> None:
    """Resuming from save_state continues bit for bit, momentum included."""
    step = DimuonConfig(learning_rate=1e-2, beta1=0.8, grad_clip_norm=1.0)
    data = [_datum(encode)]
    original = _dimuon(host, "original")
    for _ in range(2):
        original.forward_backward(data, "cross_entropy")
        original.optim_step(step)
    save_training_state(original, tmp_path / "state")
    resumed = load_training_state(host, "resumed", tmp_path / "state", with_optimizer=True)
    assert resumed.optimizer_kind == "dimuon"
    for session in (original, resumed):
        session.forward_backward(data, "cross_entropy")
        session.optim_step(step)
    after = _weights(resumed)
    assert all(torch.equal(value, after[key]) for key, value in _weights(original).items())
    fresh = load_training_state(host, "fresh", tmp_path / "state", with_optimizer=False)
    assert fresh.optimizer_kind == "adamw"
    with pytest.raises(UserInputError, match="optimizer state"):
        load_training_state(
            host, "clash", tmp_path / "state", with_optimizer=True, optimizer="adamw"
        )


def test_hyper_parameters_must_match_the_family(host: AdapterHost) -> None:
    dimuon = _dimuon(host, "d")
    with pytest.raises(UserInputError, match=r"optimizer_params \(DimuonParams\)"):
        dimuon.optim_step(AdamConfig())
    adam = TrainingSession.create(host, "a", LoraSpec(rank=2))
    with pytest.raises(UserInputError, match=r"adam_params \(AdamParams\)"):
        adam.optim_step(DimuonConfig(learning_rate=1e-3))
    with pytest.raises(UserInputError, match=r"optimizer_params\.beta1"):
        dimuon.optim_step(DimuonConfig(learning_rate=1e-3, beta1=1.0))
