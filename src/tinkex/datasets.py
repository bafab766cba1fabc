"""Training data from files: chat conversations (JSON/JSONL) and plain text into Datums.

A conversation is ``{"messages": [{"role": ..., "content": ...}, ...]}``. It is rendered
with the tokenizer's chat template (ChatML, ``tinkex.tokenizer.DEFAULT_CHAT_TEMPLATE``,
when it has none; that is also the bundled tiny model's format)::

    <|im_start|>user
    What is 2+2?<|im_end|>
    <|im_start|>assistant
    4<|im_end|>

Only what the assistant says is trained: the loss weight is 1.0 on the tokens of each
assistant message body (including its end marker) and 0.0 on everything else (system and
user turns, role headers). Each Datum is the usual next-token pair: ``model_input`` is the
tokens without the last, ``target_tokens`` the tokens without the first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tinkex.tokenizer import Tokenizer
from tinkex.types import Datum, ModelInput

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "DatasetFormatError",
    "datum_from_tokens",
    "read_chat_file",
    "read_text_file",
    "render_conversation",
]

DEFAULT_MAX_LENGTH = 2048
"""Tokens kept per example (before the next-token shift); longer ones are truncated."""

TRAINED_ROLES = frozenset({"assistant"})


class DatasetFormatError(ValueError):
    """A record does not have the expected shape; the message names its location."""


def render_conversation(
    tokenizer: Tokenizer,
    messages: Sequence[Mapping[str, Any]],
    *,
    template: str | None = None,
) -> tuple[list[int], list[float]]:
    """Tokens of a conversation and their weights (1.0 on assistant message bodies only).

    The template is rendered turn by turn, so it must be prefix-stable: rendering the
    first k messages must be a prefix of rendering k + 1 (true of ChatML and most templates;
    templates that rewrite earlier turns, e.g. by dropping old reasoning, are refused).
    """
    tokens: list[int] = []
    weights: list[float] = []
    rendered = ""
    for index, message in enumerate(messages):
        trained = message["role"] in TRAINED_ROLES
        prompt = tokenizer.apply_chat_template(
            messages[:index], add_generation_prompt=trained, template=template, tokenize=False
        )
        full = tokenizer.apply_chat_template(
            messages[: index + 1], template=template, tokenize=False
        )
        if not (prompt.startswith(rendered) and full.startswith(prompt)):
            raise DatasetFormatError(
                f"messages[{index}]: the chat template is not prefix-stable (it rewrites "
                "earlier turns), so assistant tokens cannot be located; pass "
                "template=tinkex.tokenizer.DEFAULT_CHAT_TEMPLATE or a simpler template"
            )
        for text, weight in ((prompt[len(rendered) :], 0.0), (full[len(prompt) :], 1.0)):
            ids = tokenizer.encode(text, add_special_tokens=False) if text else []
            tokens.extend(ids)
            weights.extend([weight if trained else 0.0] * len(ids))
        rendered = full
    return tokens, weights


def datum_from_tokens(
    tokens: Sequence[int], weights: Sequence[float], *, max_length: int = DEFAULT_MAX_LENGTH
) -> Datum:
    """A next-token Datum from tokens and per-token weights, truncated to ``max_length``."""
    _check_max_length(max_length)
    if len(tokens) != len(weights):
        raise ValueError(f"got {len(tokens)} tokens but {len(weights)} weights; they must match")
    tokens, weights = list(tokens[:max_length]), list(weights[:max_length])
    if len(tokens) < 2:
        raise ValueError(f"an example needs at least 2 tokens to predict one, got {len(tokens)}")
    return Datum(
        model_input=ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": weights[1:]},
    )


def read_chat_file(
    path: str | os.PathLike[str],
    tokenizer: Tokenizer,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    template: str | None = None,
) -> list[Datum]:
    """Datums from a ``.jsonl`` file (one conversation per line) or a ``.json`` list of them.

    A bad record raises DatasetFormatError naming the file, the line (JSONL) or index
    (JSON) and the field.
    """
    _check_max_length(max_length)
    source = Path(path)
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".jsonl":
        records = _jsonl_records(source, text)
    elif source.suffix == ".json":
        records = _json_records(source, text)
    else:
        raise DatasetFormatError(
            f"{source}: unknown extension {source.suffix!r}; use .jsonl (one conversation "
            "per line) or .json (a list of conversations)"
        )
    datums = []
    for where, record in records:
        messages = _messages(where, record)
        try:
            tokens, weights = render_conversation(tokenizer, messages, template=template)
            datums.append(datum_from_tokens(tokens, weights, max_length=max_length))
        except ValueError as exc:
            raise DatasetFormatError(f"{where}: {exc}") from exc
    return datums


def read_text_file(
    path: str | os.PathLike[str],
    tokenizer: Tokenizer,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> list[Datum]:
    """Datums from plain text: the whole file's tokens in windows of ``max_length``, all trained.

    Consecutive windows overlap by one token so every token after the first is a target.
    """
    _check_max_length(max_length)
    tokens = tokenizer.encode(Path(path).read_text(encoding="utf-8"))
    # Every window starts before the last token, so it holds at least 2 tokens.
    windows = (
        tokens[start : start + max_length] for start in range(0, len(tokens) - 1, max_length - 1)
    )
    return [datum_from_tokens(w, [1.0] * len(w), max_length=max_length) for w in windows]


def _check_max_length(max_length: int) -> None:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an integer >= 2, got {max_length!r}")


def _jsonl_records(source: Path, text: str) -> Iterable[tuple[str, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            yield where, json.loads(line)
        except ValueError as exc:
            raise DatasetFormatError(f"{where}: invalid JSON ({exc})") from exc


def _json_records(source: Path, text: str) -> Iterable[tuple[str, Any]]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise DatasetFormatError(f"{source}: invalid JSON ({exc})") from exc
    if isinstance(document, dict) and "messages" in document:
        document = [document]
    if not isinstance(document, list):
        raise DatasetFormatError(
            f"{source}: expected a list of conversations or one {{'messages': [...]}} object"
        )
    return ((f"{source}[{index}]", record) for index, record in enumerate(document))


def _messages(where: str, record: Any) -> list[dict[str, str]]:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise DatasetFormatError(f"{where}: expected an object with a 'messages' list")
    messages = record["messages"]
    if not messages:
        raise DatasetFormatError(f"{where}: 'messages' is empty")
    for index, message in enumerate(messages):
        for key in ("role", "content"):
            value = message.get(key) if isinstance(message, dict) else None
            if not isinstance(value, str) or (key == "role" and not value):
                raise DatasetFormatError(
                    f"{where}: messages[{index}].{key} must be a "
                    f"{'non-empty ' if key == 'role' else ''}string, got {value!r}"
                )
    return [{"role": m["role"], "content": m["content"]} for m in messages]
