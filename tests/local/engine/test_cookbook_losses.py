"""The cookbook's RL losses, stable_reinforce and gspo: value and gradients against a direct
PyTorch computation on the same model, and the properties each is chosen for."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest
import torch

from tinkex.local.engine import AdamConfig, EngineDatum, TrainingSession
from tinkex.local.engine.losses import (
    LossFn,
    get_loss,
    gspo,
    resolve_config,
    stable_reinforce,
)

MakeDatum = Callable[..., EngineDatum]
Formula = Callable[[torch.Tensor, Mapping[str, torch.Tensor]], torch.Tensor]
TEXTS = ["The capital of Peru is Lima.", "3 plus 4 is 7.", "The owl greets the hare."]
WIDE = {"clip_low_threshold": 0.5, "clip_high_threshold": 1.5}


def _stable_reinforce(high: float) -> Formula:
    def formula(lp: torch.Tensor, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        ratio = torch.exp(lp - x["logprobs"]).clamp(0.0, high).detach()
        return -(ratio * lp * x["advantages"]).sum()

    return formula


def _gspo(low: float, high: float) -> Formula:
    """Zheng et al. (2025), token-level form, written out independently of the engine."""

    def formula(lp: torch.Tensor, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        mask = x.get("sequence_ratio_mask", (x["advantages"] != 0).float())
        n = mask.sum()
        s = torch.exp((mask * (lp - x["logprobs"])).sum() / n)
        s_t = s.detach() * torch.exp(lp) / torch.exp(lp).detach()
        a = x["advantages"]
        return -(mask * torch.min(s_t * a, s_t.clamp(low, high) * a)).sum() / n

    return formula


CASES: dict[str, tuple[str, dict[str, float], Formula]] = {
    "stable_reinforce-defaults": ("stable_reinforce", {}, _stable_reinforce(2.0)),
    "stable_reinforce-cap": (
        "stable_reinforce",
        {"clip_high_threshold": 1.1},
        _stable_reinforce(1.1),
    ),
    "gspo-defaults": ("gspo", {}, _gspo(1 - 3e-4, 1 + 4e-4)),
    "gspo-wide": ("gspo", WIDE, _gspo(0.5, 1.5)),
}


def _with_prompt(datum: EngineDatum, prompt: int, mask: bool) -> EngineDatum:
    """Zero advantages on the first `prompt` positions, as the cookbook pads observations."""
    inputs = dict(datum.loss_fn_inputs)
    advantages = inputs["advantages"].copy()
    advantages[:prompt] = 0.0
    inputs["advantages"] = advantages
    if mask:
        ratio_mask = np.ones_like(advantages)
        ratio_mask[: prompt - 1] = 0.0  # one prompt position inside: it differs from A != 0
        inputs["sequence_ratio_mask"] = ratio_mask
    return EngineDatum(datum.tokens, inputs)


def _direct(
    session: TrainingSession, data: list[EngineDatum], formula: Formula
) -> tuple[float, dict[str, torch.Tensor]]:
    """The loss datum by datum (no padding) straight on the peft model, and its gradients."""
    total = torch.zeros(())
    with session.host.using(session.adapter) as model:
        for datum in data:
            logits = model(input_ids=torch.tensor([list(datum.tokens)])).logits[0].float()
            targets = torch.as_tensor(datum.loss_fn_inputs["target_tokens"])
            lp = torch.log_softmax(logits, -1).gather(-1, targets[:, None])[:, 0]
            inputs = {
                key: torch.as_tensor(value, dtype=torch.float32)
                for key, value in datum.loss_fn_inputs.items()
                if key != "target_tokens"
            }
            total = total + formula(lp, inputs)
        torch.autograd.backward(total)
    grads = {n: p.grad.clone() for n, p in session.parameters.items() if p.grad is not None}
    session.optimizer.zero_grad(set_to_none=True)
    return float(total.detach()), grads


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_value_and_gradients_match_direct_torch(
    session: TrainingSession, make_datum: MakeDatum, case: str, mask: bool
) -> None:
    session.forward_backward([make_datum(t) for t in TEXTS], "cross_entropy")
    session.optim_step(AdamConfig(learning_rate=1e-2))  # LoRA B non-zero: real ratios
    loss_fn, config, formula = CASES[case]
    data = [_with_prompt(make_datum(t, seed=i), 2, mask) for i, t in enumerate(TEXTS)]
    value, expected = _direct(session, data, formula)

    result = session.forward_backward(data, loss_fn, config)

    assert result.metrics["loss:sum"] == pytest.approx(value, rel=1e-4, abs=1e-5)
    got = {n: p.grad for n, p in session.parameters.items() if p.grad is not None}
    assert got.keys() == expected.keys()
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-6)


def _grad(loss: LossFn, lp: torch.Tensor, **inputs: torch.Tensor) -> torch.Tensor:
    """d loss / d lp with the loss's default settings."""
    lp = lp.clone().requires_grad_(True)
    output = loss(lp, inputs, resolve_config(get_loss(loss.__name__), None))
    torch.autograd.backward(output.loss)
    assert lp.grad is not None
    return lp.grad


def test_stable_reinforce_caps_the_ratio_but_silences_no_token() -> None:
    grad = _grad(
        stable_reinforce,
        torch.tensor([0.0, 0.0, -1.0]),
        logprobs=torch.tensor([-5.0, 0.0, -1.5]),  # ratios e^5 (stale sample), 1, e^0.5
        advantages=torch.tensor([1.0, -1.0, 1.0]),
    )
    torch.testing.assert_close(grad, torch.tensor([-2.0, 1.0, -float(np.exp(0.5))]))


def test_gspo_gradient_is_the_sequence_ratio_times_the_mean_token_gradient() -> None:
    lp, q = torch.tensor([-1.0, -2.0, -0.5, -3.0]), torch.tensor([-1.0, -2.1, -0.4, -3.0])
    advantages = torch.tensor([0.0, 2.0, 2.0, 2.0])  # a prompt position, then the sample
    grad = _grad(gspo, lp, logprobs=q, advantages=advantages)
    ratio = float(torch.exp((lp - q)[1:].mean()))
    assert 1 - 3e-4 < ratio < 1 + 4e-4  # inside the clip range: the gradient flows
    torch.testing.assert_close(grad, torch.tensor([0.0, -1.0, -1.0, -1.0]) * 2 * ratio / 3)


def test_gspo_clips_a_sequence_that_drifted_too_far() -> None:
    grad = _grad(
        gspo,
        torch.tensor([-1.0, -1.0]),
        logprobs=torch.tensor([-1.5, -1.5]),
        advantages=torch.tensor([1.0, 1.0]),
    )
    assert torch.equal(grad, torch.zeros(2))


def test_gspo_without_sampled_positions_is_zero_not_nan() -> None:
    lp = torch.tensor([-1.0, -2.0], requires_grad=True)
    inputs = {"logprobs": torch.tensor([-1.0, -1.0]), "advantages": torch.zeros(2)}
    output = gspo(lp, inputs, resolve_config(get_loss("gspo"), None))
    torch.autograd.backward(output.loss)
    assert float(output.loss.detach()) == 0.0
    assert lp.grad is not None
    assert torch.equal(lp.grad, torch.zeros(2))


def test_defaults_and_accepted_settings() -> None:
    assert resolve_config(get_loss("stable_reinforce"), None) == {
        "clip_low_threshold": 0.0,
        "clip_high_threshold": 2.0,
    }
    assert resolve_config(get_loss("gspo"), {"clip_high_threshold": 1.01}) == {
        "clip_low_threshold": pytest.approx(1 - 3e-4),
        "clip_high_threshold": 1.01,
    }
    assert get_loss("gspo").optional_inputs == ("sequence_ratio_mask",)
