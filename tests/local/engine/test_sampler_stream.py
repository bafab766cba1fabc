"""`Sampler.stream`: the events `sample` folds, cancellation, and the per-token options
(`topk_sample_logprobs`, `prompt_alt_tokens_k`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import closing

import numpy as np
import pytest
import torch

from tinkex.local.engine import AdapterHost, Sampler, SamplingConfig, UserInputError
from tinkex.local.engine.sampler import PromptScores, SampledWithTopk, TokenStep, collect

Encode = Callable[[str], list[int]]


def test_the_stream_is_prompt_scores_then_tokens_and_folds_into_sample(
    host: AdapterHost, encode: Encode
) -> None:
    sampler, prompt = Sampler(host), encode("The fox")
    config = SamplingConfig(max_tokens=6, seed=4, stop=[])

    events = list(sampler.stream(prompt, config, num_samples=2, prompt_logprobs=True))

    assert isinstance(events[0], PromptScores)
    assert events[0].prompt_logprobs is not None
    steps = [event for event in events[1:] if isinstance(event, TokenStep)]
    assert len(steps) == len(events) - 1 == 12
    assert [s.stop_reason for s in steps if s.stop_reason] == ["length", "length"]
    folded = collect(sampler.stream(prompt, config, num_samples=2, prompt_logprobs=True), 2)
    sampled = sampler.sample(prompt, config, num_samples=2, prompt_logprobs=True)
    assert folded.sequences == sampled.sequences
    for row, sequence in enumerate(sampled.sequences):
        assert [s.token for s in steps if s.sequence_index == row] == sequence.tokens
        assert [s.logprob for s in steps if s.sequence_index == row] == sequence.logprobs


def test_bad_input_raises_before_any_work(host: AdapterHost, encode: Encode) -> None:
    sampler = Sampler(host)
    for name, options in (
        ("topk_sample_logprobs", {"topk_sample_logprobs": -1}),
        ("prompt_alt_tokens_k", {"prompt_alt_tokens_k": -2}),
        ("num_samples", {"num_samples": 0}),
    ):
        with pytest.raises(UserInputError, match=name):
            sampler.stream(encode("a"), SamplingConfig(max_tokens=2), **options)  # type: ignore[arg-type]


def test_cancelling_stops_before_the_next_token(host: AdapterHost, encode: Encode) -> None:
    made: list[int] = []

    with closing(
        Sampler(host).stream(
            encode("one"),
            SamplingConfig(max_tokens=50, seed=0, stop=[]),
            cancelled=lambda: len(made) >= 3,
        )
    ) as events:
        for event in events:
            if isinstance(event, TokenStep):
                made.append(event.token)

    assert len(made) == 3


def test_a_suspended_stream_leaves_grad_mode_alone_and_closing_frees_the_host(
    host: AdapterHost, encode: Encode
) -> None:
    events = Sampler(host).stream(encode("one"), SamplingConfig(max_tokens=20, stop=[], seed=1))
    next(events)
    next(events)
    assert torch.is_grad_enabled()
    events.close()

    acquired: list[bool] = []

    def try_lock() -> None:
        got = host.lock.acquire(timeout=5)
        acquired.append(got)
        if got:
            host.lock.release()

    other = threading.Thread(target=try_lock)
    other.start()
    other.join()
    assert acquired == [True]


def test_topk_sample_logprobs_rank_the_distribution_each_token_came_from(
    host: AdapterHost, encode: Encode
) -> None:
    sampler, prompt = Sampler(host), encode("The capital of Peru")
    greedy = SamplingConfig(max_tokens=5, temperature=0, stop=[])

    result = sampler.sample(prompt, greedy, topk_sample_logprobs=3)

    (sequence,) = result.sequences
    assert isinstance(sequence, SampledWithTopk)
    assert sequence.topk_logprobs is not None
    assert len(sequence.topk_logprobs) == len(sequence.tokens)
    for token, logprob, row in zip(
        sequence.tokens, sequence.logprobs, sequence.topk_logprobs, strict=True
    ):
        assert len(row) == 3
        assert row[0][0] == token  # greedy picks the top one
        assert row[0][1] == pytest.approx(logprob)
        assert [lp for _, lp in row] == sorted((lp for _, lp in row), reverse=True)
    plain = sampler.sample(prompt, greedy)
    assert plain.sequences[0].tokens == sequence.tokens
    assert getattr(plain.sequences[0], "topk_logprobs", None) is None


def test_prompt_alt_tokens_are_draws_with_the_models_logprobs(
    host: AdapterHost, encode: Encode
) -> None:
    sampler, prompt = Sampler(host), encode("The quick brown fox")
    config = SamplingConfig(max_tokens=4, temperature=1.0, seed=9, stop=[])

    result = sampler.sample(prompt, config, prompt_alt_tokens_k=4, num_samples=2)
    greedy = sampler.sample(
        prompt, SamplingConfig(max_tokens=1, temperature=0), prompt_alt_tokens_k=2
    )

    alt = result.prompt_alt_tokens
    assert alt is not None
    assert alt.tokens.shape == alt.logprobs.shape == (len(prompt) - 1, 4)
    assert alt.tokens.dtype == np.int64
    assert alt.logprobs.dtype == np.float32
    with torch.no_grad():
        logits = (
            host.base.model(input_ids=torch.tensor([prompt]), use_cache=False).logits[0].float()
        )
    expected = torch.log_softmax(logits, dim=-1)[:-1].gather(-1, torch.from_numpy(alt.tokens))
    np.testing.assert_allclose(alt.logprobs, expected.numpy(), rtol=1e-4, atol=1e-5)
    assert any(len(set(row)) > 1 for row in alt.tokens.tolist())  # draws, not just argmax
    without = sampler.sample(prompt, config, num_samples=2)
    assert [s.tokens for s in without.sequences] == [s.tokens for s in result.sequences]
    assert greedy.prompt_alt_tokens is not None
    argmax = logits[:-1].argmax(dim=-1).numpy()
    assert (greedy.prompt_alt_tokens.tokens == argmax[:, None]).all()
