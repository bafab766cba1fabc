"""compose(): totals, per-regularizer metrics, gradient norms, concurrency and training."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

import pytest
import torch

from tinkex.regularizers import (
    L1,
    L2,
    ComposedLoss,
    Entropy,
    Metrics,
    Orthogonality,
    WeightedRegularizer,
    compose,
)
from tinkex.types import Datum

MakeBatch = Callable[..., tuple[list[Datum], list[torch.Tensor]]]
"""The ``make_batch`` fixture of conftest.py."""


def nll(data: list[Datum], logprobs: list[torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
    """A base loss like cross-entropy: minus the summed logprobs."""
    loss = -torch.cat(logprobs).sum()
    return loss, {"nll:sum": float(loss.detach())}


def _norm(value: torch.Tensor, inputs: list[torch.Tensor]) -> float:
    grads = torch.autograd.grad(value, inputs, retain_graph=True)
    return float(torch.cat([g.reshape(-1) for g in grads]).norm())


def test_total_and_metrics_match_the_terms(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch()
    loss_fn = compose(nll, [(L1(), 0.1), (Entropy(), 2.0)])
    total, metrics = loss_fn(data, logprobs)

    base, _ = nll(data, logprobs)
    l1, _ = L1()(data, logprobs)
    entropy, _ = Entropy()(data, logprobs)
    expected = base + 0.1 * l1 + 2.0 * entropy
    assert float(total.detach()) == pytest.approx(float(expected.detach()))
    assert metrics["nll:sum"] == pytest.approx(float(base.detach()))
    assert metrics["base_loss:sum"] == pytest.approx(float(base.detach()))
    assert metrics["l1_sparsity:sum"] == pytest.approx(float(l1.detach()))
    assert metrics["l1_sparsity/contribution:sum"] == pytest.approx(0.1 * float(l1.detach()))
    assert metrics["entropy/entropy:mean"] == pytest.approx(float(entropy.detach()))
    assert metrics["regularizer_total:sum"] == pytest.approx(
        float((0.1 * l1 + 2.0 * entropy).detach())
    )
    assert metrics["loss_total:sum"] == pytest.approx(float(total.detach()))
    assert metrics["base_loss/grad_norm:mean"] == pytest.approx(_norm(base, logprobs))
    assert metrics["l1_sparsity/grad_norm:mean"] == pytest.approx(_norm(l1, logprobs))
    assert metrics["entropy/grad_norm_weighted:mean"] == pytest.approx(
        2.0 * _norm(entropy, logprobs)
    )
    assert metrics["total_grad_norm:mean"] == pytest.approx(_norm(expected, logprobs))
    (grad_total,) = torch.autograd.grad(total, logprobs[1], retain_graph=True)
    (grad_expected,) = torch.autograd.grad(expected, logprobs[1])
    torch.testing.assert_close(grad_total, grad_expected)


def test_without_gradients_or_tracking_no_norms_are_reported(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch()
    detached = [lp.detach() for lp in logprobs]
    _, metrics = compose(nll, [(L1(), 1.0)])(data, detached)
    assert not any("grad_norm" in key for key in metrics)
    _, metrics = compose(nll, [(L1(), 1.0)], track_grad_norms=False)(data, logprobs)
    assert not any("grad_norm" in key for key in metrics)


def test_non_scalar_losses_are_summed_and_constant_terms_have_zero_norm(
    make_batch: MakeBatch,
) -> None:
    data, logprobs = make_batch()

    def per_token(data: list[Datum], logprobs: list[torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        return -torch.cat(logprobs), {}

    def constant(data: list[Datum], logprobs: list[torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        return torch.tensor([1.0, 2.0], dtype=torch.float64), {}

    class Constant:
        name = "constant"
        __call__ = staticmethod(constant)

    total, metrics = compose(per_token, [(Constant(), 1.0)])(data, logprobs)
    assert float(total.detach()) == pytest.approx(-float(torch.cat(logprobs).sum().detach()) + 3.0)
    assert metrics["constant/grad_norm:mean"] == 0.0


def test_regularizers_alone_and_weighted_objects(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch()
    loss_fn = compose(None, [WeightedRegularizer(L2(), 0.5)])
    total, metrics = loss_fn(data, logprobs)
    assert float(total.detach()) == pytest.approx(0.5 * float(L2()(data, logprobs)[0].detach()))
    assert "base_loss:sum" not in metrics
    assert isinstance(loss_fn, ComposedLoss)


def test_parallel_gives_the_same_result_and_really_overlaps(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch()
    both_started = threading.Barrier(2, timeout=10)

    class Rendezvous:
        """Returns only once the other regularizer runs at the same time."""

        def __init__(self, name: str) -> None:
            self.name = name

        def __call__(
            self, data: list[Datum], logprobs: list[torch.Tensor]
        ) -> tuple[torch.Tensor, Metrics]:
            both_started.wait()
            return torch.cat(logprobs).square().sum(), {}

    items = [(Rendezvous("a"), 1.0), (Rendezvous("b"), 2.0)]
    total, metrics = compose(nll, items, parallel=True)(data, logprobs)
    squares = torch.cat(logprobs).square().sum()
    assert float(total.detach()) == pytest.approx(
        float((nll(data, logprobs)[0] + 3 * squares).detach())
    )
    assert metrics["b/contribution:sum"] == pytest.approx(2 * float(squares.detach()))

    sequential = compose(nll, [(L1(), 0.1), (Orthogonality(), 1.0)])(data, logprobs)
    parallel = compose(nll, [(L1(), 0.1), (Orthogonality(), 1.0)], parallel=True)(data, logprobs)
    assert sequential[1] == pytest.approx(parallel[1])


def test_a_failing_regularizer_is_named(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch()

    class Broken:
        name = "broken"

        def __call__(
            self, data: list[Datum], logprobs: list[torch.Tensor]
        ) -> tuple[torch.Tensor, Metrics]:
            raise KeyError("field")

    with pytest.raises(RuntimeError, match="regularizer 'broken' failed"):
        compose(nll, [(Broken(), 1.0)])(data, logprobs)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([(L1(), 1.0), (L1(lam=2.0), 1.0)], "'l1_sparsity' is used twice"),
        ([(L1(name=""), 1.0)], r"regularizers\[0\] has an empty name"),
        ([(L1(), -0.1)], "weight of regularizer 'l1_sparsity' must be >= 0"),
        ([(L1(), float("nan"))], "weight of regularizer 'l1_sparsity' must be a finite"),
    ],
)
def test_bad_compositions_are_refused(items: list[tuple[L1, float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compose(nll, items)


def test_timeout_must_be_finite() -> None:
    with pytest.raises(ValueError, match="timeout"):
        compose(nll, [], timeout=float("inf"))


def test_a_regularized_loss_lowers_the_penalty_over_steps(make_batch: MakeBatch) -> None:
    """Plain torch: logits -> per-token logprobs -> composed loss -> Adam steps."""
    torch.manual_seed(0)
    data, _ = make_batch(lengths=(6, 6))
    logits = torch.randn(2, 6, 8, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 8, (2, 6))
    loss_fn = compose(nll, [(Entropy(), 1.0), (L1(), 0.05)])
    optimizer = torch.optim.Adam([logits], lr=0.1)

    def step() -> Metrics:
        optimizer.zero_grad()
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])[..., 0]
        total, metrics = loss_fn(data, list(logprobs))
        torch.autograd.backward(total)
        optimizer.step()
        return metrics

    first = step()
    for _ in range(30):
        last = step()
    assert last["entropy:sum"] < 0.5 * first["entropy:sum"]
    assert last["l1_sparsity:sum"] < first["l1_sparsity:sum"]
    assert last["loss_total:sum"] < first["loss_total:sum"]


def test_importing_tinkex_does_not_import_torch() -> None:
    code = "import sys, tinkex, tinkex.types, tinkex.archive; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
