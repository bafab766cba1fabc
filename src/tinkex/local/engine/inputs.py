"""Check a batch of `EngineDatum`s against a loss and turn them into tensors.

Why here and not in the losses: every error must name the datum index, the key, the expected
and the actual shape, before any compute starts, so a bad request never half-trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.losses import LossSpec
from tinkex.local.engine.types import EngineDatum

_FLOAT_KEYS = (
    "weights",
    "logprobs",
    "advantages",
    "clip_low_threshold",
    "clip_high_threshold",
    "sequence_ratio_mask",
)


@dataclass(frozen=True)
class PreparedDatum:
    """A validated datum: input ids `(T,)`, target ids `(T,)` or `(T, K)`, float inputs."""

    tokens: torch.Tensor
    targets: torch.Tensor
    inputs: dict[str, torch.Tensor]


def prepare_batch(
    data: Sequence[EngineDatum], spec: LossSpec, vocab_size: int, device: torch.device
) -> list[PreparedDatum]:
    """Validate every datum for `spec` and move its arrays to `device`."""
    if len(data) == 0:
        raise UserInputError("data: empty batch; pass at least one datum")
    return [_prepare(i, datum, spec, vocab_size, device) for i, datum in enumerate(data)]


def _prepare(
    index: int, datum: EngineDatum, spec: LossSpec, vocab_size: int, device: torch.device
) -> PreparedDatum:
    tokens = np.asarray(datum.tokens)
    length = len(tokens)
    if tokens.ndim != 1 or length == 0:
        raise UserInputError(
            f"data[{index}].model_input: expected a non-empty 1-D token list, got shape "
            f"{tokens.shape}"
        )
    _check_ids(f"data[{index}].model_input", tokens, vocab_size)
    targets = _required(index, datum, "target_tokens")
    allowed = "(T,) or (T, K)" if spec.allows_topk_targets else "(T,)"
    if targets.shape[:1] != (length,) or targets.ndim > (2 if spec.allows_topk_targets else 1):
        raise UserInputError(
            f"data[{index}].loss_fn_inputs['target_tokens']: expected shape {allowed} with "
            f"T={length} (one target per input token), got {targets.shape}"
        )
    if not np.issubdtype(targets.dtype, np.integer):
        raise UserInputError(
            f"data[{index}].loss_fn_inputs['target_tokens']: expected integer token ids, got "
            f"dtype {targets.dtype}"
        )
    _check_ids(f"data[{index}].loss_fn_inputs['target_tokens']", targets, vocab_size)
    inputs: dict[str, torch.Tensor] = {}
    for key in (*spec.required_inputs, *spec.optional_inputs):
        if key not in datum.loss_fn_inputs and key not in spec.required_inputs:
            continue
        value = _required(index, datum, key)
        expected = targets.shape if key == "weights" else (length,)
        if value.shape != expected:
            raise UserInputError(
                f"data[{index}].loss_fn_inputs[{key!r}]: expected shape {expected} (like "
                f"{'target_tokens' if key == 'weights' else 'model_input'}), got {value.shape}"
            )
        if not np.all(np.isfinite(value)):
            raise UserInputError(f"data[{index}].loss_fn_inputs[{key!r}]: contains NaN or inf")
        inputs[key] = torch.as_tensor(value, dtype=torch.float32, device=device)
    return PreparedDatum(
        tokens=torch.as_tensor(tokens, dtype=torch.long, device=device),
        targets=torch.as_tensor(targets, dtype=torch.long, device=device),
        inputs=inputs,
    )


def _required(index: int, datum: EngineDatum, key: str) -> np.ndarray:
    if key not in datum.loss_fn_inputs:
        kind = "int64 token ids" if key == "target_tokens" else "float32 values"
        raise UserInputError(
            f"data[{index}].loss_fn_inputs[{key!r}]: missing; add {kind}, one per input token"
        )
    value = np.asarray(datum.loss_fn_inputs[key])
    if key in _FLOAT_KEYS and not np.issubdtype(value.dtype, np.number):
        raise UserInputError(
            f"data[{index}].loss_fn_inputs[{key!r}]: expected numbers, got dtype {value.dtype}"
        )
    return value


def _check_ids(field: str, ids: np.ndarray, vocab_size: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise UserInputError(
            f"{field}: token ids must lie in [0, {vocab_size}), got range "
            f"[{ids.min()}, {ids.max()}]"
        )
