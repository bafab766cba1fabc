"""Each penalty's value against numpy, and its gradient against finite differences."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch

from tinkex.regularizers import (
    L1,
    L2,
    Consistency,
    ElasticNet,
    Entropy,
    GradientPenalty,
    KLDivergence,
    Orthogonality,
    Regularizer,
)
from tinkex.types import Datum

MakeBatch = Callable[..., tuple[list[Datum], list[torch.Tensor]]]
"""The ``make_batch`` fixture of conftest.py."""


Arrays = list[npt.NDArray[np.float64]]


def _field(data: list[Datum], name: str) -> Arrays:
    return [d.loss_fn_inputs[name].to_numpy().astype(np.float64) for d in data]


def _flat(arrays: Arrays) -> npt.NDArray[np.float64]:
    return np.concatenate(arrays)


def _entropy(rows: Arrays, temperature: float = 1.0, normalize: bool = False) -> list[float]:
    out = []
    for row in rows:
        if temperature != 1.0:
            scaled = row / temperature
            row = scaled - math.log(np.exp(scaled).sum())
        h = -sum(math.exp(v) * v for v in row if v > -50)
        out.append(h / math.log(len(row)) if normalize else h)
    return out


def _kl(p_rows: Arrays, q_rows: Arrays) -> list[float]:
    return [
        sum(
            math.exp(a) * min(max(a - b, -100), 100)
            for a, b in zip(p, q, strict=True)
            if math.exp(a) > 1e-10
        )
        for p, q in zip(p_rows, q_rows, strict=True)
    ]


def _gram_penalty(rows: Arrays, mode: str) -> float:
    width = max(len(r) for r in rows)
    padded = [np.pad(r, (0, width - len(r))) / np.linalg.norm(r) for r in rows]
    total = 0.0
    for i, a in enumerate(padded):
        for j, b in enumerate(padded):
            g = float(a @ b)
            if i != j or mode == "hard":
                total += (g - (1.0 if i == j else 0.0)) ** 2
    return total


Expected = Callable[[list[Datum], Arrays], Any]

CASES: list[tuple[str, Callable[[], Regularizer], Expected, tuple[str, ...]]] = [
    ("l1_sum", lambda: L1(lam=0.5), lambda d, x: 0.5 * np.abs(_flat(x)).sum(), ()),
    (
        "l1_mean_probs",
        lambda: L1(target="probs", reduction="mean"),
        lambda d, x: np.exp(_flat(x)).mean(),
        (),
    ),
    ("l2_sum", lambda: L2(lam=2.0), lambda d, x: 2.0 * (_flat(x) ** 2).sum(), ()),
    (
        "l2_centered_clipped_mean",
        lambda: L2(reduction="mean", center="mean", clip=0.8),
        lambda d, x: (np.clip(_flat(x) - _flat(x).mean(), -0.8, 0.8) ** 2).mean(),
        (),
    ),
    ("l2_center_number", lambda: L2(center=-1.0), lambda d, x: ((_flat(x) + 1.0) ** 2).sum(), ()),
    (
        "elastic_net",
        lambda: ElasticNet(l1_ratio=0.3, lam=1.5),
        lambda d, x: 1.5 * (0.3 * np.abs(_flat(x)).sum() + 0.7 * (_flat(x) ** 2).sum()),
        (),
    ),
    (
        "elastic_net_mean",
        lambda: ElasticNet(reduction="mean"),
        lambda d, x: 0.5 * np.abs(_flat(x)).mean() + 0.5 * (_flat(x) ** 2).mean(),
        (),
    ),
    ("entropy_min", lambda: Entropy(), lambda d, x: float(np.mean(_entropy(x))), ()),
    (
        "entropy_max_sum",
        lambda: Entropy(mode="maximize", reduction="sum"),
        lambda d, x: -sum(_entropy(x)),
        (),
    ),
    (
        "entropy_temperature_normalized",
        lambda: Entropy(temperature=2.0, normalize=True),
        lambda d, x: float(np.mean(_entropy(x, 2.0, True))),
        (),
    ),
    (
        "kl_forward",
        lambda: KLDivergence(reference_field="ref"),
        lambda d, x: float(np.mean(_kl(x, _field(d, "ref")))),
        ("ref",),
    ),
    (
        "kl_reverse_sum",
        lambda: KLDivergence(reference_field="ref", direction="reverse", reduction="sum"),
        lambda d, x: sum(_kl(_field(d, "ref"), x)),
        ("ref",),
    ),
    (
        "kl_symmetric",
        lambda: KLDivergence(reference_field="ref", symmetric=True),
        lambda d, x: float(
            np.mean(
                [
                    (a + b) / 2
                    for a, b in zip(_kl(x, _field(d, "ref")), _kl(_field(d, "ref"), x), strict=True)
                ]
            )
        ),
        ("ref",),
    ),
    (
        "consistency_mse",
        lambda: Consistency(),
        lambda d, x: ((_flat(x) - _flat(_field(d, "original_logprobs"))) ** 2).mean(),
        ("original_logprobs",),
    ),
    (
        "consistency_l1_sum",
        lambda: Consistency(metric="l1", reduction="sum"),
        lambda d, x: np.abs(_flat(x) - _flat(_field(d, "original_logprobs"))).sum(),
        ("original_logprobs",),
    ),
    (
        "consistency_cosine",
        lambda: Consistency(pair_field="pair", metric="cosine"),
        lambda d, x: (
            1
            - _flat(x)
            @ _flat(_field(d, "pair"))
            / (np.linalg.norm(_flat(x)) * np.linalg.norm(_flat(_field(d, "pair"))))
        ),
        ("pair",),
    ),
    (
        "consistency_kl",
        lambda: Consistency(metric="kl"),
        lambda d, x: float(
            np.mean(
                [
                    0.5 * ((np.exp(p) * (p - q)).sum() + (np.exp(q) * (q - p)).sum())
                    for p, q in zip(x, _field(d, "original_logprobs"), strict=True)
                ]
            )
        ),
        ("original_logprobs",),
    ),
    ("orthogonality_soft", lambda: Orthogonality(), lambda d, x: _gram_penalty(x, "soft"), ()),
    (
        "orthogonality_hard",
        lambda: Orthogonality(mode="hard"),
        lambda d, x: _gram_penalty(x, "hard"),
        (),
    ),
    (
        "orthogonality_spectral",
        lambda: Orthogonality(mode="spectral"),
        lambda d, x: _gram_penalty(x, "soft"),
        (),
    ),
    (
        "gradient_penalty_output",
        lambda: GradientPenalty(loss_fn=lambda t: 0.3 * (t**2).sum(), target_norm=2.0),
        lambda d, x: (0.6 * np.linalg.norm(_flat(x)) - 2.0) ** 2,
        (),
    ),
]


@pytest.mark.parametrize(
    ("label", "factory", "expected", "fields"), CASES, ids=[c[0] for c in CASES]
)
def test_value_matches_an_independent_computation(
    make_batch: MakeBatch,
    label: str,
    factory: Callable[[], Regularizer],
    expected: Expected,
    fields: tuple[str, ...],
) -> None:
    data, logprobs = make_batch(fields=fields)
    loss, metrics = factory()(data, logprobs)
    arrays = [lp.detach().numpy() for lp in logprobs]
    assert loss.ndim == 0
    assert float(loss.detach()) == pytest.approx(expected(data, arrays), rel=1e-9, abs=1e-12)
    assert all(isinstance(v, float) for v in metrics.values())


@pytest.mark.parametrize(
    ("label", "factory", "expected", "fields"), CASES, ids=[c[0] for c in CASES]
)
def test_gradient_matches_finite_differences(
    make_batch: MakeBatch,
    label: str,
    factory: Callable[[], Regularizer],
    expected: Expected,
    fields: tuple[str, ...],
) -> None:
    data, logprobs = make_batch(fields=fields, seed=1)
    regularizer = factory()

    def loss_of(*tensors: torch.Tensor) -> torch.Tensor:
        return regularizer(data, list(tensors))[0]

    assert torch.autograd.gradcheck(loss_of, tuple(logprobs), eps=1e-6, atol=1e-5)
    (grad,) = torch.autograd.grad(loss_of(*logprobs), logprobs[0])
    if label.startswith(("kl", "consistency")):
        assert grad.abs().sum() > 0  # real gradients, not the zero of the Elixir version


def test_kl_with_compute_reference_and_metrics(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch()
    reference = [lp.detach() - 0.1 for lp in logprobs]
    loss, metrics = KLDivergence(compute_reference=lambda _: reference, reduction="sum")(
        data, logprobs
    )
    rows = _kl([lp.detach().numpy() for lp in logprobs], [r.numpy() for r in reference])
    assert float(loss.detach()) == pytest.approx(sum(rows))
    assert metrics["kl_max:max"] == pytest.approx(max(rows))
    assert metrics["kl_min:min"] == pytest.approx(min(rows))


def test_gradient_penalty_interpolated_uses_the_generator(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch(fields=("reference_logprobs",))
    penalty = GradientPenalty(
        loss_fn=lambda t: (t**3).sum(),
        mode="interpolated",
        generator=torch.Generator().manual_seed(7),
    )
    loss, metrics = penalty(data, logprobs)
    eps = float(torch.rand((), generator=torch.Generator().manual_seed(7), dtype=torch.float64))
    x = _flat([lp.detach().numpy() for lp in logprobs])
    ref = _flat(_field(data, "reference_logprobs"))
    hat = eps * x + (1 - eps) * ref
    norm = np.linalg.norm(3 * hat**2)
    assert metrics["gradient_norm:mean"] == pytest.approx(norm)
    assert float(loss.detach()) == pytest.approx((norm - 1.0) ** 2)
    torch.autograd.backward(loss)
    assert logprobs[0].grad is not None


def test_gradient_penalty_without_grad_inputs_still_computes(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch()
    detached = [lp.detach() for lp in logprobs]
    loss, _ = GradientPenalty(loss_fn=lambda t: t.square())(data, detached)
    expected = (2 * np.linalg.norm(_flat([d.numpy() for d in detached])) - 1.0) ** 2
    assert float(loss.detach()) == pytest.approx(expected)


def test_entropy_masks_negligible_terms_without_nan_gradients(make_batch: MakeBatch) -> None:
    data, _ = make_batch(lengths=(3,))
    logprobs = [torch.tensor([-0.1, -float("inf"), -80.0], dtype=torch.float64, requires_grad=True)]
    loss, _ = Entropy()(data, logprobs)
    torch.autograd.backward(loss)
    assert float(loss.detach()) == pytest.approx(0.1 * math.exp(-0.1))
    assert logprobs[0].grad is not None
    assert torch.isfinite(logprobs[0].grad).all()


def test_scalar_logprobs_are_one_row(make_batch: MakeBatch) -> None:
    data, _ = make_batch(lengths=(1,))
    logprobs = [torch.tensor(-0.5, dtype=torch.float64)]
    assert float(Entropy()(data, logprobs)[0]) == pytest.approx(0.5 * math.exp(-0.5))
    kl = KLDivergence(compute_reference=lambda _: [torch.tensor(-0.5, dtype=torch.float64)])
    assert float(kl(data, logprobs)[0]) == 0.0


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: L1(target="weights"), "target must be one of"),  # type: ignore[arg-type]
        (lambda: L1(reduction="none"), "reduction must be one of"),  # type: ignore[arg-type]
        (lambda: L1(lam=-1.0), "lam must be >= 0"),
        (lambda: L2(clip=float("nan")), "clip must be a finite number"),
        (lambda: L2(center="median"), "center must be one of"),  # type: ignore[arg-type]
        (lambda: L2(center=float("inf")), "center must be a finite"),
        (lambda: ElasticNet(l1_ratio=1.5), r"l1_ratio must be in \[0, 1\]"),
        (lambda: Entropy(temperature=0.0), "temperature must be > 0"),
        (lambda: Entropy(mode="up"), "mode must be one of"),  # type: ignore[arg-type]
        (lambda: KLDivergence(), "exactly one of reference_field"),
        (lambda: KLDivergence(reference_field="r", direction="sideways"), "direction"),  # type: ignore[arg-type]
        (lambda: Consistency(metric="huber"), "metric must be one of"),  # type: ignore[arg-type]
        (lambda: Orthogonality(mode="loose"), "mode must be one of"),  # type: ignore[arg-type]
        (lambda: GradientPenalty(loss_fn=torch.sum, target_norm=-1.0), "target_norm must be >= 0"),
        (lambda: GradientPenalty(loss_fn=torch.sum, mode="x"), "mode must be one of"),  # type: ignore[arg-type]
    ],
)
def test_bad_options_name_the_field(factory: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()


def test_missing_or_misshapen_fields_name_the_datum(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch(fields=("original_logprobs",))
    with pytest.raises(ValueError, match=r"data\[0\].loss_fn_inputs has no 'ref'"):
        KLDivergence(reference_field="ref")(data, logprobs)
    with pytest.raises(
        ValueError, match=r"data\[1\].loss_fn_inputs\['original_logprobs'\] has shape"
    ):
        Consistency()(data, [logprobs[0], logprobs[0], logprobs[2]])
    with pytest.raises(ValueError, match="got 3 datums but 2 logprobs"):
        Consistency()(data, logprobs[:2])
    with pytest.raises(ValueError, match="compute_reference must return one tensor per datum"):
        KLDivergence(compute_reference=lambda _: [])(data, logprobs)


@pytest.mark.parametrize("regularizer", [L1(), Orthogonality(), GradientPenalty(loss_fn=torch.sum)])
def test_empty_batches_are_refused(regularizer: Regularizer) -> None:
    with pytest.raises(ValueError, match="logprobs is empty"):
        regularizer([], [])


def test_mean_of_nothing_is_zero() -> None:
    from tinkex.regularizers.base import reduce

    assert float(reduce(torch.zeros(0), "mean")) == 0.0


def test_orthogonality_without_normalisation_uses_raw_dot_products(make_batch: MakeBatch) -> None:
    data, logprobs = make_batch(lengths=(2, 3))
    a, b = (lp.detach().numpy() for lp in logprobs)
    dot = float(a @ b[:2])
    loss, _ = Orthogonality(normalize=False)(data, logprobs)
    assert float(loss.detach()) == pytest.approx(2 * dot**2)
