"""Tokenizers for Tinker models: name -> tokenizer id, offline loading, ModelInput helpers.

Loading never touches the network: a tokenizer comes from the bundled tiny model, a local
directory, or files already in the Hugging Face cache. A miss raises
``TokenizerNotFoundError`` naming the missing files and how to provide them, so a training
script fails at once instead of hanging on a download behind a firewall.

Needs the ``tokenizers`` package (``tiktoken`` for Kimi K2, ``jinja2`` for chat templates);
they are imported only when a tokenizer is loaded.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tinkex.types import ModelInput

__all__ = [
    "BUNDLED_TOKENIZERS",
    "DEFAULT_CHAT_TEMPLATE",
    "LLAMA3_TOKENIZER_ID",
    "Encoding",
    "Tokenizer",
    "TokenizerNotFoundError",
    "clear_cache",
    "decode",
    "encode_text",
    "get_tokenizer",
    "tokenizer_id_for",
]

LLAMA3_TOKENIZER_ID = "thinkingmachineslabinc/meta-llama-3-instruct-tokenizer"
"""Ungated copy of the Llama 3 tokenizer, used for every ``meta-llama/Llama-3*`` model."""

BUNDLED_TOKENIZERS: Mapping[str, Path] = {
    "tinkex/tiny-llama": Path(__file__).parent / "local" / "models" / "tiny-llama",
}
"""Models shipped inside the package, loadable by name with no cache at all."""

KIMI_TIKTOKEN_ID = "moonshotai/Kimi-K2-Thinking"
"""The one tokenizer loaded with tiktoken (its repo has no ``tokenizer.json``)."""

PINNED_REVISIONS: Mapping[str, str] = {
    KIMI_TIKTOKEN_ID: "612681931a8c906ddb349f8ad0f582cb552189cd",
    "moonshotai/Kimi-K2.5": "4d01dfe0332d63057c186e0b262165819efb6611",
    "moonshotai/Kimi-K2.6": "b5aabbfb20227ed42becbf5541dbffd213942c58",
    "moonshotai/Kimi-K3": "f831ab66814297da540d832a5235f8e904f29d06",
}
"""Revisions the official SDK pins (their remote tokenizer code changes under ``main``)."""

_ALIASES: Mapping[str, str] = {"moonshotai/Kimi-K2.5-Text-Only": "moonshotai/Kimi-K2.5"}

KIMI_PAT_STR = "|".join(
    [
        r"""[\p{Han}]+""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*"""
        r"""[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+"""
        r"""[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
"""Kimi K2's pre-tokenisation regex (Han runs are split from other letters)."""

DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""ChatML, used when a tokenizer has no template (it is the bundled tiny model's format)."""

HF_FILES = ("tokenizer.json", "tokenizer_config.json")
TIKTOKEN_FILES = ("tiktoken.model", "tokenizer_config.json")


class TokenizerNotFoundError(FileNotFoundError):
    """The tokenizer files are not available locally (nothing is downloaded)."""


class _Codec(Protocol):
    def encode(self, text: str, add_special_tokens: bool) -> list[int]: ...

    def decode(self, ids: Sequence[int], skip_special_tokens: bool) -> str: ...

    def get_vocab(self) -> dict[str, int]: ...

    def base_vocab_size(self) -> int: ...


class Encoding(dict[str, Any]):
    """What calling a tokenizer returns: a dict whose keys also read as attributes
    (``enc["input_ids"]`` or ``enc.input_ids``), as Hugging Face's ``BatchEncoding``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"Encoding has no {name!r}; it holds {sorted(self)}") from None


@dataclass(frozen=True)
class Tokenizer:
    """A loaded tokenizer: encode/decode plus the chat template and special tokens."""

    id: str
    codec: _Codec = field(repr=False)
    chat_template: str | None = None
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    """``bos_token``, ``eos_token``, ... as named in ``tokenizer_config.json``."""

    def encode(self, text: str, add_special_tokens: bool = True, **unsupported: Any) -> list[int]:
        """Token ids of ``text``; special-token text is honoured.

        As in Hugging Face, ``add_special_tokens`` defaults to True (BOS for tokenizers that
        add one): code written for the official client's tokenizer gets the same ids. Pass
        False for text that continues a prompt or already holds its special tokens.
        """
        _reject(unsupported, "encode")
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return self.codec.encode(text, add_special_tokens)

    def decode(
        self, ids: Sequence[int] | int, skip_special_tokens: bool = False, **unsupported: Any
    ) -> str:
        """Text of ``ids`` (special tokens kept unless ``skip_special_tokens``)."""
        _reject(unsupported, "decode")
        id_list = [ids] if isinstance(ids, int) else list(ids)
        if not all(isinstance(i, int) and i >= 0 for i in id_list):
            raise TypeError("ids must be non-negative integers")
        return self.codec.decode(id_list, skip_special_tokens)

    def batch_decode(
        self,
        sequences: Sequence[Sequence[int]],
        skip_special_tokens: bool = False,
        **unsupported: Any,
    ) -> list[str]:
        """``decode`` of each sequence, as Hugging Face's ``batch_decode``."""
        _reject(unsupported, "batch_decode")
        return [self.decode(ids, skip_special_tokens) for ids in sequences]

    def __call__(
        self, text: str | Sequence[str], add_special_tokens: bool = True, **unsupported: Any
    ) -> Encoding:
        """``input_ids`` and ``attention_mask`` lists, as a Hugging Face tokenizer call."""
        _reject(unsupported, "__call__")
        if isinstance(text, str):
            ids = self.encode(text, add_special_tokens)
            return Encoding(input_ids=ids, attention_mask=[1] * len(ids))
        batch = [self.encode(item, add_special_tokens) for item in text]
        return Encoding(input_ids=batch, attention_mask=[[1] * len(ids) for ids in batch])

    def __len__(self) -> int:
        """Vocabulary size including added tokens (Hugging Face's ``len(tokenizer)``)."""
        return len(self.codec.get_vocab())

    @property
    def vocab_size(self) -> int:
        """Vocabulary size without added tokens (Hugging Face's ``vocab_size``)."""
        return self.codec.base_vocab_size()

    @property
    def name_or_path(self) -> str:
        """The id or directory this tokenizer was loaded from."""
        return self.id

    def get_vocab(self) -> dict[str, int]:
        """Token string -> id, added tokens included."""
        return self.codec.get_vocab()

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> Any:
        """Id of a token (``None`` if unknown), or a list of ids for a list of tokens."""
        vocab = self.codec.get_vocab()
        if isinstance(tokens, str):
            return vocab.get(tokens)
        return [vocab.get(token) for token in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> Any:
        """Token string of an id (``None`` if out of range), or a list for a list of ids."""
        by_id = {token_id: token for token, token_id in self.codec.get_vocab().items()}
        if isinstance(ids, int):
            return by_id.get(ids)
        return [by_id.get(token_id) for token_id in ids]

    @property
    def bos_token(self) -> str | None:
        """The beginning-of-sequence token text, if the config names one."""
        return self.special_tokens.get("bos_token")

    @property
    def eos_token(self) -> str | None:
        """The end-of-sequence token text, if the config names one."""
        return self.special_tokens.get("eos_token")

    @property
    def pad_token(self) -> str | None:
        """The padding token text, if the config names one."""
        return self.special_tokens.get("pad_token")

    @property
    def bos_token_id(self) -> int | None:
        """Id of ``bos_token``."""
        return self._special_id("bos_token")

    @property
    def eos_token_id(self) -> int | None:
        """Id of ``eos_token``."""
        return self._special_id("eos_token")

    @property
    def pad_token_id(self) -> int | None:
        """Id of ``pad_token``."""
        return self._special_id("pad_token")

    def _special_id(self, name: str) -> int | None:
        token = self.special_tokens.get(name)
        return None if token is None else self.codec.get_vocab().get(token)

    def apply_chat_template(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        add_generation_prompt: bool = False,
        template: str | None = None,
        tokenize: bool = True,
        **unsupported: Any,
    ) -> Any:
        """Render ``messages`` with ``template``, the tokenizer's own, or ChatML.

        Returns the token ids, or the text with ``tokenize=False`` (Hugging Face's defaults;
        the ids are those of the text, whose special tokens the template already wrote).
        """
        _reject(unsupported, "apply_chat_template")
        sandbox = _require("jinja2.sandbox", "rendering chat templates", "jinja2")
        environment = sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        compiled = environment.from_string(template or self.chat_template or DEFAULT_CHAT_TEMPLATE)
        rendered: str = compiled.render(
            messages=list(messages),
            add_generation_prompt=add_generation_prompt,
            **self.special_tokens,
        )
        return self.encode(rendered, add_special_tokens=False) if tokenize else rendered


_HINTS: Mapping[str, str] = {
    "return_tensors": "tensors are not supported; use the returned lists (or numpy.asarray)",
    "padding": "padding is not supported; pad the lists with pad_token_id yourself",
    "truncation": "truncation is not supported; slice the returned ids",
    "max_length": "truncation is not supported; slice the returned ids",
}


def _reject(unsupported: Mapping[str, Any], method: str) -> None:
    """Name any Hugging Face keyword tinkex does not implement, and what to do instead."""
    for name, value in unsupported.items():
        if value is None or (name != "return_tensors" and value is False):
            continue  # the Hugging Face default: nothing to do
        hint = _HINTS.get(name, "remove it")
        raise TypeError(f"{method}() argument {name}={value!r} is not supported by tinkex; {hint}")


def tokenizer_id_for(model_name: str, tokenizer_id: str | None = None) -> str:
    """The tokenizer id for ``model_name`` (or the server-reported ``tokenizer_id``).

    A local directory is its own id. ``:revision`` suffixes are dropped from the model name;
    ``meta-llama/Llama-3*`` maps to the ungated Llama 3 tokenizer and ``org/model/variant``
    to ``org/model``.
    """
    if tokenizer_id:
        return _ALIASES.get(tokenizer_id, tokenizer_id)
    if Path(model_name).expanduser().is_dir():
        return model_name
    name = model_name.split(":", 1)[0]
    if not name:
        raise ValueError("model_name is empty; pass a model name like 'Qwen/Qwen3-8B'")
    if name.startswith("meta-llama/Llama-3"):
        return LLAMA3_TOKENIZER_ID
    if name.count("/") == 2:
        org, model, _variant = name.split("/")
        return f"{org}/{model}"
    return _ALIASES.get(name, name)


_cache: dict[tuple[str, str | None], Tokenizer] = {}
_cache_lock = threading.Lock()


def get_tokenizer(
    model_name: str,
    *,
    tokenizer_id: str | None = None,
    cache_dir: str | Path | None = None,
) -> Tokenizer:
    """Load (once per process) the tokenizer for ``model_name``, from local files only.

    ``model_name`` may be a Tinker model name, a bundled model (``tinkex/tiny-llama``) or a
    directory holding ``tokenizer.json``. ``cache_dir`` overrides the Hugging Face cache.
    """
    resolved = tokenizer_id_for(model_name, tokenizer_id)
    key = (resolved, None if cache_dir is None else str(cache_dir))
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    loaded = _load(resolved, cache_dir)
    with _cache_lock:
        return _cache.setdefault(key, loaded)  # first writer wins if two threads raced


def clear_cache() -> None:
    """Forget every loaded tokenizer (for tests and after replacing files on disk)."""
    with _cache_lock:
        _cache.clear()


def encode_text(tokenizer: Tokenizer, text: str) -> ModelInput:
    """``text`` as a one-chunk ModelInput (no special tokens added)."""
    return ModelInput.from_ints(tokenizer.encode(text, add_special_tokens=False))


def decode(tokenizer: Tokenizer, model_input: ModelInput) -> str:
    """The text of a ModelInput's tokens (text chunks only)."""
    return tokenizer.decode(model_input.to_ints())


def _load(tokenizer_id: str, cache_dir: str | Path | None) -> Tokenizer:
    directory = BUNDLED_TOKENIZERS.get(tokenizer_id)
    if directory is None and Path(tokenizer_id).expanduser().is_dir():
        directory = Path(tokenizer_id).expanduser()
    if tokenizer_id == KIMI_TIKTOKEN_ID:
        files = _local_files(tokenizer_id, TIKTOKEN_FILES, directory, cache_dir)
        return _load_tiktoken(tokenizer_id, files["tiktoken.model"], files["tokenizer_config.json"])
    files = _local_files(tokenizer_id, HF_FILES[:1], directory, cache_dir)
    config_path = files["tokenizer.json"].with_name("tokenizer_config.json")
    if directory is None:
        cached = _cached_file(tokenizer_id, "tokenizer_config.json", cache_dir)
        config_path = cached if cached is not None else config_path
    return _load_hf(tokenizer_id, files["tokenizer.json"], config_path)


def _local_files(
    tokenizer_id: str,
    names: Sequence[str],
    directory: Path | None,
    cache_dir: str | Path | None,
) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name in names:
        path = directory / name if directory is not None else None
        if path is None or not path.is_file():
            path = _cached_file(tokenizer_id, name, cache_dir) if directory is None else None
        if path is not None:
            found[name] = path
    missing = [name for name in names if name not in found]
    if missing:
        raise TokenizerNotFoundError(_missing_message(tokenizer_id, missing, directory))
    return found


def _cached_file(tokenizer_id: str, name: str, cache_dir: str | Path | None) -> Path | None:
    """A file from the Hugging Face cache; looks at the disk only, never the network."""
    if tokenizer_id.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub ships with the local extra
        return None
    revision = PINNED_REVISIONS.get(tokenizer_id)
    found = try_to_load_from_cache(tokenizer_id, name, cache_dir=cache_dir, revision=revision)
    return Path(found) if isinstance(found, str) else None


def _missing_message(tokenizer_id: str, missing: Sequence[str], directory: Path | None) -> str:
    files = ", ".join(missing)
    if directory is not None:
        return f"tokenizer directory {str(directory)!r} lacks {files}; copy them there"
    revision = PINNED_REVISIONS.get(tokenizer_id)
    pinned = f" --revision {revision}" if revision else ""
    return (
        f"tokenizer {tokenizer_id!r} is not available offline: missing {files} "
        "(tinkex never downloads tokenizers implicitly). Provide them with "
        f"`hf download {tokenizer_id} {' '.join(missing)}{pinned}` on a machine with network "
        "access (then copy the Hugging Face cache), or pass the path of a directory that "
        "holds them as the model name"
    )


def _require(module: str, purpose: str, package: str) -> Any:
    """Import an optional dependency, or say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs the {module.split('.')[0]!r} package; install it with: "
            f"pip install {package}"
        ) from exc


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    return config if isinstance(config, dict) else {}


def _special_tokens(config: Mapping[str, Any]) -> dict[str, str]:
    tokens = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            tokens[key] = value
    return tokens


def _chat_template(config: Mapping[str, Any], directory: Path) -> str | None:
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: take "default"
        named = {item.get("name"): item.get("template") for item in template}
        template = named.get("default")
    if isinstance(template, str):
        return template
    jinja_file = directory / "chat_template.jinja"
    return jinja_file.read_text(encoding="utf-8") if jinja_file.is_file() else None


class _HfCodec:
    def __init__(self, path: Path) -> None:
        tokenizers = _require("tokenizers", "loading tokenizer.json", "'tinkex[local]'")
        self._tokenizer = tokenizers.Tokenizer.from_file(str(path))

    def encode(self, text: str, add_special_tokens: bool) -> list[int]:
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool) -> str:
        text: str = self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)
        return text

    def get_vocab(self) -> dict[str, int]:
        vocab: dict[str, int] = self._tokenizer.get_vocab(with_added_tokens=True)
        return vocab

    def base_vocab_size(self) -> int:
        size: int = self._tokenizer.get_vocab_size(with_added_tokens=False)
        return size


def _load_hf(tokenizer_id: str, path: Path, config_path: Path) -> Tokenizer:
    config = _read_config(config_path)
    return Tokenizer(
        id=tokenizer_id,
        codec=_HfCodec(path),
        chat_template=_chat_template(config, path.parent),
        special_tokens=_special_tokens(config),
    )


class _TiktokenCodec:
    def __init__(self, model_path: Path, config: Mapping[str, Any]) -> None:
        tiktoken = _require("tiktoken", "loading the Kimi K2 tokenizer", "tiktoken")
        ranks = _require("tiktoken.load", "loading tiktoken.model", "tiktoken").load_tiktoken_bpe(
            str(model_path)
        )
        decoder = config.get("added_tokens_decoder", {})
        special = {entry["content"]: int(token_id) for token_id, entry in decoder.items()}
        self._encoding = tiktoken.Encoding(
            name=model_path.parent.name,
            pat_str=KIMI_PAT_STR,
            mergeable_ranks=ranks,
            special_tokens=special,
        )

    def encode(self, text: str, add_special_tokens: bool) -> list[int]:
        ids: list[int] = self._encoding.encode(text, allowed_special="all")
        return ids  # Kimi's tokenizer adds no BOS/EOS on its own

    def decode(self, ids: Sequence[int], skip_special_tokens: bool) -> str:
        special = self._encoding.special_tokens_set
        kept = [i for i in ids if not skip_special_tokens or self._token(i) not in special]
        text: str = self._encoding.decode(kept)
        return text

    def get_vocab(self) -> dict[str, int]:
        """Byte-level (GPT-2 style) token strings, so every token has a distinct name."""
        vocab = {
            _byte_level(self._encoding.decode_single_token_bytes(i)): i for i in self._base_ids()
        }
        vocab.update({self._token(i): i for i in self._special_ids()})
        return vocab

    def base_vocab_size(self) -> int:
        return len(self._base_ids())

    def _base_ids(self) -> list[int]:
        ranks: dict[bytes, int] = self._encoding._mergeable_ranks
        return list(ranks.values())

    def _special_ids(self) -> list[int]:
        special: dict[str, int] = self._encoding._special_tokens
        return list(special.values())

    def _token(self, token_id: int) -> str:
        raw: bytes = self._encoding.decode_single_token_bytes(token_id)
        return raw.decode("utf-8", errors="replace")


def _byte_level_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character map (the names byte-level BPE vocabularies use)."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    mapping = {byte: chr(byte) for byte in printable}
    extra = (byte for byte in range(256) if byte not in mapping)
    mapping.update({byte: chr(256 + offset) for offset, byte in enumerate(extra)})
    return mapping


_BYTE_LEVEL = _byte_level_alphabet()


def _byte_level(raw: bytes) -> str:
    return "".join(_BYTE_LEVEL[byte] for byte in raw)


def _load_tiktoken(tokenizer_id: str, model_path: Path, config_path: Path) -> Tokenizer:
    config = _read_config(config_path)
    return Tokenizer(
        id=tokenizer_id,
        codec=_TiktokenCodec(model_path, config),
        chat_template=_chat_template(config, model_path.parent),
        special_tokens=_special_tokens(config),
    )
