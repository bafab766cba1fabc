"""The built-in Tinker losses as small pure functions of per-token logprobs.

Every loss is a SUM over tokens (never a mean) for one datum; the trainer sums datums.
`lp` is the current policy's log-probability of each target token (shape `(T,)`, or
`(T, K)` for top-k cross-entropy), `q` the sampler's logprobs (`loss_fn_inputs["logprobs"]`),
`A` the advantages and `w` the weights. `ratio = exp(lp - q)`.

cross_entropy        loss = -sum(w * lp)                      inputs: target_tokens, weights
    `weights` may have any sign (the SDK's `forward_backward_custom` sends -dL/dlp) and default
    to ones when absent. With 2-D `(T, K)` targets and weights (top-k distillation) the sum
    runs over both axes.
importance_sampling  loss = -sum(ratio * A)                   inputs: target_tokens, logprobs,
                                                                      advantages
ppo                  loss = -sum(min(ratio * A, clip(ratio, lo, hi) * A))
cispo                loss = -sum(stopgrad(clip(ratio, lo, hi)) * lp * A)
dro                  loss = -sum(lp * A - beta / 2 * (lp - q) ** 2)
stable_reinforce     loss = -sum(stopgrad(clip(ratio, lo, hi)) * lp * A)   lo=0, hi=2
    Truncated importance-sampled REINFORCE. The service does not publish its objective; this
    one is chosen because it stays stable on stale (off-policy) samples, which is what the
    cookbook uses it for: the gradient of each token is its REINFORCE gradient scaled by the
    importance ratio capped at `hi` (variance bounded, no overflow, and unlike PPO no token
    is silenced). `q` is the sampler's own record of the sampled tokens' logprobs: the
    server substitutes it at every position the datum's provenance spans name as sampled
    by a sequence recorded with `record_stability_info` (see `tinkex.local.app.provenance`).
gspo                 loss = -mean_m(min(s_t * A, clip(s_t, lo, hi) * A)),
                     s = exp(mean_m(lp - q)),  s_t = stopgrad(s) * exp(lp - stopgrad(lp))
    Group Sequence Policy Optimization (Zheng et al. 2025): one length-normalised sequence
    ratio per datum instead of per-token ratios. `mean_m` runs over the positions of
    `sequence_ratio_mask` (optional input; default: the positions with non-zero advantage,
    i.e. the sampled tokens). Defaults lo=1-3e-4, hi=1+4e-4 are the paper's.

Config keys (`loss_fn_config`): ppo and cispo take `clip_low_threshold` (default 0.8) and
`clip_high_threshold` (default 1.2), the bounds on the ratio itself (Tinker's epsilon 0.2);
dro takes `beta` (default 0.05, the value of the Tinker docs' example; the service's own
default is unpublished); stable_reinforce and gspo take the two clip keys with the defaults
above. Unknown keys are rejected. ppo and cispo also accept per-token
`clip_low_threshold` / `clip_high_threshold` arrays in `loss_fn_inputs` (the official `Datum`
knows these keys), which take precedence over the config. The RL losses ignore `weights`:
prompt positions carry zero advantages instead.

Each loss returns its scalar loss and the per-token outputs: `logprobs` (= `lp`) always.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from tinkex.local.engine.errors import UserInputError


@dataclass(frozen=True)
class LossOutput:
    """One datum's scalar loss (a sum over tokens) and its per-token outputs."""

    loss: torch.Tensor
    outputs: dict[str, torch.Tensor]


LossFn = Callable[[torch.Tensor, Mapping[str, torch.Tensor], Mapping[str, float]], LossOutput]


@dataclass(frozen=True)
class LossSpec:
    """A loss, the `loss_fn_inputs` it needs besides `target_tokens`, and its config keys."""

    name: str
    fn: LossFn
    required_inputs: tuple[str, ...]
    config_defaults: Mapping[str, float]
    optional_inputs: tuple[str, ...] = ()
    allows_topk_targets: bool = False


def cross_entropy(
    lp: torch.Tensor, inputs: Mapping[str, torch.Tensor], config: Mapping[str, float]
) -> LossOutput:
    """Weighted negative log-likelihood."""
    weights = inputs.get("weights")
    weighted = lp if weights is None else lp * weights
    return LossOutput(-weighted.sum(), {"logprobs": lp})


def importance_sampling(
    lp: torch.Tensor, inputs: Mapping[str, torch.Tensor], config: Mapping[str, float]
) -> LossOutput:
    """REINFORCE with an importance ratio correcting for the sampler."""
    ratio = torch.exp(lp - inputs["logprobs"])
    return LossOutput(-(ratio * inputs["advantages"]).sum(), {"logprobs": lp})


def ppo(
    lp: torch.Tensor, inputs: Mapping[str, torch.Tensor], config: Mapping[str, float]
) -> LossOutput:
    """Token-wise PPO clipped objective."""
    advantages = inputs["advantages"]
    ratio = torch.exp(lp - inputs["logprobs"])
    clipped = _clip(ratio, inputs, config)
    objective = torch.minimum(ratio * advantages, clipped * advantages)
    return LossOutput(-objective.sum(), {"logprobs": lp})


def cispo(
    lp: torch.Tensor, inputs: Mapping[str, torch.Tensor], config: Mapping[str, float]
) -> LossOutput:
    """Policy gradient weighted by a clipped, gradient-free importance ratio."""
    ratio = torch.exp(lp - inputs["logprobs"])
    objective = _clip(ratio, inputs, config).detach() * lp * inputs["advantages"]
    return LossOutput(-objective.sum(), {"logprobs": lp})


def dro(
    lp: torch.Tensor, inputs: Mapping[str, torch.Tensor], config: Mapping[str, float]
) -> LossOutput:
    """Policy gradient with a quadratic penalty on the log-ratio."""
    log_ratio = lp - inputs["logprobs"]
    objective = lp * inputs["advantages"] - 0.5 * config["beta"] * log_ratio**2
    return LossOutput(-objective.sum(), {"logprobs": lp})


def stable_reinforce(
    lp: torch.Tensor, inputs: Mapping[str, torch.Tensor], config: Mapping[str, float]
) -> LossOutput:
    """REINFORCE weighted by a capped, gradient-free importance ratio (off-policy safe)."""
    return cispo(lp, inputs, config)


def gspo(
    lp: torch.Tensor, inputs: Mapping[str, torch.Tensor], config: Mapping[str, float]
) -> LossOutput:
    """Clipped objective on the length-normalised sequence ratio (token-level GSPO form)."""
    advantages = inputs["advantages"]
    mask = inputs.get("sequence_ratio_mask")
    if mask is None:
        mask = (advantages != 0).to(lp.dtype)
    count = mask.sum().clamp(min=1.0)
    sequence_ratio = torch.exp((mask * (lp - inputs["logprobs"])).sum() / count)
    token_ratio = sequence_ratio.detach() * torch.exp(lp - lp.detach())
    clipped = _clip(token_ratio, {}, config)
    objective = torch.minimum(token_ratio * advantages, clipped * advantages)
    return LossOutput(-(mask * objective).sum() / count, {"logprobs": lp})


def _clip(
    ratio: torch.Tensor, inputs: Mapping[str, torch.Tensor], config: Mapping[str, float]
) -> torch.Tensor:
    """Clamp the ratio to per-token bounds when given, else the config's."""
    low = inputs.get("clip_low_threshold")
    high = inputs.get("clip_high_threshold")
    return torch.clamp(
        ratio,
        low if low is not None else torch.tensor(config["clip_low_threshold"]),
        high if high is not None else torch.tensor(config["clip_high_threshold"]),
    )


_RL_INPUTS = ("logprobs", "advantages")
_CLIP_INPUTS = ("clip_low_threshold", "clip_high_threshold")
_CLIP_DEFAULTS = {"clip_low_threshold": 0.8, "clip_high_threshold": 1.2}

LOSSES: Mapping[str, LossSpec] = {
    spec.name: spec
    for spec in (
        LossSpec("cross_entropy", cross_entropy, (), {}, ("weights",), allows_topk_targets=True),
        LossSpec("importance_sampling", importance_sampling, _RL_INPUTS, {}),
        LossSpec("ppo", ppo, _RL_INPUTS, _CLIP_DEFAULTS, _CLIP_INPUTS),
        LossSpec("cispo", cispo, _RL_INPUTS, _CLIP_DEFAULTS, _CLIP_INPUTS),
        LossSpec("dro", dro, _RL_INPUTS, {"beta": 0.05}),
        LossSpec(
            "stable_reinforce",
            stable_reinforce,
            _RL_INPUTS,
            {"clip_low_threshold": 0.0, "clip_high_threshold": 2.0},
            _CLIP_INPUTS,
        ),
        LossSpec(
            "gspo",
            gspo,
            _RL_INPUTS,
            {"clip_low_threshold": 1 - 3e-4, "clip_high_threshold": 1 + 4e-4},
            ("sequence_ratio_mask",),
        ),
    )
}


def get_loss(name: str) -> LossSpec:
    """Look a loss up by its wire name."""
    try:
        return LOSSES[name]
    except KeyError:
        raise UserInputError(
            f"loss_fn: unknown loss {name!r}; use one of {sorted(LOSSES)}"
        ) from None


def resolve_config(spec: LossSpec, config: Mapping[str, float | str] | None) -> dict[str, float]:
    """Merge `loss_fn_config` over the loss's defaults; reject unknown or non-numeric keys."""
    resolved = dict(spec.config_defaults)
    for key, value in (config or {}).items():
        if key not in spec.config_defaults:
            allowed = sorted(spec.config_defaults) or "none"
            raise UserInputError(
                f"loss_fn_config[{key!r}]: not a setting of loss {spec.name!r} (allowed: {allowed})"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserInputError(
                f"loss_fn_config[{key!r}]: expected a number, got {type(value).__name__}"
            )
        resolved[key] = float(value)
    return resolved
