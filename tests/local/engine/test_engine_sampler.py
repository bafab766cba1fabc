"""Sampling: seeded reproducibility, stops, filters, logprobs, snapshots, base model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from tinkex.local.engine import (
    AdamConfig,
    AdapterHost,
    EngineDatum,
    LoraSpec,
    Sampler,
    SamplingConfig,
    TrainingSession,
    UserInputError,
)

Encode = Callable[[str], list[int]]
PROMPT = "<|im_start|>user\nWhat is the capital of Peru?<|im_end|>\n<|im_start|>assistant\n"


def test_seeded_sampling_is_reproducible(host: AdapterHost, encode: Encode) -> None:
    sampler, prompt = Sampler(host), encode("The")
    config = SamplingConfig(max_tokens=24, seed=11, stop=[])
    first = sampler.sample(prompt, config, num_samples=3)
    again = sampler.sample(prompt, config, num_samples=3)
    other = sampler.sample(prompt, SamplingConfig(max_tokens=24, seed=12, stop=[]), num_samples=3)
    assert [s.tokens for s in first.sequences] == [s.tokens for s in again.sequences]
    assert [s.logprobs for s in first.sequences] == [s.logprobs for s in again.sequences]
    assert [s.tokens for s in first.sequences] != [s.tokens for s in other.sequences]
    assert len({tuple(s.tokens) for s in first.sequences}) > 1  # samples differ within a request


def test_max_tokens_ends_with_length(host: AdapterHost, encode: Encode) -> None:
    result = Sampler(host).sample(encode("one two"), SamplingConfig(max_tokens=5, stop=[], seed=0))
    (sequence,) = result.sequences
    assert len(sequence.tokens) == 5
    assert sequence.stop_reason == "length"


def test_eos_stops_by_default_and_stays_in_the_output(host: AdapterHost, encode: Encode) -> None:
    eos = host.base.tokenizer.eos_token_id
    result = Sampler(host).sample(encode(PROMPT), SamplingConfig(max_tokens=40, temperature=0))
    (sequence,) = result.sequences
    assert sequence.stop_reason == "stop"
    assert sequence.tokens[-1] == eos
    assert host.base.tokenizer.decode(sequence.tokens[:-1]) == "The capital of Peru is Lima."


def test_stop_token_ids_and_stop_strings(host: AdapterHost, encode: Encode) -> None:
    sampler, prompt = Sampler(host), encode(PROMPT)
    greedy = sampler.sample(prompt, SamplingConfig(max_tokens=40, temperature=0, stop=[]))
    tokens = greedy.sequences[0].tokens
    by_id = sampler.sample(prompt, SamplingConfig(max_tokens=40, temperature=0, stop=[tokens[2]]))
    assert by_id.sequences[0].tokens == tokens[:3]
    assert by_id.sequences[0].stop_reason == "stop"
    by_text = sampler.sample(prompt, SamplingConfig(max_tokens=40, temperature=0, stop="Peru"))
    text = host.base.tokenizer.decode(by_text.sequences[0].tokens)
    assert text.endswith("Peru")
    assert by_text.sequences[0].stop_reason == "stop"


def test_top_k_one_and_tiny_top_p_are_greedy(host: AdapterHost, encode: Encode) -> None:
    sampler, prompt = Sampler(host), encode("The fox")
    greedy = sampler.sample(prompt, SamplingConfig(max_tokens=12, temperature=0, stop=[]))
    top_k = sampler.sample(
        prompt, SamplingConfig(max_tokens=12, top_k=1, seed=5, stop=[]), num_samples=2
    )
    top_p = sampler.sample(
        prompt, SamplingConfig(max_tokens=12, top_p=1e-6, seed=5, stop=[]), num_samples=2
    )
    expected = greedy.sequences[0].tokens
    assert all(s.tokens == expected for s in [*top_k.sequences, *top_p.sequences])


def test_top_k_limits_choices_to_the_k_likeliest(host: AdapterHost, encode: Encode) -> None:
    prompt = encode("The")
    with host.using(None) as model, torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, -1]
    allowed = set(torch.topk(logits, 3).indices.tolist())
    result = Sampler(host).sample(
        prompt, SamplingConfig(max_tokens=1, top_k=3, seed=1, stop=[]), num_samples=32
    )
    assert {s.tokens[0] for s in result.sequences} <= allowed


def test_logprobs_and_prompt_logprobs_agree_with_compute_logprobs(
    host: AdapterHost, encode: Encode
) -> None:
    sampler, prompt = Sampler(host), encode(PROMPT)
    result = sampler.sample(
        prompt,
        SamplingConfig(max_tokens=8, seed=3, temperature=0.7),
        prompt_logprobs=True,
        topk_prompt_logprobs=4,
    )
    (sequence,) = result.sequences
    full = sampler.compute_logprobs(prompt + sequence.tokens)
    assert np.isnan(full[0])
    assert result.prompt_logprobs is not None
    np.testing.assert_allclose(result.prompt_logprobs[1:], full[1 : len(prompt)], atol=1e-4)
    assert np.isnan(result.prompt_logprobs[0])
    np.testing.assert_allclose(sequence.logprobs, full[len(prompt) :], atol=1e-4)
    topk = result.topk_prompt_logprobs
    assert topk is not None
    assert topk.token_ids.shape == topk.logprobs.shape == (len(prompt), 4)
    assert topk.logprobs[0, 0] == -99999.0
    assert np.all(np.diff(topk.logprobs[1:], axis=1) <= 0)
    assert np.all(topk.logprobs[1:, 0] >= result.prompt_logprobs[1:] - 1e-5)


def test_snapshot_survives_later_training(host: AdapterHost, encode: Encode) -> None:
    session = TrainingSession.create(host, "policy", _spec())
    sampler, prompt = Sampler(host), encode(PROMPT)
    _train(session, encode("Teal is a colour."), steps=2)
    host.copy_frozen("policy", "snapshot-1")
    frozen = sampler.compute_logprobs(prompt, adapter="snapshot-1")
    np.testing.assert_array_equal(frozen, sampler.compute_logprobs(prompt, adapter="policy"))

    _train(session, encode("Teal is a colour."), steps=2)

    np.testing.assert_array_equal(frozen, sampler.compute_logprobs(prompt, adapter="snapshot-1"))
    assert not np.allclose(frozen[1:], sampler.compute_logprobs(prompt, adapter="policy")[1:])
    assert all(not p.requires_grad for p in host.parameters("snapshot-1").values())
    host.remove("snapshot-1")
    with pytest.raises(UserInputError, match="snapshot-1"):
        sampler.compute_logprobs(prompt, adapter="snapshot-1")


def test_base_model_sampling_ignores_adapters(host: AdapterHost, encode: Encode) -> None:
    sampler, prompt = Sampler(host), encode(PROMPT)
    before = sampler.compute_logprobs(prompt)
    session = TrainingSession.create(host, "policy", _spec())
    _train(session, encode("Teal is a colour."), steps=2)
    np.testing.assert_array_equal(before, sampler.compute_logprobs(prompt))
    assert not np.allclose(before[1:], sampler.compute_logprobs(prompt, adapter="policy")[1:])


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (SamplingConfig(max_tokens=0), "max_tokens"),
        (SamplingConfig(max_tokens=10_000), "max_tokens"),
        (SamplingConfig(temperature=-1), "temperature"),
        (SamplingConfig(top_p=0), "top_p"),
        (SamplingConfig(top_k=0), "top_k"),
        (SamplingConfig(stop=[1, "x"]), "stop"),  # type: ignore[arg-type]
    ],
)
def test_bad_sampling_params_are_user_errors(
    host: AdapterHost, config: SamplingConfig, field: str
) -> None:
    with pytest.raises(UserInputError, match=f"sampling_params.{field}"):
        Sampler(host).sample([1, 2, 3], config)


def test_bad_prompts_and_counts_are_user_errors(host: AdapterHost) -> None:
    sampler = Sampler(host)
    with pytest.raises(UserInputError, match="prompt"):
        sampler.sample([], SamplingConfig(max_tokens=1))
    with pytest.raises(UserInputError, match="prompt"):
        sampler.compute_logprobs([5, 99_999])
    with pytest.raises(UserInputError, match="num_samples"):
        sampler.sample([1], SamplingConfig(max_tokens=1), num_samples=0)
    with pytest.raises(UserInputError, match="topk_prompt_logprobs"):
        sampler.sample([1], SamplingConfig(max_tokens=1), topk_prompt_logprobs=-1)


def _spec() -> LoraSpec:
    return LoraSpec(rank=4, seed=0)


def _train(session: TrainingSession, ids: list[int], steps: int) -> None:
    datum = EngineDatum(ids[:-1], {"target_tokens": np.array(ids[1:])})
    for _ in range(steps):
        session.forward_backward([datum], "cross_entropy")
        session.optim_step(AdamConfig(learning_rate=1e-2))
