"""Chat and text files into Datums with the bundled tiny model's tokenizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tinkex.datasets import (
    DatasetFormatError,
    datum_from_tokens,
    read_chat_file,
    read_text_file,
    render_conversation,
)
from tinkex.tokenizer import Tokenizer, get_tokenizer
from tinkex.types import Datum

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "6"},
]


@pytest.fixture
def tokenizer() -> Tokenizer:
    return get_tokenizer("tinkex/tiny-llama")


def _trained_text(tokenizer: Tokenizer, tokens: list[int], weights: list[float]) -> str:
    return tokenizer.decode([t for t, w in zip(tokens, weights, strict=True) if w == 1.0])


def _inputs(datum: Datum) -> tuple[list[int], list[int], list[float]]:
    targets = datum.loss_fn_inputs["target_tokens"].data
    weights = datum.loss_fn_inputs["weights"].data
    return datum.model_input.to_ints(), [int(t) for t in targets], [float(w) for w in weights]


def test_only_assistant_bodies_carry_weight(tokenizer: Tokenizer) -> None:
    tokens, weights = render_conversation(tokenizer, CONVERSATION)
    assert tokenizer.decode(tokens) == tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert set(weights) == {0.0, 1.0}
    assert _trained_text(tokenizer, tokens, weights) == "4<|im_end|>\n6<|im_end|>\n"


def test_an_explicit_template_is_used(tokenizer: Tokenizer) -> None:
    template = "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
    template += "{% if add_generation_prompt %}[assistant]{% endif %}"
    tokens, weights = render_conversation(tokenizer, CONVERSATION[1:3], template=template)
    assert tokenizer.decode(tokens) == "[user]What is 2+2?[assistant]4"
    assert _trained_text(tokenizer, tokens, weights) == "4"


def test_templates_that_rewrite_earlier_turns_are_refused(tokenizer: Tokenizer) -> None:
    template = "{{ messages | length }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(DatasetFormatError, match=r"messages\[0\]: the chat template is not"):
        render_conversation(tokenizer, CONVERSATION[1:3], template=template)


def test_datum_is_the_shifted_next_token_pair() -> None:
    datum = datum_from_tokens([5, 6, 7, 8], [0.0, 0.0, 1.0, 1.0])
    assert _inputs(datum) == ([5, 6, 7], [6, 7, 8], [0.0, 1.0, 1.0])
    truncated = datum_from_tokens([5, 6, 7, 8], [0.0, 1.0, 1.0, 1.0], max_length=3)
    assert _inputs(truncated) == ([5, 6], [6, 7], [1.0, 1.0])


@pytest.mark.parametrize(
    ("tokens", "weights", "max_length", "message"),
    [
        ([1, 2], [1.0], 10, "got 2 tokens but 1 weights"),
        ([1], [1.0], 10, "at least 2 tokens"),
        ([1, 2], [1.0, 1.0], 1, "max_length must be an integer >= 2"),
        ([1, 2], [1.0, 1.0], True, "max_length must be an integer >= 2"),
    ],
)
def test_bad_token_lists_are_refused(
    tokens: list[int], weights: list[float], max_length: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        datum_from_tokens(tokens, weights, max_length=max_length)


def test_reads_jsonl_conversations(tmp_path: Path, tokenizer: Tokenizer) -> None:
    path = tmp_path / "chat.jsonl"
    lines = [
        json.dumps({"messages": CONVERSATION}),
        "",
        json.dumps({"messages": CONVERSATION[1:3]}),
    ]
    path.write_text("\n".join(lines) + "\n")
    datums = read_chat_file(path, tokenizer, max_length=512)
    assert len(datums) == 2
    model_input, targets, weights = _inputs(datums[1])
    tokens, expected_weights = render_conversation(tokenizer, CONVERSATION[1:3])
    assert model_input == tokens[:-1]
    assert targets == tokens[1:]
    assert weights == expected_weights[1:]


def test_reads_json_lists_and_single_objects(tmp_path: Path, tokenizer: Tokenizer) -> None:
    listed = tmp_path / "chat.json"
    listed.write_text(json.dumps([{"messages": CONVERSATION}, {"messages": CONVERSATION[:3]}]))
    assert len(read_chat_file(listed, tokenizer)) == 2
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"messages": CONVERSATION}))
    assert len(read_chat_file(single, tokenizer)) == 1


def test_truncation_applies_to_each_conversation(tmp_path: Path, tokenizer: Tokenizer) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": CONVERSATION}))
    (datum,) = read_chat_file(path, tokenizer, max_length=9)
    assert datum.model_input.length == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{bad json", r"chat\.jsonl:2: invalid JSON"),
        (json.dumps([1]), r"chat\.jsonl:2: expected an object with a 'messages' list"),
        (json.dumps({"messages": []}), r"chat\.jsonl:2: 'messages' is empty"),
        (
            json.dumps({"messages": [{"role": "user", "content": ["part"]}]}),
            r"chat\.jsonl:2: messages\[0\]\.content must be a string, got \['part'\]",
        ),
        (
            json.dumps({"messages": [{"role": "", "content": "x"}]}),
            r"chat\.jsonl:2: messages\[0\]\.role must be a non-empty string",
        ),
        (json.dumps({"messages": ["hi"]}), r"messages\[0\]\.role must be"),
    ],
)
def test_bad_jsonl_records_name_the_line_and_field(
    tmp_path: Path, tokenizer: Tokenizer, content: str, message: str
) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": CONVERSATION}) + "\n" + content + "\n")
    with pytest.raises(DatasetFormatError, match=message):
        read_chat_file(path, tokenizer)


def test_conversations_too_short_to_train_name_the_line(
    tmp_path: Path, tokenizer: Tokenizer
) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(DatasetFormatError, match=r"chat\.jsonl:1: an example needs at least 2"):
        read_chat_file(path, tokenizer, template="{% for m in messages %}{% endfor %}x")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "{oops", r"bad\.json: invalid JSON"),
        ("bad.json", json.dumps({"data": 1}), "expected a list of conversations"),
        ("bad.json", json.dumps([{"messages": CONVERSATION}, {}]), r"bad\.json\[1\]: expected"),
        ("bad.csv", "a,b", r"unknown extension '\.csv'"),
    ],
)
def test_bad_json_files_name_the_record(
    tmp_path: Path, tokenizer: Tokenizer, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetFormatError, match=message):
        read_chat_file(path, tokenizer)


def test_plain_text_becomes_overlapping_windows(tmp_path: Path, tokenizer: Tokenizer) -> None:
    path = tmp_path / "book.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 5)
    tokens = tokenizer.encode(path.read_text())
    datums = read_text_file(path, tokenizer, max_length=16)
    targets: list[int] = []
    for datum in datums:
        model_input, datum_targets, weights = _inputs(datum)
        assert len(model_input) <= 15
        assert weights == [1.0] * len(weights)
        targets.extend(datum_targets)
    assert targets == tokens[1:]
    assert _inputs(datums[0])[0] == tokens[:15]


def test_empty_text_gives_no_datums(tmp_path: Path, tokenizer: Tokenizer) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("")
    assert read_text_file(path, tokenizer) == []


def test_text_max_length_is_checked(tmp_path: Path, tokenizer: Tokenizer) -> None:
    args: dict[str, Any] = {"max_length": 0}
    with pytest.raises(ValueError, match="max_length"):
        read_text_file(tmp_path / "x.txt", tokenizer, **args)
    with pytest.raises(ValueError, match="max_length"):
        read_chat_file(tmp_path / "x.jsonl", tokenizer, **args)
