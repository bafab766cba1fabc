"""The optimizers behind `optim_step`: AdamW (the default) and Dimuon.

The family is fixed when a model is created (`optimizer_config`); each step brings that
family's hyper-parameters (`AdamParams` or `DimuonParams`), which are written into the
optimizer's param groups before stepping, so state (moments, momentum) carries across steps.

Dimuon has no public reference implementation: the official API only names its knobs
(`learning_rate`, `beta1` as the momentum coefficient, `grad_clip_norm`). tinkex.local runs it
as Muon (`torch.optim.Muon`): a Nesterov momentum buffer whose update is orthogonalised by five
quintic Newton-Schulz iterations, then scaled by 0.2 * sqrt(max(rows, cols)) so its RMS matches
AdamW's (learning rates tuned for AdamW carry over). Every LoRA parameter (the A and B matrix of
each targeted layer) is 2-D, so Muon applies to all of them and no AdamW fallback is needed.
`DimuonParams` has no weight decay, so none is applied.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.types import AdamConfig, DimuonConfig, OptimizerKind, StepConfig

__all__ = [
    "OPTIMIZER_KINDS",
    "build_optimizer",
    "check_family",
    "check_optimizer_kind",
    "configure_step",
]

OPTIMIZER_KINDS: tuple[OptimizerKind, ...] = ("adamw", "dimuon")
_WIRE_PARAMS: dict[OptimizerKind, str] = {
    "adamw": "adam_params (AdamParams)",
    "dimuon": "optimizer_params (DimuonParams)",
}


def check_optimizer_kind(kind: str) -> OptimizerKind:
    """`kind` as an optimizer family, or a user error naming the supported ones."""
    for known in OPTIMIZER_KINDS:
        if kind == known:
            return known
    raise UserInputError(
        f"optimizer_config.type: {kind!r} is not supported by tinkex.local; "
        f"use one of {list(OPTIMIZER_KINDS)}"
    )


def build_optimizer(
    kind: OptimizerKind, params: Sequence[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """An empty optimizer of family `kind` over `params` (hyper-parameters come per step)."""
    if kind == "dimuon":
        return torch.optim.Muon(
            list(params), weight_decay=0.0, nesterov=True, adjust_lr_fn="match_rms_adamw"
        )
    return torch.optim.AdamW(list(params), foreach=False)


def configure_step(
    optimizer: torch.optim.Optimizer, kind: OptimizerKind, step: StepConfig
) -> float:
    """Check `step` against the model's family, load it into the param groups and return
    the gradient-norm limit (infinity when clipping is off)."""
    check_family(kind, step)
    if isinstance(step, AdamConfig):
        _check_adam(step)
        settings: dict[str, object] = {
            "lr": step.learning_rate,
            "betas": (step.beta1, step.beta2),
            "eps": step.eps,
            "weight_decay": step.weight_decay,
        }
    else:
        _check_dimuon(step)
        settings = {"lr": step.learning_rate, "momentum": step.beta1}
    for group in optimizer.param_groups:
        group.update(settings)
    return step.grad_clip_norm if step.grad_clip_norm > 0 else float("inf")


def check_family(kind: OptimizerKind, step: StepConfig) -> None:
    """Refuse hyper-parameters of another family than the model's optimizer."""
    given: OptimizerKind = "adamw" if isinstance(step, AdamConfig) else "dimuon"
    if given != kind:
        raise UserInputError(
            f"optim_params: this model was created with the {kind!r} optimizer; send "
            f"{_WIRE_PARAMS[kind]}, the optimizer is fixed by optimizer_config at creation"
        )


def _check_adam(adam: AdamConfig) -> None:
    _require(
        "adam_params",
        adam,
        {
            "learning_rate": adam.learning_rate >= 0,
            "beta1": 0 <= adam.beta1 < 1,
            "beta2": 0 <= adam.beta2 < 1,
            "eps": adam.eps > 0,
            "weight_decay": adam.weight_decay >= 0,
            "grad_clip_norm": adam.grad_clip_norm >= 0,
        },
        "use learning_rate, weight_decay, grad_clip_norm >= 0, 0 <= beta < 1 and eps > 0",
    )


def _check_dimuon(dimuon: DimuonConfig) -> None:
    _require(
        "optimizer_params",
        dimuon,
        {"learning_rate": dimuon.learning_rate >= 0, "beta1": 0 <= dimuon.beta1 < 1},
        "use learning_rate >= 0 and 0 <= beta1 < 1",
    )


def _require(prefix: str, values: object, checks: dict[str, bool], fix: str) -> None:
    for name, ok in checks.items():
        if not ok:
            raise UserInputError(f"{prefix}.{name}: invalid value {getattr(values, name)!r}; {fix}")
