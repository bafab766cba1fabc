"""`tinkex sample`: generate text from a base model or a sampler checkpoint.

With one sample, a table-format run on a client that can stream prints the text as the
tokens arrive; otherwise (or with `--no-stream`) the whole result is printed at the end.
"""

from __future__ import annotations

import sys

import click

from tinkex import types
from tinkex.cli.context import CliContext, SampleRequest, TokenCallback
from tinkex.cli.options import json_option, pass_cli
from tinkex.cli.output import View, emit
from tinkex.clients.streaming import IncrementalText
from tinkex.tokenizer import Tokenizer, get_tokenizer

__all__ = ["StreamPrinter", "command"]


class StreamPrinter:
    """Prints sequence 0's text as tokens arrive, never half of a character split across
    tokens (`IncrementalText` holds its bytes back until the character is complete)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._text = IncrementalText(tokenizer)
        self._printed = ""

    def __call__(self, sequence_index: int, token: int) -> None:
        if sequence_index == 0:
            self._write(self._text.push([token]))

    def finish(self, sequence: types.SampledSequence) -> None:
        """Print whatever the stream did not (e.g. a trailing partial character), or the
        final text on a line of its own if it disagrees with what was streamed."""
        self._write(self._text.finish())
        text = self._tokenizer.decode(sequence.tokens)
        sys.stdout.write(("\n" + text if text != self._printed else "") + "\n")
        sys.stdout.flush()

    def _write(self, delta: str) -> None:
        if delta:
            sys.stdout.write(delta)
            sys.stdout.flush()
            self._printed += delta


def _sample_data(
    model: str, prompt: str, tokens: list[int], response: types.SampleResponse, tok: Tokenizer
) -> dict[str, object]:
    return {
        "model": model,
        "prompt": prompt,
        "prompt_tokens": tokens,
        "samples": [
            {
                "text": tok.decode(sequence.tokens),
                "tokens": list(sequence.tokens),
                "logprobs": None if sequence.logprobs is None else list(sequence.logprobs),
                "stop_reason": str(sequence.stop_reason),
            }
            for sequence in response.sequences
        ],
    }


@click.command("sample")
@click.option(
    "--model",
    "-m",
    required=True,
    help="Base model name, or a tinker://<run>/sampler_weights/<name> path.",
)
@click.option("--prompt", "-p", required=True, help="Text to continue.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--num-samples", "-n", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=None, help="Make sampling reproducible.")
@click.option(
    "--stream/--no-stream", default=True, help="Print text as it arrives (when supported)."
)
@json_option
@pass_cli
def command(
    ctx: CliContext,
    model: str,
    prompt: str,
    max_tokens: int,
    temperature: float,
    num_samples: int,
    seed: int | None,
    stream: bool,
) -> None:
    """Sample completions of PROMPT from a model."""
    sampler = ctx.sampler(model)
    tokenizer = get_tokenizer(sampler.base_model)
    tokens = tokenizer.encode(prompt, add_special_tokens=False)
    request = SampleRequest(
        prompt_tokens=tokens,
        num_samples=num_samples,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
    )
    live = stream and sampler.streams and num_samples == 1 and not ctx.json
    printer = StreamPrinter(tokenizer) if live else None
    on_token: TokenCallback | None = printer
    response = sampler.sample(request, on_token)
    if printer is not None:
        printer.finish(response.sequences[0])
        return
    data = _sample_data(model, prompt, tokens, response, tokenizer)
    rows = [
        [str(index), tokenizer.decode(sequence.tokens), str(sequence.stop_reason)]
        for index, sequence in enumerate(response.sequences, start=1)
    ]
    title = f"{len(rows)} sample(s) from {sampler.base_model}"
    emit(View(data=data, title=title, columns=["#", "Text", "Stop"], rows=rows), ctx.format)
