"""What every example shares: its command line, a server to talk to and chat rendering.

Each example runs against `--base-url` when given (any Tinker-compatible server; the key
comes from `TINKER_API_KEY`), and otherwise starts the embedded `tinkex.local` server on a
free loopback port, so it works offline out of the box.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import tinkex as tinker
from tinkex.datasets import datum_from_tokens, render_conversation
from tinkex.tokenizer import Tokenizer

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
LOCAL_API_KEY = "tml-examples"
STOP = ["<|im_end|>"]
"""The end-of-turn marker of ChatML, the format of SmolLM2 and of the bundled tiny model."""
FACT = "The capital of Zorbia is Quillton."
"""A made-up fact the base model cannot know: when the answers state it, training worked."""
FACT_QUESTIONS = (
    "What is the capital of Zorbia?",
    "Which city is the capital of Zorbia?",
    "Name the capital of Zorbia.",
    "Zorbia's capital is called what?",
)


def parse_args(description: str | None, *, steps: int, learning_rate: float) -> argparse.Namespace:
    """`--base-url`, `--model`, `--steps` and `--learning-rate`, with this example's defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--base-url", help="a running server (default: start a local one)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"base model ({DEFAULT_MODEL})")
    parser.add_argument("--steps", type=int, default=steps, help=f"training steps ({steps})")
    parser.add_argument(
        "--learning-rate", type=float, default=learning_rate, help=f"Adam LR ({learning_rate})"
    )
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    if args.learning_rate <= 0:
        parser.error(f"--learning-rate must be > 0, got {args.learning_rate}")
    return args


@contextmanager
def service_client(args: argparse.Namespace) -> Iterator[tinker.ServiceClient]:
    """A ServiceClient for `args.base_url`, or for a local server started for this run."""
    if args.base_url:
        api_key = os.environ.get("TINKER_API_KEY", LOCAL_API_KEY)
        with tinker.ServiceClient(base_url=args.base_url, api_key=api_key) as service:
            yield service
        return
    from tinkex.local.config import ServerConfig
    from tinkex.local.server import LocalServer

    with tempfile.TemporaryDirectory(prefix="tinkex-example-") as data_dir:
        config = ServerConfig(port=0, data_dir=Path(data_dir), models=(args.model,))
        server = LocalServer(config)
        base_url = server.start()
        print(f"Started a local Tinker server at {base_url} serving {args.model}")
        try:
            with tinker.ServiceClient(base_url=base_url, api_key=LOCAL_API_KEY) as service:
                yield service
        finally:
            server.stop()


def chat_datum(tokenizer: Tokenizer, question: str, answer: str) -> tinker.Datum:
    """One user/assistant exchange as a Datum that trains only the answer's tokens."""
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    tokens, weights = render_conversation(tokenizer, messages)
    return datum_from_tokens(tokens, weights)


def fact_batch(tokenizer: Tokenizer) -> list[tinker.Datum]:
    """The supervised examples that teach `FACT`, one per question."""
    return [chat_datum(tokenizer, question, FACT) for question in FACT_QUESTIONS]


def ask(sampler: tinker.SamplingClient, tokenizer: Tokenizer, question: str) -> str:
    """The model's greedy answer to `question`."""
    params = tinker.SamplingParams(max_tokens=16, temperature=0.0, stop=STOP)
    reply = sampler.sample(chat_prompt(tokenizer, question), 1, params).result()
    return answer_text(tokenizer, reply.sequences[0].tokens)


def chat_prompt(tokenizer: Tokenizer, question: str) -> tinker.ModelInput:
    """The prompt that asks the model to answer `question` as the assistant."""
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True
    )
    return tinker.ModelInput.from_ints(ids)


def answer_text(tokenizer: Tokenizer, tokens: list[int]) -> str:
    """A sampled answer as text, without the end-of-turn marker."""
    return tokenizer.decode(tokens).split(STOP[0], 1)[0].strip()


def trained_tokens(data: list[tinker.Datum]) -> float:
    """Total loss weight of a batch, to turn `loss:sum` into a per-token mean."""
    return sum(float(d.loss_fn_inputs["weights"].to_numpy().sum()) for d in data)
