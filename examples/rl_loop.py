"""Flow B: a minimal RL loop (GRPO-style, the cookbook's `rl_loop.py`, made tiny).

Each step samples a group of answers per arithmetic question from the current weights,
rewards the correct ones, centres the rewards per group into advantages and trains with
the `importance_sampling` loss on the sampled tokens.
"""

from __future__ import annotations

import random
import re

from _common import STOP, answer_text, chat_prompt, parse_args, service_client

import tinkex as tinker
from tinkex.tokenizer import Tokenizer

GROUP_SIZE = 4
QUESTIONS_PER_STEP = 2
NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)
NUMBER = re.compile(r"-?\d+|" + "|".join(rf"\b{word}\b" for word in NUMBER_WORDS), re.IGNORECASE)


def reward(tokenizer: Tokenizer, tokens: list[int], expected: int) -> float:
    """A verifiable reward: 1.0 for the right number, less the further off, 0.0 for none."""
    match = NUMBER.search(answer_text(tokenizer, tokens))
    if match is None:
        return 0.0
    word = match.group().lower()
    guess = NUMBER_WORDS.index(word) if word in NUMBER_WORDS else int(word)
    return 1.0 / (1.0 + abs(guess - expected))


def rl_datum(
    prompt: tinker.ModelInput, sample: tinker.SampledSequence, advantage: float
) -> tinker.Datum:
    """Prompt + sampled tokens; only the sampled ones carry logprobs and the advantage."""
    if sample.logprobs is None:
        raise ValueError("the sampler returned no logprobs; importance sampling needs them")
    tokens = prompt.to_ints() + list(sample.tokens)
    prompt_targets = prompt.length - 1
    return tinker.Datum(
        model_input=tinker.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": tokens[1:],
            "logprobs": [0.0] * prompt_targets + list(sample.logprobs),
            "advantages": [0.0] * prompt_targets + [advantage] * len(sample.tokens),
        },
    )


def main() -> None:
    args = parse_args(__doc__, steps=3, learning_rate=1e-3)
    rng = random.Random(0)
    with service_client(args) as service:
        training = service.create_lora_training_client(base_model=args.model, rank=16).result()
        tokenizer = training.get_tokenizer()
        params = tinker.SamplingParams(max_tokens=8, temperature=1.0, stop=STOP)
        adam = tinker.AdamParams(learning_rate=args.learning_rate)
        for step in range(args.steps):
            sampler = training.save_weights_and_get_sampling_client().result()
            problems = [(rng.randint(0, 5), rng.randint(0, 5)) for _ in range(QUESTIONS_PER_STEP)]
            prompts = [
                chat_prompt(tokenizer, f"What is {a} + {b}? Reply with the number.")
                for a, b in problems
            ]
            # Every group is in flight before any is awaited.
            futures = [sampler.sample(prompt, GROUP_SIZE, params) for prompt in prompts]
            batch: list[tinker.Datum] = []
            rewards: list[float] = []
            for prompt, (a, b), future in zip(prompts, problems, futures, strict=True):
                group = future.result().sequences
                scores = [reward(tokenizer, list(s.tokens), a + b) for s in group]
                rewards += scores
                mean = sum(scores) / len(scores)
                if all(score == mean for score in scores):
                    continue  # no signal in this group: every advantage would be zero
                batch += [
                    rl_datum(prompt, s, score - mean)
                    for s, score in zip(group, scores, strict=True)
                ]
            mean_reward = sum(rewards) / len(rewards)
            if batch:
                forward_backward = training.forward_backward(batch, loss_fn="importance_sampling")
                optim = training.optim_step(adam)
                forward_backward.result()
                optim.result()
            print(f"step {step}: mean reward {mean_reward:.2f}, trained on {len(batch)} samples")


if __name__ == "__main__":
    main()
