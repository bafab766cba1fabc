"""Training semantics: accumulation, forward purity, exact AdamW steps, learning."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from tinkex.local.engine import (
    AdamConfig,
    AdapterHost,
    EngineDatum,
    LoraSpec,
    TrainingSession,
    UserInputError,
)

MakeDatum = Callable[..., EngineDatum]
TEXTS = ["The capital of Kenya is Nairobi.", "5 plus 2 is 7.", "The wolf chases the crow."]


def _snapshot(session: TrainingSession) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in session.parameters.items()}


def _grads(session: TrainingSession) -> dict[str, torch.Tensor | None]:
    return {
        name: None if p.grad is None else p.grad.clone() for name, p in session.parameters.items()
    }


def _warm(session: TrainingSession, make_datum: MakeDatum) -> None:
    session.forward_backward([make_datum(t) for t in TEXTS], "cross_entropy")
    session.optim_step(AdamConfig(learning_rate=1e-2))


def test_gradients_accumulate_across_calls_until_optim_step(
    session: TrainingSession, make_datum: MakeDatum
) -> None:
    _warm(session, make_datum)
    data = [make_datum(t, seed=i) for i, t in enumerate(TEXTS)]
    session.forward_backward(data, "cross_entropy")
    union = _grads(session)
    session.optimizer.zero_grad(set_to_none=True)

    first = session.forward_backward(data[:1], "cross_entropy")
    second = session.forward_backward(data[1:], "cross_entropy")

    for name, grad in _grads(session).items():
        expected = union[name]
        assert grad is not None
        assert expected is not None
        torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-6)
    assert len(first.outputs) == 1
    assert len(second.outputs) == 2
    session.optim_step(AdamConfig())
    assert all(p.grad is None for p in session.parameters.values())


def test_forward_leaves_gradients_and_weights_untouched(
    session: TrainingSession, make_datum: MakeDatum
) -> None:
    data = [make_datum(t) for t in TEXTS]
    session.forward_backward(data[:1], "cross_entropy")
    grads, weights = _grads(session), _snapshot(session)

    result = session.forward(data, "importance_sampling")

    assert len(result.outputs) == 3
    for name, grad in _grads(session).items():
        assert grad is not None
        expected = grads[name]
        assert expected is not None
        assert torch.equal(grad, expected)
    for name, value in _snapshot(session).items():
        assert torch.equal(value, weights[name])


def test_engine_step_is_bit_identical_to_a_plain_torch_step(
    host: AdapterHost, make_datum: MakeDatum
) -> None:
    """Same data, same adapter init: the engine's step equals loss.backward + AdamW by hand."""
    engine = TrainingSession.create(host, "engine", LoraSpec(rank=4, seed=7))
    manual = TrainingSession.create(host, "manual", LoraSpec(rank=4, seed=7))
    before = zip(_snapshot(engine).values(), _snapshot(manual).values(), strict=True)
    assert all(torch.equal(a, b) for a, b in before)
    rows = [list(host.base.tokenizer.encode(t)) for t in TEXTS]
    width = min(len(row) for row in rows)  # equal lengths: no padding on either side
    data = [
        EngineDatum(row[: width - 1], {"target_tokens": np.array(row[1:width])}) for row in rows
    ]
    adam = AdamConfig(learning_rate=3e-3, beta1=0.8, beta2=0.9, eps=1e-8, weight_decay=0.01)
    params = list(manual.parameters.values())
    optimizer = torch.optim.AdamW(
        params, lr=3e-3, betas=(0.8, 0.9), eps=1e-8, weight_decay=0.01, foreach=False
    )
    for _ in range(2):
        engine.forward_backward(data, "cross_entropy")
        engine.optim_step(adam)
        with host.using("manual") as model:
            batch = torch.tensor([d.tokens for d in data])
            logprobs = torch.log_softmax(model(input_ids=batch).logits.float(), dim=-1)
            targets = torch.tensor(np.stack([d.loss_fn_inputs["target_tokens"] for d in data]))
            loss = -logprobs.gather(-1, targets[..., None]).sum()
            torch.autograd.backward(loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    for (name, a), b in zip(_snapshot(engine).items(), _snapshot(manual).values(), strict=True):
        assert torch.equal(a, b), name


def test_supervised_loss_falls_on_a_memorisation_task(
    session: TrainingSession, encode: Callable[[str], list[int]]
) -> None:
    ids = encode("<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\nTeal.")
    datum = EngineDatum(
        ids[:-1],
        {"target_tokens": np.array(ids[1:]), "weights": np.ones(len(ids) - 1, np.float32)},
    )
    losses = []
    for _ in range(10):
        losses.append(session.forward_backward([datum], "cross_entropy").metrics["loss:sum"])
        session.optim_step(AdamConfig(learning_rate=5e-3))
    assert losses[-1] < 0.5 * losses[0]
    assert losses == sorted(losses, reverse=True)


def test_grad_clip_norm_bounds_the_gradient(
    session: TrainingSession, make_datum: MakeDatum
) -> None:
    _warm(session, make_datum)
    session.forward_backward([make_datum(t) for t in TEXTS], "cross_entropy")
    grads = [p.grad for p in session.parameters.values() if p.grad is not None]
    norm = float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])))
    clipped = torch.cat([g.flatten().clone() for g in grads]) * (0.5 / norm)

    metrics = session.optim_step(AdamConfig(learning_rate=0.0, grad_clip_norm=0.5))

    assert metrics["grad_norm:mean"] == pytest.approx(norm, rel=1e-5)
    assert float(torch.linalg.vector_norm(clipped)) == pytest.approx(0.5, rel=1e-5)


def test_adapters_train_independently_over_one_base(
    host: AdapterHost, make_datum: MakeDatum
) -> None:
    first = TrainingSession.create(host, "first", LoraSpec(rank=4, seed=1))
    second = TrainingSession.create(host, "second", LoraSpec(rank=4, seed=2, train_mlp=False))
    untouched = _snapshot(second)
    data = [make_datum(t) for t in TEXTS]
    for _ in range(2):
        first.forward_backward(data, "cross_entropy")
        first.optim_step(AdamConfig(learning_rate=1e-2))
    assert all(torch.equal(v, untouched[k]) for k, v in _snapshot(second).items())
    assert not any("mlp" in name for name in second.parameters)
    assert host.adapters == ["first", "second"]
    out_first = first.forward(data, "cross_entropy").metrics["loss:sum"]
    out_second = second.forward(data, "cross_entropy").metrics["loss:sum"]
    assert out_first != out_second


@pytest.mark.parametrize(
    ("adam", "field"),
    [
        (AdamConfig(learning_rate=-1.0), "learning_rate"),
        (AdamConfig(beta1=1.0), "beta1"),
        (AdamConfig(beta2=-0.1), "beta2"),
        (AdamConfig(eps=0.0), "eps"),
        (AdamConfig(weight_decay=-1.0), "weight_decay"),
        (AdamConfig(grad_clip_norm=-1.0), "grad_clip_norm"),
    ],
)
def test_bad_adam_params_are_user_errors(
    session: TrainingSession, adam: AdamConfig, field: str
) -> None:
    with pytest.raises(UserInputError, match=f"adam_params.{field}"):
        session.optim_step(adam)


def test_lora_spec_is_validated(host: AdapterHost) -> None:
    with pytest.raises(UserInputError, match="rank"):
        TrainingSession.create(host, "x", LoraSpec(rank=0))
    with pytest.raises(UserInputError, match="train_attn"):
        TrainingSession.create(
            host, "y", LoraSpec(rank=2, train_attn=False, train_mlp=False, train_unembed=False)
        )
    TrainingSession.create(host, "z", LoraSpec(rank=2))
    with pytest.raises(UserInputError, match="exists already"):
        TrainingSession.create(host, "z", LoraSpec(rank=2))


def test_lora_seed_fixes_the_initial_weights_without_touching_global_rng(
    host: AdapterHost,
) -> None:
    state = torch.random.get_rng_state()
    one = TrainingSession.create(host, "one", LoraSpec(rank=4, seed=9))
    same = TrainingSession.create(host, "same", LoraSpec(rank=4, seed=9))
    other = TrainingSession.create(host, "other", LoraSpec(rank=4, seed=10))
    assert torch.equal(torch.random.get_rng_state(), state)
    a_weights = [k for k in one.parameters if "lora_A" in k]
    assert a_weights
    assert all(torch.equal(one.parameters[k], same.parameters[k]) for k in a_weights)
    assert not any(torch.equal(one.parameters[k], other.parameters[k]) for k in a_weights)
