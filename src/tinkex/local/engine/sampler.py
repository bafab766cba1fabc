"""Sampling and prompt scoring with a hand-written KV-cache decoding loop.

Why hand-written rather than `model.generate`: a per-request `torch.Generator` makes a seeded
request reproducible whatever else runs, the loop returns each token's logprob without a
second pass, and it measured faster than `generate` (see `bench/bench_engine.py`).

Reported logprobs are those of the model itself (temperature 1, before top-k/top-p), the
same quantity training computes, so `importance_sampling` ratios start at exactly 1.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.lora import AdapterHost
from tinkex.local.engine.types import SampledSequence, SampleResult, SamplingConfig, TopkLogprobs

MASK_LOGPROB = -99999.0
"""Filler logprob of empty top-k rows, as in the official `TopkLogprobs`."""


class Sampler:
    """Samples from the base model (adapter None) or any adapter of a host."""

    def __init__(self, host: AdapterHost) -> None:
        self.host = host

    def sample(
        self,
        prompt: Sequence[int],
        config: SamplingConfig,
        *,
        adapter: str | None = None,
        num_samples: int = 1,
        prompt_logprobs: bool = False,
        topk_prompt_logprobs: int = 0,
    ) -> SampleResult:
        """`num_samples` completions of `prompt`, plus prompt logprobs when asked."""
        base = self.host.base
        ids = self._prompt_tensor(prompt)
        max_tokens = _check_config(config, len(prompt), base.context_length)
        if num_samples < 1:
            raise UserInputError(f"num_samples: expected >= 1, got {num_samples}")
        if topk_prompt_logprobs < 0:
            raise UserInputError(f"topk_prompt_logprobs: expected >= 0, got {topk_prompt_logprobs}")
        stop_ids, stop_strings = self._stops(config.stop)
        seed = config.seed if config.seed is not None else secrets.randbits(63)
        generator = torch.Generator(device=base.device).manual_seed(seed)
        with self.host.using(adapter) as model, torch.no_grad():
            scored = prompt_logprobs or topk_prompt_logprobs > 0
            out = model(input_ids=ids, use_cache=True, logits_to_keep=0 if scored else 1)
            prompt_lp = torch.log_softmax(out.logits[0].float(), dim=-1)
            cache = out.cache
            if num_samples > 1:
                cache.batch_repeat_interleave(num_samples)
            last = prompt_lp[-1:].expand(num_samples, -1)
            sequences = self._decode(
                model, cache, last, config, max_tokens, generator, stop_ids, stop_strings
            )
        return SampleResult(
            sequences=sequences,
            prompt_logprobs=_prompt_logprobs(prompt_lp, ids[0]) if prompt_logprobs else None,
            topk_prompt_logprobs=(
                _topk(prompt_lp, topk_prompt_logprobs) if topk_prompt_logprobs else None
            ),
        )

    def compute_logprobs(self, prompt: Sequence[int], *, adapter: str | None = None) -> np.ndarray:
        """Logprob of each prompt token given the ones before it; NaN at position 0."""
        ids = self._prompt_tensor(prompt)
        with self.host.using(adapter) as model, torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits[0].float()
        return _prompt_logprobs(torch.log_softmax(logits, dim=-1), ids[0])

    def _prompt_tensor(self, prompt: Sequence[int]) -> torch.Tensor:
        base = self.host.base
        ids = torch.as_tensor(list(prompt), dtype=torch.long, device=base.device)
        if ids.ndim != 1 or len(ids) == 0:
            raise UserInputError("prompt: expected a non-empty list of token ids")
        if int(ids.min()) < 0 or int(ids.max()) >= base.vocab_size:
            raise UserInputError(
                f"prompt: token ids must lie in [0, {base.vocab_size}), got range "
                f"[{int(ids.min())}, {int(ids.max())}]"
            )
        if len(ids) > base.context_length:
            raise UserInputError(
                f"prompt: {len(ids)} tokens exceed the model's context of "
                f"{base.context_length}; shorten it"
            )
        return ids.unsqueeze(0)

    def _stops(
        self, stop: str | Sequence[str] | Sequence[int] | None
    ) -> tuple[set[int], list[str]]:
        if stop is None:
            eos = self.host.base.tokenizer.eos_token_id
            return ({eos} if eos is not None else set()), []
        if isinstance(stop, str):
            return set(), [stop]
        items = list(stop)
        if all(isinstance(item, str) for item in items):
            return set(), [str(item) for item in items]
        token_ids = {item for item in items if isinstance(item, int) and not isinstance(item, bool)}
        if len(token_ids) and all(isinstance(item, int) for item in items):
            return token_ids, []
        raise UserInputError(
            "sampling_params.stop: expected a string, a list of strings or a list of token ids"
        )

    def _decode(
        self,
        model: Any,
        cache: Any,
        last: torch.Tensor,
        config: SamplingConfig,
        max_tokens: int,
        generator: torch.Generator,
        stop_ids: set[int],
        stop_strings: list[str],
    ) -> list[SampledSequence]:
        count = last.shape[0]
        tokens: list[list[int]] = [[] for _ in range(count)]
        logprobs: list[list[float]] = [[] for _ in range(count)]
        stopped = [False] * count
        for step in range(max_tokens):
            chosen = _choose(last, config, generator)
            picked = last.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
            for row, (token, lp) in enumerate(zip(chosen.tolist(), picked.tolist(), strict=True)):
                if stopped[row]:
                    continue
                tokens[row].append(token)
                logprobs[row].append(lp)
                stopped[row] = token in stop_ids or self._hit_string(tokens[row], stop_strings)
            if all(stopped) or step == max_tokens - 1:
                break
            out = model(input_ids=chosen.unsqueeze(-1), cache=cache, use_cache=True)
            cache = out.cache
            last = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        return [
            SampledSequence(tokens[row], logprobs[row], "stop" if stopped[row] else "length")
            for row in range(count)
        ]

    def _hit_string(self, tokens: list[int], stop_strings: list[str]) -> bool:
        if not stop_strings:
            return False
        text = self.host.base.tokenizer.decode(tokens)
        return any(stop in text for stop in stop_strings)


def _choose(
    logprobs: torch.Tensor, config: SamplingConfig, generator: torch.Generator
) -> torch.Tensor:
    """Next token per row: greedy at temperature 0, else top-k/top-p filtered sampling."""
    if config.temperature == 0:
        return logprobs.argmax(dim=-1)
    scores = logprobs / config.temperature
    if 0 < config.top_k < scores.shape[-1]:
        kth = torch.topk(scores, config.top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if config.top_p < 1.0:
        ordered, order = torch.sort(scores, dim=-1, descending=True)
        before = torch.cumsum(torch.softmax(ordered, dim=-1), dim=-1) - torch.softmax(
            ordered, dim=-1
        )
        drop = torch.zeros_like(scores, dtype=torch.bool).scatter(-1, order, before >= config.top_p)
        scores = scores.masked_fill(drop, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _check_config(config: SamplingConfig, prompt_length: int, context: int) -> int:
    room = context - prompt_length
    max_tokens = room if config.max_tokens is None else config.max_tokens
    if max_tokens < 1:
        raise UserInputError(f"sampling_params.max_tokens: expected >= 1, got {max_tokens}")
    if max_tokens > room:
        raise UserInputError(
            f"sampling_params.max_tokens: {max_tokens} plus the {prompt_length}-token prompt "
            f"exceed the model's context of {context}; lower max_tokens or shorten the prompt"
        )
    if config.temperature < 0:
        raise UserInputError(
            f"sampling_params.temperature: expected >= 0, got {config.temperature}"
        )
    if not 0 < config.top_p <= 1:
        raise UserInputError(f"sampling_params.top_p: expected in (0, 1], got {config.top_p}")
    if config.top_k == 0 or config.top_k < -1:
        raise UserInputError(
            f"sampling_params.top_k: expected -1 (no limit) or >= 1, got {config.top_k}"
        )
    return max_tokens


def _prompt_logprobs(logprobs: torch.Tensor, ids: torch.Tensor) -> np.ndarray:
    """Position i holds log p(ids[i] | ids[:i]); position 0 has no context and is NaN."""
    scored = logprobs[:-1].gather(-1, ids[1:].unsqueeze(-1)).squeeze(-1)
    out = np.full(len(ids), np.nan, dtype=np.float32)
    out[1:] = scored.cpu().numpy()
    return out


def _topk(logprobs: torch.Tensor, k: int) -> TopkLogprobs:
    """The k likeliest tokens at each prompt position; row 0 is empty (no context)."""
    k = min(k, logprobs.shape[-1])
    values, indices = torch.topk(logprobs[:-1], k, dim=-1)
    token_ids = np.zeros((len(logprobs), k), dtype=np.int32)
    lps = np.full((len(logprobs), k), MASK_LOGPROB, dtype=np.float32)
    token_ids[1:] = indices.cpu().numpy()
    lps[1:] = values.cpu().numpy()
    return TopkLogprobs(token_ids=token_ids, logprobs=lps)
