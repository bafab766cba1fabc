"""Forward, forward-backward and AdamW steps for one LoRA adapter (one training client).

Gradients accumulate in the adapter's parameters across `forward_backward` calls and are
consumed and cleared by `optim_step`, as the Tinker API specifies. `forward` runs under
`torch.no_grad` and leaves gradients alone. Everything runs under the host's lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.inputs import PreparedDatum, prepare_batch
from tinkex.local.engine.lora import AdapterHost, lora_config
from tinkex.local.engine.losses import get_loss, resolve_config
from tinkex.local.engine.types import AdamConfig, EngineDatum, ForwardResult, LoraSpec


def target_logprobs(model: Any, batch: Sequence[PreparedDatum], pad_id: int) -> list[torch.Tensor]:
    """Log-probabilities of each datum's targets, shaped like its `target_tokens`.

    Datums are right-padded into one batch; causal attention keeps padding from touching
    real positions, and padded rows are cut off before the loss.
    """
    lengths = [len(datum.tokens) for datum in batch]
    width = max(lengths)
    device = batch[0].tokens.device
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(batch), width), dtype=torch.long, device=device)
    for row, datum in enumerate(batch):
        ids[row, : lengths[row]] = datum.tokens
        mask[row, : lengths[row]] = 1
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    logprobs = torch.log_softmax(logits, dim=-1)
    out: list[torch.Tensor] = []
    for row, datum in enumerate(batch):
        rows = logprobs[row, : lengths[row]]
        targets = datum.targets
        index = targets if targets.ndim == 2 else targets.unsqueeze(-1)
        picked = rows.gather(-1, index)
        out.append(picked if targets.ndim == 2 else picked.squeeze(-1))
    return out


class TrainingSession:
    """One trainable adapter on a shared host, with its own AdamW state."""

    def __init__(self, host: AdapterHost, adapter: str) -> None:
        self.host = host
        self.adapter = adapter
        self.parameters = host.parameters(adapter)
        self.optimizer = torch.optim.AdamW(list(self.parameters.values()), foreach=False)
        self.steps = 0

    @classmethod
    def create(cls, host: AdapterHost, adapter: str, spec: LoraSpec) -> TrainingSession:
        """A fresh adapter for `spec` on `host`, with an empty optimizer."""
        host.add(adapter, lora_config(spec, base_model_name=host.base.name), seed=spec.seed)
        return cls(host, adapter)

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

    def optim_step(self, adam: AdamConfig) -> dict[str, float]:
        """One AdamW step on the accumulated gradients, then clear them."""
        _check_adam(adam)
        with self.host.using(self.adapter):
            params = list(self.parameters.values())
            limit = adam.grad_clip_norm if adam.grad_clip_norm > 0 else float("inf")
            norm = torch.nn.utils.clip_grad_norm_(params, limit, foreach=False)
            for group in self.optimizer.param_groups:
                group.update(
                    lr=adam.learning_rate,
                    betas=(adam.beta1, adam.beta2),
                    eps=adam.eps,
                    weight_decay=adam.weight_decay,
                )
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.steps += 1
        return {"grad_norm:mean": float(norm), "learning_rate:mean": adam.learning_rate}

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


def _check_adam(adam: AdamConfig) -> None:
    checks = {
        "learning_rate": adam.learning_rate >= 0,
        "beta1": 0 <= adam.beta1 < 1,
        "beta2": 0 <= adam.beta2 < 1,
        "eps": adam.eps > 0,
        "weight_decay": adam.weight_decay >= 0,
        "grad_clip_norm": adam.grad_clip_norm >= 0,
    }
    for name, ok in checks.items():
        if not ok:
            raise UserInputError(
                f"adam_params.{name}: invalid value {getattr(adam, name)!r}; use learning_rate, "
                "weight_decay, grad_clip_norm >= 0, 0 <= beta < 1 and eps > 0"
            )
