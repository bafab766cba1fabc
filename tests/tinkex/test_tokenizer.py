"""Tokenizer id mapping and offline loading, with every network connection refused."""

from __future__ import annotations

import base64
import json
import pickle
import re
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tinkex import tokenizer as tk
from tinkex.types import ModelInput

TINY = tk.BUNDLED_TOKENIZERS["tinkex/tiny-llama"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to open a connection fails loudly, and the cache starts empty."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable in tokenizer tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    tk.clear_cache()
    yield
    tk.clear_cache()


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("meta-llama/Llama-3.1-8B", tk.LLAMA3_TOKENIZER_ID),
        ("meta-llama/Llama-3.2-1B:peft", tk.LLAMA3_TOKENIZER_ID),
        ("Qwen/Qwen3-8B", "Qwen/Qwen3-8B"),
        ("Qwen/Qwen3-8B:2024-01", "Qwen/Qwen3-8B"),
        ("Qwen/Qwen3-30B-A3B/fp8", "Qwen/Qwen3-30B-A3B"),
        ("moonshotai/Kimi-K2-Thinking", "moonshotai/Kimi-K2-Thinking"),
        ("moonshotai/Kimi-K2.5-Text-Only", "moonshotai/Kimi-K2.5"),
        ("tinkex/tiny-llama", "tinkex/tiny-llama"),
    ],
)
def test_model_name_to_tokenizer_id(model: str, expected: str) -> None:
    assert tk.tokenizer_id_for(model) == expected


def test_server_reported_ids_and_directories_win(tmp_path: Path) -> None:
    assert tk.tokenizer_id_for("meta-llama/Llama-3.1-8B", "org/tok") == "org/tok"
    assert tk.tokenizer_id_for("x", "moonshotai/Kimi-K2.5-Text-Only") == "moonshotai/Kimi-K2.5"
    directory = tmp_path / "a" / "b"
    directory.mkdir(parents=True)
    assert tk.tokenizer_id_for(str(directory)) == str(directory)
    with pytest.raises(ValueError, match="model_name is empty"):
        tk.tokenizer_id_for(":rev")


def test_bundled_tokenizer_loads_by_name_and_is_cached() -> None:
    tokenizer = tk.get_tokenizer("tinkex/tiny-llama")
    assert tk.get_tokenizer("tinkex/tiny-llama") is tokenizer
    ids = tokenizer.encode("hello world")
    assert ids
    assert tokenizer.decode(ids) == "hello world"
    assert tokenizer.encode("<|im_start|>") == [1]
    assert tokenizer.special_tokens["eos_token"] == "<|im_end|>"
    model_input = tk.encode_text(tokenizer, "hello world")
    assert model_input == ModelInput.from_ints(ids)
    assert tk.decode(tokenizer, model_input) == "hello world"


def test_bundled_chat_template_renders_chatml() -> None:
    tokenizer = tk.get_tokenizer("tinkex/tiny-llama")
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nyo<|im_end|>\n"
    )
    assert tokenizer.apply_chat_template(
        messages[:1], add_generation_prompt=True, tokenize=False
    ).endswith("<|im_start|>assistant\n")
    assert tokenizer.apply_chat_template(
        messages[:1], template="{{ bos_token }}!", tokenize=False
    ) == ("<|im_start|>!")


def test_bad_arguments_raise_type_errors() -> None:
    tokenizer = tk.get_tokenizer("tinkex/tiny-llama")
    with pytest.raises(TypeError, match="text must be a str"):
        tokenizer.encode(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ids must be non-negative integers"):
        tokenizer.decode([1, -2])


def test_local_directory_without_config_uses_the_default_template(tmp_path: Path) -> None:
    shutil.copy(TINY / "tokenizer.json", tmp_path / "tokenizer.json")
    tokenizer = tk.get_tokenizer(str(tmp_path))
    assert tokenizer.chat_template is None
    assert tokenizer.special_tokens == {}
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert rendered == "<|im_start|>user\nhi<|im_end|>\n"


def test_template_from_jinja_file_and_named_templates(tmp_path: Path) -> None:
    shutil.copy(TINY / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": {"content": "E"}}))
    tokenizer = tk.get_tokenizer(str(tmp_path))
    assert tokenizer.chat_template == "{{ messages[0]['content'] }}"
    assert tokenizer.special_tokens == {"eos_token": "E"}

    named = [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": named}))
    tk.clear_cache()
    assert tk.get_tokenizer(str(tmp_path)).chat_template == "D"


def test_invalid_config_json_names_the_file(tmp_path: Path) -> None:
    shutil.copy(TINY / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"tokenizer_config\.json' is not valid JSON"):
        tk.get_tokenizer(str(tmp_path))
    (tmp_path / "tokenizer_config.json").write_text("[1, 2]")
    assert tk.get_tokenizer(str(tmp_path)).special_tokens == {}


def test_directory_missing_files_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(tk.TokenizerNotFoundError, match=r"lacks tokenizer\.json; copy them"):
        tk.get_tokenizer(str(tmp_path))


def _hf_cache(root: Path, repo: str, files: dict[str, bytes], revision: str | None = None) -> None:
    """A Hugging Face hub cache layout holding ``files`` for ``repo``."""
    commit = revision or "0123456789abcdef0123456789abcdef01234567"
    repo_dir = root / f"models--{repo.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)


def test_loads_from_the_hugging_face_cache_without_network(tmp_path: Path) -> None:
    config = json.dumps({"bos_token": "<|im_start|>", "chat_template": "X"}).encode()
    files = {"tokenizer.json": (TINY / "tokenizer.json").read_bytes()}
    _hf_cache(tmp_path, "acme/llm", {**files, "tokenizer_config.json": config})
    tokenizer = tk.get_tokenizer("acme/llm/int4", cache_dir=tmp_path)
    assert tokenizer.id == "acme/llm"
    assert tokenizer.chat_template == "X"
    assert tokenizer.decode(tokenizer.encode("hi there")) == "hi there"


def test_cache_without_config_still_loads(tmp_path: Path) -> None:
    _hf_cache(tmp_path, "acme/bare", {"tokenizer.json": (TINY / "tokenizer.json").read_bytes()})
    assert tk.get_tokenizer("acme/bare", cache_dir=tmp_path).chat_template is None


def test_a_miss_names_the_files_and_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(tk.TokenizerNotFoundError) as info:
        tk.get_tokenizer("meta-llama/Llama-3.1-8B", cache_dir=tmp_path)
    message = str(info.value)
    assert "missing tokenizer.json" in message
    assert f"hf download {tk.LLAMA3_TOKENIZER_ID} tokenizer.json" in message
    with pytest.raises(tk.TokenizerNotFoundError, match="not available offline"):
        tk.get_tokenizer("no-org-name", cache_dir=tmp_path)


def _tiny_tiktoken() -> tuple[bytes, dict[str, Any]]:
    ranks = [bytes([b]) for b in range(256)] + [b"ab", b"abc", "中文".encode()[:3]]
    model = b"".join(base64.b64encode(token) + b" %d\n" % rank for rank, token in enumerate(ranks))
    config = {
        "added_tokens_decoder": {"300": {"content": "<|im_end|>"}, "301": {"content": "[BOS]"}},
        "bos_token": "[BOS]",
        "chat_template": "{{ bos_token }}{{ messages[0]['content'] }}",
    }
    return model, config


def test_kimi_k2_loads_with_tiktoken_at_the_pinned_revision(tmp_path: Path) -> None:
    model, config = _tiny_tiktoken()
    revision = tk.PINNED_REVISIONS[tk.KIMI_TIKTOKEN_ID]
    files = {"tiktoken.model": model, "tokenizer_config.json": json.dumps(config).encode()}
    _hf_cache(tmp_path, tk.KIMI_TIKTOKEN_ID, files, revision=revision)
    tokenizer = tk.get_tokenizer("moonshotai/Kimi-K2-Thinking", cache_dir=tmp_path)
    assert tokenizer.encode("abc") == [257]
    assert tokenizer.encode("abc<|im_end|>") == [257, 300]
    assert tokenizer.decode(tokenizer.encode("x abc 中文")) == "x abc 中文"
    assert (
        tokenizer.apply_chat_template([{"role": "user", "content": "q"}], tokenize=False)
        == "[BOS]q"
    )
    assert tokenizer.decode([257, 300], skip_special_tokens=True) == "abc"
    assert tokenizer.decode([257, 300]) == "abc<|im_end|>"
    assert (len(tokenizer), tokenizer.vocab_size) == (261, 259)  # ids 259..299 are unused
    assert tokenizer.convert_tokens_to_ids(["abc", "<|im_end|>", "zz"]) == [257, 300, None]
    assert (tokenizer.bos_token, tokenizer.bos_token_id, tokenizer.eos_token_id) == (
        "[BOS]",
        301,
        None,
    )


def test_kimi_miss_names_the_tiktoken_files_and_revision(tmp_path: Path) -> None:
    with pytest.raises(tk.TokenizerNotFoundError) as info:
        tk.get_tokenizer("moonshotai/Kimi-K2-Thinking", cache_dir=tmp_path)
    assert "missing tiktoken.model, tokenizer_config.json" in str(info.value)
    assert "--revision 612681931a8c906ddb349f8ad0f582cb552189cd" in str(info.value)


def test_concurrent_loads_share_one_instance() -> None:
    results: list[tk.Tokenizer] = []
    start = threading.Barrier(4, timeout=30)

    def load() -> None:
        start.wait()
        results.append(tk.get_tokenizer("tinkex/tiny-llama"))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 4
    assert all(result is results[0] for result in results)


@pytest.mark.parametrize(
    ("blocked", "action", "message"),
    [
        ("tokenizers", lambda: tk.get_tokenizer("tinkex/tiny-llama"), "pip install 'tinkex"),
        (
            "jinja2.sandbox",
            lambda: tk.get_tokenizer("tinkex/tiny-llama").apply_chat_template([]),
            "rendering chat templates needs the 'jinja2' package",
        ),
    ],
)
def test_missing_optional_packages_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, blocked: str, action: Any, message: str
) -> None:
    if blocked != "tokenizers":
        tk.get_tokenizer("tinkex/tiny-llama")
    monkeypatch.setitem(sys.modules, blocked, None)
    with pytest.raises(ImportError, match=re.escape(message)):
        action()


def test_a_call_reads_like_a_batch_encoding() -> None:
    encoding = tk.get_tokenizer("tinkex/tiny-llama")("hello world")
    assert encoding.input_ids == encoding["input_ids"]
    assert pickle.loads(pickle.dumps(encoding)) == encoding
    with pytest.raises(AttributeError, match="holds \\['attention_mask', 'input_ids'\\]"):
        _ = encoding.token_type_ids
