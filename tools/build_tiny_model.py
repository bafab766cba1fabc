"""Build the bundled tiny Llama model (`tinkex/tiny-llama`) shipped as package data.

Why: tests and demos need a real causal LM that loads offline in milliseconds and that
visibly learns under LoRA. A random base stalls (see the local-backend notes), so this script
trains a byte-level BPE tokenizer and briefly pre-trains the model on a seeded synthetic
corpus. The output is deterministic for a given seed and torch build.

Usage: python tools/build_tiny_model.py [--out DIR] [--steps N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/tinkex/local/models/tiny-llama"
VOCAB_SIZE = 1024
SEQ_LEN = 64
BATCH = 16
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CAPITALS = {
    "France": "Paris",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Germany": "Berlin",
    "Japan": "Tokyo",
    "Egypt": "Cairo",
    "Peru": "Lima",
    "Kenya": "Nairobi",
}
_ANIMALS = ["cat", "dog", "fox", "owl", "bear", "wolf", "hare", "crow"]
_VERBS = ["sees", "chases", "likes", "follows", "greets", "helps"]
_NUMBERS = [
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
]


def synthetic_corpus(seed: int, lines: int = 6000) -> list[str]:
    """Seeded sentences with learnable structure: facts, arithmetic, counting, chat turns."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(lines):
        kind = rng.randrange(5)
        if kind == 0:
            country, city = rng.choice(list(_CAPITALS.items()))
            out.append(f"The capital of {country} is {city}.")
        elif kind == 1:
            a, b = rng.randrange(10), rng.randrange(10)
            out.append(f"{a} plus {b} is {a + b}.")
        elif kind == 2:
            start = rng.randrange(6)
            out.append(" ".join(_NUMBERS[start : start + 4]) + ".")
        elif kind == 3:
            subject, obj = rng.sample(_ANIMALS, 2)
            out.append(f"The {subject} {rng.choice(_VERBS)} the {obj}.")
        else:
            country, city = rng.choice(list(_CAPITALS.items()))
            out.append(
                f"<|im_start|>user\nWhat is the capital of {country}?<|im_end|>\n"
                f"<|im_start|>assistant\nThe capital of {country} is {city}.<|im_end|>"
            )
    return out


def train_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    """A byte-level BPE with ChatML special tokens, wrapped for `AutoTokenizer`."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def pretrain(
    tokenizer: PreTrainedTokenizerFast, corpus: list[str], steps: int, seed: int
) -> LlamaForCausalLM:
    """Briefly train a 2-layer Llama on the corpus packed into fixed-length rows."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    separator = int(tokenizer.pad_token_id)  # <|endoftext|> between corpus lines
    ids: list[int] = []
    for line in corpus:
        ids.extend(tokenizer.encode(line))
        ids.append(separator)
    usable = len(ids) // SEQ_LEN * SEQ_LEN
    rows = torch.tensor(ids[:usable]).view(-1, SEQ_LEN)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for step in range(steps):
        batch = rows[torch.randint(len(rows), (BATCH,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:4d} loss {loss.item():.3f}")
    model.train(False)
    return model


def _portable_tokenizer_config(out: Path) -> None:
    """Name the generic fast-tokenizer class and inline the chat template.

    transformers 5 writes its own class name (`TokenizersBackend`) and a separate
    `chat_template.jinja`; older releases, which a cookbook venv may hold, need both here.
    """
    path = out / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["chat_template"] = CHAT_TEMPLATE
    path.write_text(json.dumps(config, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    corpus = synthetic_corpus(args.seed)
    tokenizer = train_tokenizer(corpus)
    model = pretrain(tokenizer, corpus, args.steps, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    _portable_tokenizer_config(args.out)
    for written in args.out.iterdir():
        written.chmod(0o644)  # safetensors writes 0600; package data must be world-readable
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
