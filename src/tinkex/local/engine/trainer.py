"""Forward, forward-backward and optimizer steps for one LoRA adapter (one training client).

Gradients accumulate in the adapter's parameters across `forward_backward` calls and are
consumed and cleared by `optim_step`, as the Tinker API specifies. `forward` runs under
`torch.no_grad` and leaves gradients alone. Everything runs under the host's lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from tinkex.local.engine.inputs import PreparedDatum, prepare_batch
from tinkex.local.engine.lora import AdapterHost, lora_config
from tinkex.local.engine.losses import get_loss, resolve_config
from tinkex.local.engine.optimizers import build_optimizer, configure_step
from tinkex.local.engine.types import (
    EngineDatum,
    ForwardResult,
    LoraSpec,
    OptimizerKind,
    StepConfig,
)


def target_logprobs(model: Any, batch: Sequence[PreparedDatum], pad_id: int) -> list[torch.Tensor]:
    """Log-probabilities of each datum's targets, shaped like its `target_tokens`.

    Datums are right-padded into one batch without an attention mask: attention is causal,
    so padding (always after a row's tokens) never reaches a real position, and the padded
    positions are cut off before the loss. Without a mask the model keeps its fast causal
    attention path. Targets are gathered for the whole batch at once (`(T,)` targets as
    `(T, 1)`, narrower `(T, K)` rows padded with id 0), so backward scatters into one
    gradient instead of one per datum.
    """
    lengths = [len(datum.tokens) for datum in batch]
    ks = [datum.targets.shape[1] if datum.targets.ndim == 2 else 1 for datum in batch]
    width, k = max(lengths), max(ks)
    device = batch[0].tokens.device
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long, device=device)
    index = torch.zeros((len(batch), width, k), dtype=torch.long, device=device)
    for row, datum in enumerate(batch):
        ids[row, : lengths[row]] = datum.tokens
        targets = datum.targets if datum.targets.ndim == 2 else datum.targets.unsqueeze(-1)
        index[row, : lengths[row], : ks[row]] = targets
    logits = model(input_ids=ids, use_cache=False).logits.float()
    picked = torch.log_softmax(logits, dim=-1).gather(-1, index)
    return [
        picked[row, : lengths[row], : ks[row]]
        if datum.targets.ndim == 2
        else picked[row, : lengths[row], 0]
        for row, datum in enumerate(batch)
    ]


class TrainingSession:
    """One trainable adapter on a shared host, with its own optimizer state."""

    def __init__(self, host: AdapterHost, adapter: str, optimizer: OptimizerKind = "adamw") -> None:
        self.host = host
        self.adapter = adapter
        self.parameters = host.parameters(adapter)
        self.optimizer_kind: OptimizerKind = optimizer
        self.optimizer = build_optimizer(optimizer, list(self.parameters.values()))
        self.steps = 0

    @classmethod
    def create(
        cls, host: AdapterHost, adapter: str, spec: LoraSpec, optimizer: OptimizerKind = "adamw"
    ) -> TrainingSession:
        """A fresh adapter for `spec` on `host`, with an empty optimizer of family `optimizer`."""
        host.add(adapter, lora_config(spec, base_model_name=host.base.name), seed=spec.seed)
        return cls(host, adapter, optimizer)

    def forward(
        self,
        data: Sequence[EngineDatum],
        loss_fn: str,
        loss_fn_config: Mapping[str, float | str] | None = None,
    ) -> ForwardResult:
        """Loss and per-token outputs without touching gradients."""
        with self.host.using(self.adapter) as model, torch.no_grad():
            return self._run(model, data, loss_fn, loss_fn_config, backward=False)

    def forward_backward(
        self,
        data: Sequence[EngineDatum],
        loss_fn: str,
        loss_fn_config: Mapping[str, float | str] | None = None,
    ) -> ForwardResult:
        """Loss and outputs; adds the loss's gradients to those already accumulated."""
        with self.host.using(self.adapter) as model:
            return self._run(model, data, loss_fn, loss_fn_config, backward=True)

    def optim_step(self, step: StepConfig) -> dict[str, float]:
        """One step of the model's optimizer on the accumulated gradients, then clear them."""
        limit = configure_step(self.optimizer, self.optimizer_kind, step)
        with self.host.using(self.adapter):
            params = list(self.parameters.values())
            norm = torch.nn.utils.clip_grad_norm_(params, limit, foreach=False)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.steps += 1
        return {"grad_norm:mean": float(norm), "learning_rate:mean": step.learning_rate}

    def _run(
        self,
        model: Any,
        data: Sequence[EngineDatum],
        loss_fn: str,
        loss_fn_config: Mapping[str, float | str] | None,
        *,
        backward: bool,
    ) -> ForwardResult:
        spec = get_loss(loss_fn)
        config = resolve_config(spec, loss_fn_config)
        base = self.host.base
        batch = prepare_batch(data, spec, base.vocab_size, base.device)
        pad_id = base.tokenizer.pad_token_id or 0
        results = [
            spec.fn(lp, datum.inputs, config)
            for lp, datum in zip(target_logprobs(model, batch, pad_id), batch, strict=True)
        ]
        total = torch.stack([result.loss for result in results]).sum()
        if backward:
            torch.autograd.backward(total)
        outputs = [
            {
                key: value.detach().cpu().numpy().astype(np.float32)
                for key, value in r.outputs.items()
            }
            for r in results
        ]
        return ForwardResult(outputs=outputs, metrics={"loss:sum": float(total.detach())})
