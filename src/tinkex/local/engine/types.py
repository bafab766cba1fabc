"""Plain dataclasses the engine speaks, independent of the pydantic wire types.

Why: the HTTP layer converts `tinkex.types` to these, so the engine can be tested and
benchmarked without a server, and the wire format can change without touching torch code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

StopReason = Literal["length", "stop"]
"""Why a sampled sequence ended, as the official `StopReason` literal spells it."""

OptimizerKind = Literal["adamw", "dimuon"]
"""The optimizer family, fixed when a training model is created (`optimizer_config.type`)."""


@dataclass(frozen=True)
class EngineDatum:
    """One training example: `tokens` (length T) predict `loss_fn_inputs["target_tokens"]`.

    `target_tokens[i]` is the token that follows `tokens[i]`. Arrays are numpy; integer
    keys (`target_tokens`) are int64, the others float32.
    """

    tokens: Sequence[int]
    loss_fn_inputs: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class LoraSpec:
    """Which layers get a LoRA adapter, its rank and the seed of its initialisation."""

    rank: int = 32
    seed: int | None = None
    train_mlp: bool = True
    train_attn: bool = True
    train_unembed: bool = True


@dataclass(frozen=True)
class AdamConfig:
    """AdamW hyper-parameters with the official `AdamParams` names and defaults."""

    learning_rate: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-12
    weight_decay: float = 0.0
    grad_clip_norm: float = 0.0


@dataclass(frozen=True)
class DimuonConfig:
    """Dimuon hyper-parameters with the official `DimuonParams` names and defaults."""

    learning_rate: float
    grad_clip_norm: float = 0.0
    beta1: float = 0.9


StepConfig = AdamConfig | DimuonConfig
"""Hyper-parameters of one `optim_step`, of the model's optimizer family."""


@dataclass(frozen=True)
class ForwardResult:
    """Per-datum outputs (numpy, e.g. `logprobs` shaped like `target_tokens`) and metrics."""

    outputs: list[dict[str, np.ndarray]]
    metrics: dict[str, float]


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling knobs with the official `SamplingParams` names and defaults.

    `stop`: None stops at the tokenizer's EOS; `[]` never stops early; a string or list of
    strings stops once the decoded completion contains one; a list of ints stops on any of
    those token ids. `max_tokens=None` means "until the context window is full".
    """

    max_tokens: int | None = None
    temperature: float = 1.0
    top_k: int = -1
    top_p: float = 1.0
    seed: int | None = None
    stop: str | Sequence[str] | Sequence[int] | None = None


@dataclass(frozen=True)
class SampledSequence:
    """One completion: its tokens, their logprobs under the model and why it ended."""

    tokens: list[int]
    logprobs: list[float]
    stop_reason: StopReason


@dataclass(frozen=True)
class TopkLogprobs:
    """Dense `(length, k)` matrices; empty rows hold token 0 and logprob -99999.0."""

    token_ids: np.ndarray
    logprobs: np.ndarray


@dataclass(frozen=True)
class SampleResult:
    """Completions plus, when asked, per-position prompt logprobs (NaN at position 0)."""

    sequences: list[SampledSequence]
    prompt_logprobs: np.ndarray | None = None
    topk_prompt_logprobs: TopkLogprobs | None = None
