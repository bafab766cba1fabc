"""Many LoRA adapters over ONE frozen base model in memory.

Why one host: each training client (and each sampler snapshot) is a named peft adapter on the
same base weights, so a new client costs megabytes, not a model copy. Only one adapter is
active at a time; `AdapterHost.using` takes a re-entrant lock, activates the adapter (or
none, for the bare base model) and is the only way the trainer and the sampler touch the
model, so calls from several threads serialise instead of interleaving.
"""

from __future__ import annotations

import copy
import itertools
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import peft
import torch

from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.models import BaseModel
from tinkex.local.engine.types import LoraSpec

_ATTN_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]
_MLP_MODULES = ["gate_proj", "up_proj", "down_proj"]
_UNEMBED_MODULES = ["lm_head"]


def lora_config(spec: LoraSpec, *, base_model_name: str) -> peft.LoraConfig:
    """The peft config for `spec`: target modules follow the train_* flags, alpha = rank."""
    if spec.rank < 1:
        raise UserInputError(f"lora_config.rank: expected a positive integer, got {spec.rank}")
    targets = (
        (_ATTN_MODULES if spec.train_attn else [])
        + (_MLP_MODULES if spec.train_mlp else [])
        + (_UNEMBED_MODULES if spec.train_unembed else [])
    )
    if not targets:
        raise UserInputError(
            "lora_config: train_attn, train_mlp and train_unembed are all false; enable one"
        )
    return peft.LoraConfig(
        r=spec.rank,
        lora_alpha=spec.rank,
        lora_dropout=0.0,
        target_modules=targets,
        base_model_name_or_path=base_model_name,
        task_type="CAUSAL_LM",
    )


@dataclass(frozen=True)
class _Slot:
    """An adapter as peft knows it: a generated key (never clashing with module attributes)."""

    key: str
    config: peft.LoraConfig
    parameters: dict[str, torch.nn.Parameter]


class AdapterHost:
    """A base model plus named adapters; create, copy, activate and drop them."""

    def __init__(self, base: BaseModel) -> None:
        self.base = base
        self.lock = threading.RLock()
        self._peft: Any = None
        self._slots: dict[str, _Slot] = {}
        self._keys = itertools.count()
        self._active: str | None = None  # peft key made active last; None: unknown

    @property
    def adapters(self) -> list[str]:
        """Names of the adapters currently held."""
        return list(self._slots)

    def config(self, name: str) -> peft.LoraConfig:
        """The peft config adapter `name` was created with."""
        return self._slot(name).config

    def add(self, name: str, config: peft.LoraConfig, *, seed: int | None = None) -> None:
        """Create adapter `name`; a seed makes its initial weights reproducible."""
        with self.lock:
            if name in self._slots:
                raise UserInputError(f"adapter {name!r} exists already; pick another name")
            key = f"tinkex_adapter_{next(self._keys)}"
            rng = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
            with rng, warnings.catch_warnings():
                if seed is not None:
                    torch.manual_seed(seed)
                # peft warns that it records the base model's path; the caller's name is
                # restored below.
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", FutureWarning)
                if self._peft is None:
                    self._peft = peft.get_peft_model(self.base.model, config, adapter_name=key)
                else:
                    self._peft.add_adapter(key, config)
            config.base_model_name_or_path = self.base.name
            self._slots[name] = _Slot(key, config, self._find_parameters(key))
            self._active = None
            for parameter in self.parameters(name).values():
                parameter.requires_grad_(not config.inference_mode)

    def remove(self, name: str) -> None:
        """Drop adapter `name` and free its weights."""
        with self.lock:
            self._peft.delete_adapter(self._slot(name).key)
            del self._slots[name]
            self._active = None

    def copy_frozen(self, source: str, name: str) -> None:
        """Add `name` as a frozen copy of `source`'s current weights (a sampler snapshot)."""
        with self.lock:
            config = self.config(source)
            frozen = copy.deepcopy(config)
            frozen.inference_mode = True
            self.add(name, frozen)
            self.load_state(name, self.state_dict(source))

    def parameters(self, name: str) -> dict[str, torch.nn.Parameter]:
        """Adapter `name`'s parameters keyed by their adapter-independent peft name."""
        return self._slot(name).parameters

    def _find_parameters(self, key: str) -> dict[str, torch.nn.Parameter]:
        markers = [(f".lora_A.{key}.", ".lora_A."), (f".lora_B.{key}.", ".lora_B.")]
        found: dict[str, torch.nn.Parameter] = {}
        for full_name, parameter in self._peft.named_parameters():
            for marker, canonical in markers:
                if marker in full_name:
                    found[full_name.replace(marker, canonical)] = parameter
        return found

    def state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """A detached copy of adapter `name`'s weights, in peft's file layout."""
        with self.lock:
            state = peft.get_peft_model_state_dict(
                self._peft, adapter_name=self._slot(name).key, save_embedding_layers=False
            )
            return {key: value.detach().clone() for key, value in state.items()}

    def load_state(self, name: str, state: dict[str, torch.Tensor]) -> None:
        """Overwrite adapter `name`'s weights with `state` (peft's file layout)."""
        with self.lock:
            expected = {key.removesuffix(".weight") for key in self.parameters(name)}
            given = {key.removesuffix(".weight") for key in state}
            if expected != given:
                raise UserInputError(
                    f"adapter weights: tensors do not match adapter {name!r} "
                    f"(missing {sorted(expected - given)[:3]}, unexpected "
                    f"{sorted(given - expected)[:3]}); load a checkpoint of the same LoRA config"
                )
            with torch.no_grad():
                peft.set_peft_model_state_dict(self._peft, state, adapter_name=self._slot(name).key)

    @contextmanager
    def using(self, name: str | None) -> Iterator[Any]:
        """Hold the lock with adapter `name` active (None: the bare base model)."""
        with self.lock:
            if name is None:
                if self._peft is None:
                    yield self.base.model
                    return
                with self._peft.disable_adapter():
                    yield self._peft
                return
            slot = self._slot(name)
            if self._active != slot.key:  # switching walks every module: skip when we can
                self._peft.set_adapter(slot.key)
                for parameter in slot.parameters.values():
                    parameter.requires_grad_(not slot.config.inference_mode)
                self._active = slot.key
            yield self._peft

    def _slot(self, name: str) -> _Slot:
        try:
            return self._slots[name]
        except KeyError:
            raise UserInputError(f"adapter {name!r}: unknown; create or load it first") from None
