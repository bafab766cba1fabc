"""`target_prompt_logprobs`: the logprobs of chosen ids at each prompt position, from the
prefill that serves the sample, equal to a direct forward pass's log-softmax."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from tinkex.local.engine import AdapterHost, Sampler, SamplingConfig, UserInputError

Encode = Callable[[str], list[int]]
CONFIG = SamplingConfig(max_tokens=2, seed=3, stop=[])


def _direct(host: AdapterHost, prompt: list[int]) -> torch.Tensor:
    ids = torch.tensor([prompt], device=host.base.device)
    with host.using(None) as model, torch.no_grad():
        return torch.log_softmax(model(input_ids=ids, use_cache=False).logits[0].float(), dim=-1)


def test_each_cell_is_the_logprob_of_its_id_at_the_next_position(
    host: AdapterHost, encode: Encode
) -> None:
    prompt = encode("The quick brown fox jumps")
    rows, vocab = len(prompt) - 1, host.base.vocab_size
    rng = np.random.default_rng(0)
    targets = rng.integers(0, vocab, size=(rows, 3), dtype=np.int64)
    targets[:, 0] = prompt[1:]  # column 0: the prompt's own next tokens
    targets[0, 2] = targets[rows - 1, 1] = -1

    result = Sampler(host).sample(prompt, CONFIG, prompt_logprobs=True, target_prompt_ids=targets)

    lp = _direct(host, prompt)
    expected = lp[:-1].gather(-1, torch.as_tensor(targets).clamp(min=0)).numpy()
    expected[targets == -1] = 0.0
    got = result.target_prompt_logprobs
    assert got is not None
    assert got.dtype == np.float32
    assert got.shape == (rows, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert got[0, 2] == got[rows - 1, 1] == 0.0
    assert result.prompt_logprobs is not None
    np.testing.assert_allclose(got[:, 0], result.prompt_logprobs[1:], rtol=1e-6, atol=1e-6)


def test_asking_for_targets_leaves_the_seeded_sample_unchanged(
    host: AdapterHost, encode: Encode
) -> None:
    sampler, prompt = Sampler(host), encode("one two three")
    targets = np.zeros((len(prompt) - 1, 1), dtype=np.int64)
    plain = sampler.sample(prompt, CONFIG)
    scored = sampler.sample(prompt, CONFIG, target_prompt_ids=targets)
    assert plain.target_prompt_logprobs is None
    assert [s.tokens for s in scored.sequences] == [s.tokens for s in plain.sequences]


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (np.zeros((3, 1), dtype=np.int32), "int64"),
        (np.zeros((2, 1), dtype=np.int64), "shape"),
        (np.zeros(3, dtype=np.int64), "shape"),
        (np.zeros((3, 0), dtype=np.int64), "shape"),
        (np.full((3, 1), -1, dtype=np.int64), "no token id"),
        (np.array([[0], [-2], [0]], dtype=np.int64), r"\[0, "),
        (np.full((3, 1), 10**9, dtype=np.int64), r"\[0, "),
    ],
)
def test_bad_targets_are_refused_naming_the_field(
    host: AdapterHost, targets: np.ndarray, message: str
) -> None:
    with pytest.raises(UserInputError, match=f"target_prompt_logprobs.*{message}"):
        Sampler(host).stream([1, 2, 3, 4], CONFIG, target_prompt_ids=targets)
