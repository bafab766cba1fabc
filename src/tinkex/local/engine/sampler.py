"""Sampling and prompt scoring with a hand-written KV-cache decoding loop.

Why hand-written rather than `model.generate`: a per-request `torch.Generator` makes a seeded
request reproducible whatever else runs, the loop returns each token's logprob without a
second pass, and it measured faster than `generate` (see `bench/bench_engine.py`).

The loop is a generator (`Sampler.stream`): it yields the prefill's prompt scores, then one
`TokenStep` per generated token, so a streaming route sends tokens as they come and stops the
work when its client goes away; `Sampler.sample` is the same generator run to the end, which
makes a stream and a sample of the same seed identical by construction.

Reported logprobs are those of the model itself (temperature 1, before top-k/top-p), the
same quantity training computes, so `importance_sampling` ratios start at exactly 1.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.lora import AdapterHost
from tinkex.local.engine.types import (
    SampledSequence,
    SampleResult,
    SamplingConfig,
    StopReason,
    TopkLogprobs,
)

__all__ = [
    "MASK_LOGPROB",
    "PromptAltTokens",
    "PromptScores",
    "SampleEvent",
    "SampleStream",
    "SampledWithTopk",
    "Sampler",
    "SamplerOutput",
    "TokenStep",
    "check_target_ids",
    "collect",
]

MASK_LOGPROB = -99999.0
"""Filler logprob of empty top-k rows, as in the official `TopkLogprobs`."""

_ALT_SEED_SALT = 0x5A17
"""Alternative prompt tokens draw from their own generator, so asking for them leaves the
sampled sequences of a seeded request unchanged."""

TopkRow = list[tuple[int, float]]


@dataclass(frozen=True)
class PromptAltTokens:
    """`k` draws per prompt position after the first, at the request's temperature.

    Both arrays are `(len(prompt) - 1, k)`: int64 token ids and their float32 model logprobs.
    """

    tokens: np.ndarray
    logprobs: np.ndarray


@dataclass(frozen=True)
class PromptScores:
    """The prefill's answer, first event of every stream; fields are None when not asked."""

    prompt_logprobs: np.ndarray | None = None
    topk_prompt_logprobs: TopkLogprobs | None = None
    prompt_alt_tokens: PromptAltTokens | None = None
    target_prompt_logprobs: np.ndarray | None = None


@dataclass(frozen=True)
class TokenStep:
    """One generated token of sequence `sequence_index`; `stop_reason` is set on its last."""

    sequence_index: int
    token: int
    logprob: float
    topk_logprobs: TopkRow | None = None
    stop_reason: StopReason | None = None


SampleEvent = PromptScores | TokenStep
SampleStream = Generator[SampleEvent, None, None]


@dataclass(frozen=True)
class SampledWithTopk(SampledSequence):
    """A completion plus, when asked, the top-k logprobs at each of its positions."""

    topk_logprobs: list[TopkRow] | None = None


@dataclass(frozen=True)
class SamplerOutput(SampleResult):
    """`SampleResult` plus the alternative prompt tokens and target logprobs, when asked."""

    prompt_alt_tokens: PromptAltTokens | None = None
    target_prompt_logprobs: np.ndarray | None = None


def _never() -> bool:
    return False


@dataclass(frozen=True)
class _Plan:
    """A validated request: everything the decoding loop needs."""

    ids: torch.Tensor
    config: SamplingConfig
    max_tokens: int
    seed: int
    num_samples: int
    stop_ids: set[int]
    stop_strings: list[str]
    prompt_logprobs: bool
    topk_prompt_logprobs: int
    topk_sample_logprobs: int
    prompt_alt_tokens_k: int
    target_ids: torch.Tensor | None

    @property
    def scores_prompt(self) -> bool:
        return (
            self.prompt_logprobs
            or self.topk_prompt_logprobs > 0
            or self.prompt_alt_tokens_k > 0
            or self.target_ids is not None
        )


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
        topk_sample_logprobs: int = 0,
        prompt_alt_tokens_k: int = 0,
        target_prompt_ids: np.ndarray | None = None,
    ) -> SamplerOutput:
        """`num_samples` completions of `prompt`, plus prompt logprobs when asked."""
        events = self.stream(
            prompt,
            config,
            adapter=adapter,
            num_samples=num_samples,
            prompt_logprobs=prompt_logprobs,
            topk_prompt_logprobs=topk_prompt_logprobs,
            topk_sample_logprobs=topk_sample_logprobs,
            prompt_alt_tokens_k=prompt_alt_tokens_k,
            target_prompt_ids=target_prompt_ids,
        )
        return collect(events, num_samples)

    def stream(
        self,
        prompt: Sequence[int],
        config: SamplingConfig,
        *,
        adapter: str | None = None,
        num_samples: int = 1,
        prompt_logprobs: bool = False,
        topk_prompt_logprobs: int = 0,
        topk_sample_logprobs: int = 0,
        prompt_alt_tokens_k: int = 0,
        target_prompt_ids: np.ndarray | None = None,
        cancelled: Callable[[], bool] = _never,
    ) -> SampleStream:
        """`sample` as events: `PromptScores`, then a `TokenStep` per token as it is made.

        `target_prompt_ids` is an int64 `(len(prompt) - 1, K)` array: row `i` names the ids
        whose logprobs to report at prompt position `i + 1`, `-1` in cells that ask nothing.

        Bad input raises here, before any work. Generation runs while the iterator is
        consumed and holds the host's lock meanwhile: consume it promptly and close it
        (or exhaust it). `cancelled` is checked before every token; once it returns True
        the iterator ends early.
        """
        base = self.host.base
        ids = self._prompt_tensor(prompt)
        max_tokens = _check_config(config, len(prompt), base.context_length)
        for name, value, least in (
            ("num_samples", num_samples, 1),
            ("topk_prompt_logprobs", topk_prompt_logprobs, 0),
            ("topk_sample_logprobs", topk_sample_logprobs, 0),
            ("prompt_alt_tokens_k", prompt_alt_tokens_k, 0),
        ):
            if value < least:
                raise UserInputError(f"{name}: expected >= {least}, got {value}")
        stop_ids, stop_strings = self._stops(config.stop)
        plan = _Plan(
            ids=ids,
            config=config,
            max_tokens=max_tokens,
            seed=config.seed if config.seed is not None else secrets.randbits(63),
            num_samples=num_samples,
            stop_ids=stop_ids,
            stop_strings=stop_strings,
            prompt_logprobs=prompt_logprobs,
            topk_prompt_logprobs=topk_prompt_logprobs,
            topk_sample_logprobs=topk_sample_logprobs,
            prompt_alt_tokens_k=prompt_alt_tokens_k,
            target_ids=self._target_tensor(target_prompt_ids, len(prompt)),
        )
        return self._generate(plan, adapter, cancelled)

    def compute_logprobs(self, prompt: Sequence[int], *, adapter: str | None = None) -> np.ndarray:
        """Logprob of each prompt token given the ones before it; NaN at position 0."""
        ids = self._prompt_tensor(prompt)
        with self.host.using(adapter) as model, torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits[0].float()
        return _prompt_logprobs(torch.log_softmax(logits, dim=-1), ids[0])

    def _generate(
        self, plan: _Plan, adapter: str | None, cancelled: Callable[[], bool]
    ) -> SampleStream:
        # Gradients are disabled around each model call only: a suspended generator must not
        # leave its consumer's thread in no-grad mode.
        generator = torch.Generator(device=self.host.base.device).manual_seed(plan.seed)
        with self.host.using(adapter) as model:
            with torch.no_grad():
                logits_to_keep = 0 if plan.scores_prompt else 1
                out = model(input_ids=plan.ids, use_cache=True, logits_to_keep=logits_to_keep)
            prompt_lp = torch.log_softmax(out.logits[0].float(), dim=-1)
            yield self._prompt_scores(plan, prompt_lp)
            cache = out.cache
            if plan.num_samples > 1:
                cache.batch_repeat_interleave(plan.num_samples)
            last = prompt_lp[-1:].expand(plan.num_samples, -1)
            tokens: list[list[int]] = [[] for _ in range(plan.num_samples)]
            stopped = [False] * plan.num_samples
            for step in range(plan.max_tokens):
                if cancelled():
                    return
                final_step = step == plan.max_tokens - 1
                chosen = _choose(last, plan.config, generator)
                picked = last.gather(-1, chosen.unsqueeze(-1)).squeeze(-1).tolist()
                topk = _topk_rows(last, plan.topk_sample_logprobs)
                for row, token in enumerate(chosen.tolist()):
                    if stopped[row]:
                        continue
                    tokens[row].append(token)
                    stop = token in plan.stop_ids or self._hit_string(tokens[row], plan)
                    stopped[row] = stop
                    reason: StopReason | None = "stop" if stop else None
                    if final_step and not stop:
                        reason = "length"
                    yield TokenStep(
                        row, token, picked[row], None if topk is None else topk[row], reason
                    )
                if all(stopped) or final_step:
                    return
                with torch.no_grad():
                    out = model(input_ids=chosen.unsqueeze(-1), cache=cache, use_cache=True)
                cache = out.cache
                last = torch.log_softmax(out.logits[:, -1].float(), dim=-1)

    def _prompt_scores(self, plan: _Plan, prompt_lp: torch.Tensor) -> PromptScores:
        ids = plan.ids[0]
        alt = None
        if plan.prompt_alt_tokens_k:
            alt = _alt_tokens(prompt_lp, plan, self.host.base.device)
        return PromptScores(
            prompt_logprobs=_prompt_logprobs(prompt_lp, ids) if plan.prompt_logprobs else None,
            topk_prompt_logprobs=(
                _topk(prompt_lp, plan.topk_prompt_logprobs) if plan.topk_prompt_logprobs else None
            ),
            prompt_alt_tokens=alt,
            target_prompt_logprobs=(
                None if plan.target_ids is None else _target_logprobs(prompt_lp, plan.target_ids)
            ),
        )

    def _target_tensor(self, target: np.ndarray | None, prompt_length: int) -> torch.Tensor | None:
        """The requested target ids on the model's device, once checked."""
        if target is None:
            return None
        check_target_ids(target, prompt_length, self.host.base.vocab_size)
        return torch.as_tensor(target, device=self.host.base.device)

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

    def _hit_string(self, tokens: list[int], plan: _Plan) -> bool:
        if not plan.stop_strings:
            return False
        text = self.host.base.tokenizer.decode(tokens)
        return any(stop in text for stop in plan.stop_strings)


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


def _topk_rows(logprobs: torch.Tensor, k: int) -> list[TopkRow] | None:
    """The k likeliest `(token, logprob)` pairs of each row, or None when k is 0."""
    if k == 0:
        return None
    values, indices = torch.topk(logprobs, min(k, logprobs.shape[-1]), dim=-1)
    return [
        list(zip(row_ids, row_lps, strict=True))
        for row_ids, row_lps in zip(indices.tolist(), values.tolist(), strict=True)
    ]


def check_target_ids(target: np.ndarray, prompt_length: int, vocab_size: int | None = None) -> None:
    """Refuse `target_prompt_logprobs` ids of the wrong type, shape or range; the range is
    checked only given `vocab_size`, so a route can check the rest before loading a model."""
    name = "target_prompt_logprobs"
    if target.dtype != np.int64:
        raise UserInputError(f"{name}: expected an int64 tensor of token ids, got {target.dtype}")
    if target.ndim != 2 or target.shape[0] != prompt_length - 1 or target.shape[1] < 1:
        raise UserInputError(
            f"{name}: expected shape [len(prompt) - 1, K] = [{prompt_length - 1}, K >= 1], "
            f"got {list(target.shape)}; send one row per prompt position after the first"
        )
    if not (target >= 0).any():
        raise UserInputError(f"{name}: names no token id (all cells are -1); name at least one")
    low, high = int(target.min()), int(target.max())
    if low < -1 or (vocab_size is not None and high >= vocab_size):
        upper = "the vocabulary size" if vocab_size is None else str(vocab_size)
        raise UserInputError(
            f"{name}: token ids must lie in [0, {upper}), or be -1 in cells that ask nothing; "
            f"got range [{low}, {high}]"
        )


def _target_logprobs(logprobs: torch.Tensor, target_ids: torch.Tensor) -> np.ndarray:
    """Row i: logprobs of `target_ids[i]` at position i + 1 (scored from `logprobs[i]`);
    0.0 where the id is -1."""
    wanted = target_ids >= 0
    picked = logprobs[:-1].gather(-1, target_ids.clamp(min=0))
    return torch.where(wanted, picked, 0.0).cpu().numpy().astype(np.float32)


def _alt_tokens(prompt_lp: torch.Tensor, plan: _Plan, device: Any) -> PromptAltTokens:
    """`k` draws at each prompt position after the first, from its own seeded generator."""
    scored = prompt_lp[:-1]
    k = plan.prompt_alt_tokens_k
    if plan.config.temperature == 0:
        drawn = scored.argmax(dim=-1, keepdim=True).expand(-1, k)
    else:
        generator = torch.Generator(device=device).manual_seed(plan.seed ^ _ALT_SEED_SALT)
        probs = torch.softmax(scored / plan.config.temperature, dim=-1)
        drawn = torch.multinomial(probs, k, replacement=True, generator=generator)
    return PromptAltTokens(
        tokens=drawn.cpu().numpy().astype(np.int64),
        logprobs=scored.gather(-1, drawn).cpu().numpy().astype(np.float32),
    )


def collect(events: SampleStream, num_samples: int) -> SamplerOutput:
    """Fold a whole stream into the result `Sampler.sample` returns."""
    scores = PromptScores()
    tokens: list[list[int]] = [[] for _ in range(num_samples)]
    logprobs: list[list[float]] = [[] for _ in range(num_samples)]
    topk: list[list[TopkRow]] = [[] for _ in range(num_samples)]
    reasons: list[StopReason] = ["length"] * num_samples
    with closing(events) as stream:
        for event in stream:
            if isinstance(event, PromptScores):
                scores = event
                continue
            row = event.sequence_index
            tokens[row].append(event.token)
            logprobs[row].append(event.logprob)
            if event.topk_logprobs is not None:
                topk[row].append(event.topk_logprobs)
            if event.stop_reason is not None:
                reasons[row] = event.stop_reason
    return SamplerOutput(
        sequences=[
            SampledWithTopk(tokens[row], logprobs[row], reasons[row], topk[row] or None)
            for row in range(num_samples)
        ],
        prompt_logprobs=scores.prompt_logprobs,
        topk_prompt_logprobs=scores.topk_prompt_logprobs,
        prompt_alt_tokens=scores.prompt_alt_tokens,
        target_prompt_logprobs=scores.target_prompt_logprobs,
    )
