"""tinkex's tokenizer answers like ``transformers.AutoTokenizer`` where cookbook code calls it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinkex import tokenizer as tk
from tinkex.local.engine.models import cache_root

transformers = pytest.importorskip("transformers")

TINY = tk.BUNDLED_TOKENIZERS["tinkex/tiny-llama"]
SMOLLM2 = cache_root() / "models" / "SmolLM2-135M-Instruct"

DIRS = [
    pytest.param(TINY, id="tiny-llama"),
    pytest.param(
        SMOLLM2,
        id="smollm2",
        marks=pytest.mark.skipif(
            not (SMOLLM2 / "tokenizer.json").is_file(),
            reason="SmolLM2 tokenizer not converted locally (no network here)",
        ),
    ),
]
TEXTS = [
    "",
    "Hello, world!",
    "  leading and trailing spaces  ",
    "line one\nline two\ttab",
    "héllo wörld — ünïcödé ✓ 日本語 🙂",
    "<|im_start|>user\nhi<|im_end|>",
    "text with <|endoftext|> inside",
]
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2+2? ✓"},
    {"role": "assistant", "content": "4"},
]


@cache
def _pair(directory: Path) -> tuple[tk.Tokenizer, Any]:
    """Both tokenizers for ``directory``, loaded once per test session."""
    ours = tk._load(str(directory), None)
    theirs = transformers.AutoTokenizer.from_pretrained(str(directory))
    return ours, theirs


@pytest.mark.parametrize("directory", DIRS)
@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("add_special_tokens", [False, True])
def test_encode_and_call_match(directory: Path, text: str, add_special_tokens: bool) -> None:
    ours, theirs = _pair(directory)
    expected = theirs.encode(text, add_special_tokens=add_special_tokens)
    assert ours.encode(text, add_special_tokens=add_special_tokens) == expected
    assert dict(ours(text, add_special_tokens=add_special_tokens)) == dict(
        theirs(text, add_special_tokens=add_special_tokens)
    )
    assert ours(text).input_ids == theirs(text).input_ids
    assert ours([text]).attention_mask == theirs([text]).attention_mask


@pytest.mark.parametrize("directory", DIRS)
@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("skip", [False, True])
def test_decode_matches(directory: Path, text: str, skip: bool) -> None:
    ours, theirs = _pair(directory)
    ids = theirs.encode(text, add_special_tokens=False)
    assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(
        ids, skip_special_tokens=skip
    )
    batch = [ids, ids[:1], []]
    assert ours.batch_decode(batch, skip_special_tokens=skip) == theirs.batch_decode(
        batch, skip_special_tokens=skip
    )


@pytest.mark.parametrize("directory", DIRS)
def test_batch_call_matches(directory: Path) -> None:
    ours, theirs = _pair(directory)
    assert dict(ours(TEXTS)) == dict(theirs(TEXTS))


@pytest.mark.parametrize("directory", DIRS)
def test_attributes_match(directory: Path) -> None:
    ours, theirs = _pair(directory)
    for name in (
        "eos_token",
        "bos_token",
        "pad_token",
        "eos_token_id",
        "bos_token_id",
        "pad_token_id",
        "vocab_size",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert len(ours) == len(theirs)
    assert ours.get_vocab() == theirs.get_vocab()
    assert ours.name_or_path == theirs.name_or_path


@pytest.mark.parametrize("directory", DIRS)
def test_token_id_conversion_matches(directory: Path) -> None:
    ours, theirs = _pair(directory)
    tokens = theirs.convert_ids_to_tokens(theirs.encode(TEXTS[4]))
    tokens += ["<|im_end|>", "<|endoftext|>"]
    assert ours.convert_tokens_to_ids(tokens) == theirs.convert_tokens_to_ids(tokens)
    assert ours.convert_tokens_to_ids(tokens[0]) == theirs.convert_tokens_to_ids(tokens[0])
    ids = [0, 1, 2, len(theirs) - 1]
    assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
    assert ours.convert_ids_to_tokens(3) == theirs.convert_ids_to_tokens(3)


@pytest.mark.parametrize("directory", DIRS)
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_chat_template_matches(directory: Path, add_generation_prompt: bool) -> None:
    ours, theirs = _pair(directory)
    for tokenize in (False, True):
        expected = theirs.apply_chat_template(
            MESSAGES, tokenize=tokenize, add_generation_prompt=add_generation_prompt
        )
        if tokenize and not isinstance(expected, list):  # transformers 5 returns a mapping
            expected = expected["input_ids"]
        got = ours.apply_chat_template(
            MESSAGES, tokenize=tokenize, add_generation_prompt=add_generation_prompt
        )
        assert got == expected


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda t: t("hi", return_tensors="pt"), "return_tensors"),
        (lambda t: t.encode("hi", return_tensors="np"), "return_tensors"),
        (lambda t: t(["a", "bb"], padding=True), "padding"),
        (lambda t: t.apply_chat_template(MESSAGES, truncation=True), "truncation"),
        (lambda t: t.decode([1], bogus=1), "bogus"),
    ],
)
def test_unsupported_arguments_are_named(call: Any, argument: str) -> None:
    ours, _ = _pair(TINY)
    with pytest.raises(TypeError, match=argument):
        call(ours)


def test_hf_defaults_for_unsupported_arguments_are_accepted() -> None:
    ours, theirs = _pair(TINY)
    assert ours("hi", return_tensors=None, padding=False) == dict(theirs("hi"))


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=40))
def test_round_trip_matches_transformers(text: str) -> None:
    ours, theirs = _pair(TINY)
    ids = ours.encode(text, add_special_tokens=False)
    assert ids == theirs.encode(text, add_special_tokens=False)
    assert ours.decode(ids) == theirs.decode(ids)
