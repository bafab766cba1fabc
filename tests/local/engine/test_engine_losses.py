"""Each built-in loss matches a direct PyTorch computation on the same model: value and grads."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pytest
import torch

from tinkex.local.engine import AdamConfig, EngineDatum, TrainingSession, UserInputError
from tinkex.local.engine.losses import get_loss, ppo, resolve_config

MakeDatum = Callable[..., EngineDatum]
Direct = Callable[[torch.Tensor, Mapping[str, torch.Tensor]], torch.Tensor]
TEXTS = ["The capital of Peru is Lima.", "3 plus 4 is 7.", "The owl greets the hare."]


def _ratio(lp: torch.Tensor, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.exp(lp - x["logprobs"])


DIRECT: dict[str, tuple[dict[str, float], Direct]] = {
    "cross_entropy": ({}, lambda lp, x: -(x["weights"] * lp).sum()),
    "importance_sampling": ({}, lambda lp, x: -(_ratio(lp, x) * x["advantages"]).sum()),
    "ppo": (
        {"clip_low_threshold": 0.5, "clip_high_threshold": 1.5},
        lambda lp, x: (
            -torch.min(
                _ratio(lp, x) * x["advantages"],
                _ratio(lp, x).clamp(0.5, 1.5) * x["advantages"],
            ).sum()
        ),
    ),
    "cispo": (
        {},
        lambda lp, x: -(_ratio(lp, x).clamp(0.8, 1.2).detach() * lp * x["advantages"]).sum(),
    ),
    "dro": (
        {"beta": 0.3},
        lambda lp, x: -(lp * x["advantages"] - 0.15 * (lp - x["logprobs"]) ** 2).sum(),
    ),
}


def _warm(session: TrainingSession, make_datum: MakeDatum) -> None:
    """One step so that LoRA B is non-zero and every adapter tensor gets a gradient."""
    session.forward_backward([make_datum(t) for t in TEXTS], "cross_entropy")
    session.optim_step(AdamConfig(learning_rate=1e-2))


def _grads(session: TrainingSession) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in session.parameters.items() if p.grad is not None}


def _direct(
    session: TrainingSession, data: list[EngineDatum], formula: Direct
) -> tuple[float, list[np.ndarray], dict[str, torch.Tensor]]:
    """The loss computed datum by datum (no padding) straight on the peft model."""
    total = torch.zeros(())
    per_datum: list[np.ndarray] = []
    with session.host.using(session.adapter) as model:
        for datum in data:
            ids = torch.tensor([list(datum.tokens)])
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            targets = torch.as_tensor(datum.loss_fn_inputs["target_tokens"])
            index = targets if targets.ndim == 2 else targets[:, None]
            lp = logprobs.gather(-1, index).reshape(targets.shape)
            inputs = {
                k: torch.as_tensor(v, dtype=torch.float32)
                for k, v in datum.loss_fn_inputs.items()
                if k != "target_tokens"
            }
            total = total + formula(lp, inputs)
            per_datum.append(lp.detach().numpy())
        torch.autograd.backward(total)
    grads = _grads(session)
    session.optimizer.zero_grad(set_to_none=True)
    return float(total.detach()), per_datum, grads


@pytest.mark.parametrize("loss_fn", sorted(DIRECT))
def test_loss_value_and_gradients_match_direct_torch(
    session: TrainingSession, make_datum: MakeDatum, loss_fn: str
) -> None:
    _warm(session, make_datum)
    config, formula = DIRECT[loss_fn]
    data = [make_datum(text, seed=i) for i, text in enumerate(TEXTS)]
    value, logprobs, expected = _direct(session, data, formula)

    result = session.forward_backward(data, loss_fn, config)

    assert result.metrics["loss:sum"] == pytest.approx(value, rel=1e-4, abs=1e-4)
    for output, lp, datum in zip(result.outputs, logprobs, data, strict=True):
        assert output["logprobs"].dtype == np.float32
        assert output["logprobs"].shape == datum.loss_fn_inputs["target_tokens"].shape
        np.testing.assert_allclose(output["logprobs"], lp, rtol=1e-4, atol=1e-5)
    got = _grads(session)
    assert got.keys() == expected.keys()
    assert len(got) == len(session.parameters)
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-5)


def test_topk_cross_entropy_uses_two_dimensional_targets_and_weights(
    session: TrainingSession, make_datum: MakeDatum
) -> None:
    _warm(session, make_datum)
    rng = np.random.default_rng(3)
    plain = make_datum(TEXTS[0])
    n = len(plain.tokens)
    targets = rng.integers(0, 1024, size=(n, 4)).astype(np.int64)
    weights = rng.dirichlet(np.ones(4), size=n).astype(np.float32)
    datum = EngineDatum(plain.tokens, {"target_tokens": targets, "weights": weights})
    value, logprobs, expected = _direct(session, [datum], DIRECT["cross_entropy"][1])

    result = session.forward_backward([datum], "cross_entropy")

    assert result.outputs[0]["logprobs"].shape == (n, 4)
    np.testing.assert_allclose(result.outputs[0]["logprobs"], logprobs[0], rtol=1e-4, atol=1e-5)
    assert result.metrics["loss:sum"] == pytest.approx(value, rel=1e-4)
    for name, grad in expected.items():
        torch.testing.assert_close(session.parameters[name].grad, grad, rtol=1e-4, atol=1e-5)


def test_negative_weights_push_logprobs_down(
    session: TrainingSession, make_datum: MakeDatum
) -> None:
    n = len(make_datum(TEXTS[0]).tokens)
    datum = make_datum(TEXTS[0], weights=np.full(n, -1.0, dtype=np.float32))
    before = session.forward([datum], "cross_entropy").metrics["loss:sum"]
    session.forward_backward([datum], "cross_entropy")
    session.optim_step(AdamConfig(learning_rate=1e-2))
    after = session.forward([datum], "cross_entropy").metrics["loss:sum"]
    assert after < before  # loss = +sum(lp): it falls as the logprobs fall


def test_ppo_stops_the_gradient_once_the_ratio_leaves_the_clip_range() -> None:
    lp = torch.tensor([0.0, 0.0], requires_grad=True)
    inputs = {"logprobs": torch.tensor([-1.0, -0.05]), "advantages": torch.tensor([1.0, 1.0])}
    config = resolve_config(get_loss("ppo"), None)
    torch.autograd.backward(ppo(lp, inputs, config).loss)
    assert lp.grad is not None
    assert lp.grad[0] == 0.0  # ratio e^1 > 1.2 with a positive advantage: clipped
    assert lp.grad[1] < 0.0  # ratio e^0.05 inside the range: gradient flows


def test_per_token_clip_thresholds_override_the_config(
    session: TrainingSession, make_datum: MakeDatum
) -> None:
    _warm(session, make_datum)
    plain = make_datum(TEXTS[0])
    n = len(plain.tokens)
    wide = {
        "clip_low_threshold": np.full(n, 0.1, "f4"),
        "clip_high_threshold": np.full(n, 9.0, "f4"),
    }
    datum = EngineDatum(plain.tokens, {**plain.loss_fn_inputs, **wide})
    config = {"clip_low_threshold": 0.1, "clip_high_threshold": 9.0}
    by_input = session.forward([datum], "ppo").metrics["loss:sum"]
    by_config = session.forward([plain], "ppo", config).metrics["loss:sum"]
    assert by_input == pytest.approx(by_config, rel=1e-6)
    assert by_input != pytest.approx(session.forward([plain], "ppo").metrics["loss:sum"])


def test_loss_config_defaults_and_overrides() -> None:
    assert resolve_config(get_loss("ppo"), None) == {
        "clip_low_threshold": 0.8,
        "clip_high_threshold": 1.2,
    }
    assert resolve_config(get_loss("dro"), {"beta": 2}) == {"beta": 2.0}


@pytest.mark.parametrize(
    ("loss_fn", "config", "field"),
    [
        ("nope", None, "loss_fn"),
        ("ppo", {"beta": 1.0}, "loss_fn_config['beta']"),
        ("dro", {"beta": "high"}, "loss_fn_config['beta']"),
        ("cross_entropy", {"clip_low_threshold": 0.1}, "loss_fn_config['clip_low_threshold']"),
    ],
)
def test_bad_loss_or_config_is_a_user_error(
    loss_fn: str, config: dict[str, float | str] | None, field: str
) -> None:
    with pytest.raises(UserInputError, match=field.replace("[", r"\[")):
        resolve_config(get_loss(loss_fn), config)
