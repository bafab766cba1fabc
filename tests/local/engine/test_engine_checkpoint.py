"""Checkpoints: PEFT layout, exact reload of weights and AdamW state, atomic writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import peft
import pytest
import torch
from safetensors.torch import load_file, save_file

from tinkex.local.engine import (
    TINY_MODEL,
    AdamConfig,
    AdapterHost,
    EngineDatum,
    LoraSpec,
    Sampler,
    TrainingSession,
    UserInputError,
    load_adapter,
    load_base_model,
    load_training_state,
    read_adapter_config,
    save_adapter,
    save_training_state,
)

Encode = Callable[[str], list[int]]
ADAM = AdamConfig(learning_rate=1e-2, weight_decay=0.1)


def _datum(encode: Encode) -> EngineDatum:
    ids = encode("The bear helps the owl.")
    return EngineDatum(ids[:-1], {"target_tokens": np.array(ids[1:])})


def _step(session: TrainingSession, datum: EngineDatum) -> None:
    session.forward_backward([datum], "cross_entropy")
    session.optim_step(ADAM)


def _weights(session: TrainingSession) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in session.parameters.items()}


def test_resume_with_optimizer_is_exact(host: AdapterHost, encode: Encode, tmp_path: Path) -> None:
    datum = _datum(encode)
    original = TrainingSession.create(host, "original", LoraSpec(rank=4, seed=3))
    _step(original, datum)
    _step(original, datum)
    save_training_state(original, tmp_path / "state")

    resumed = load_training_state(host, "resumed", tmp_path / "state", with_optimizer=True)
    pairs = zip(_weights(original).values(), _weights(resumed).values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    _step(original, datum)
    _step(resumed, datum)

    for name, value in _weights(original).items():
        assert torch.equal(value, _weights(resumed)[name]), name


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")
def test_layout_is_a_peft_adapter_plus_flat_optimizer_state(
    session: TrainingSession, encode: Encode, tmp_path: Path
) -> None:
    _step(session, _datum(encode))
    path = save_training_state(session, tmp_path / "ckpt")

    assert sorted(p.name for p in path.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "optimizer.safetensors",
    ]
    config = json.loads((path / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == TINY_MODEL
    assert config["r"] == 8
    optimizer = load_file(path / "optimizer.safetensors")
    for name in session.parameters:
        assert {f"{name}.step", f"{name}.exp_avg", f"{name}.exp_avg_sq"} <= optimizer.keys()
    assert read_adapter_config(path).r == 8
    assert not list(tmp_path.glob(".*"))  # no staging directory left behind

    fresh = load_base_model(TINY_MODEL)
    loaded = peft.PeftModel.from_pretrained(fresh.model, str(path))
    ids = torch.tensor([session.host.base.tokenizer.encode("The cat")])
    with session.host.using(session.adapter) as model, torch.no_grad():
        expected = model(input_ids=ids).logits
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids).logits, expected)


def test_sampler_weights_reload_exactly_without_optimizer(
    session: TrainingSession, encode: Encode, tmp_path: Path
) -> None:
    _step(session, _datum(encode))
    save_adapter(session.host, session.adapter, tmp_path / "sampler")
    assert not (tmp_path / "sampler" / "optimizer.safetensors").exists()
    load_adapter(session.host, "reloaded", tmp_path / "sampler", trainable=False)
    sampler, prompt = Sampler(session.host), encode("The capital of Peru")
    np.testing.assert_array_equal(
        sampler.compute_logprobs(prompt, adapter="policy"),
        sampler.compute_logprobs(prompt, adapter="reloaded"),
    )
    with pytest.raises(UserInputError, match=r"optimizer\.safetensors"):
        load_training_state(session.host, "again", tmp_path / "sampler", with_optimizer=True)


def test_existing_paths_need_overwrite_and_are_replaced_whole(
    session: TrainingSession, encode: Encode, tmp_path: Path
) -> None:
    target = tmp_path / "ckpt"
    save_adapter(session.host, session.adapter, target)
    with pytest.raises(UserInputError, match="exists already"):
        save_adapter(session.host, session.adapter, target)
    _step(session, _datum(encode))
    save_training_state(session, target, overwrite=True)
    assert (target / "optimizer.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_failed_write_leaves_no_checkpoint(
    session: TrainingSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("tinkex.local.engine.checkpoint.save_file", explode)
    with pytest.raises(OSError, match="disk full"):
        save_adapter(session.host, session.adapter, tmp_path / "ckpt")
    assert list(tmp_path.iterdir()) == []


def test_loading_a_mismatched_or_missing_checkpoint_is_a_user_error(
    host: AdapterHost, tmp_path: Path
) -> None:
    small = TrainingSession.create(host, "small", LoraSpec(rank=2, train_mlp=False))
    save_training_state(small, tmp_path / "small")
    with pytest.raises(UserInputError, match="not an adapter checkpoint"):
        read_adapter_config(tmp_path / "missing")
    weights = load_file(tmp_path / "small" / "adapter_model.safetensors")
    dropped = next(iter(weights))
    del weights[dropped]
    save_file(weights, tmp_path / "small" / "adapter_model.safetensors")
    with pytest.raises(UserInputError, match="do not match"):
        load_adapter(host, "broken", tmp_path / "small", trainable=True)
    assert "broken" not in host.adapters
