"""The live torch objects behind the wire ids: one adapter host per base model, one
training session per model id, one adapter (or the bare base) per sampler.

Why a separate object: the store remembers runs, checkpoints and samplers durably, but
adapters live in memory. This maps ids to them, loading base models on first use and
sampler weights from checkpoints lazily. Every method may block on torch and runs in a
worker thread (the request queue calls it), never on the event loop.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from tinkex.local.engine import (
    AdapterHost,
    LoraSpec,
    OptimizerKind,
    TrainingSession,
    load_adapter,
    load_base_model,
    load_training_state,
    read_adapter_config,
    resolve_model_dir,
    save_adapter,
    save_training_state,
)
from tinkex.local.engine.checkpoint import resumed_optimizer_kind
from tinkex.local.engine.errors import UserInputError
from tinkex.local.store import Store
from tinkex.types import ModelData

__all__ = ["SamplerHandle", "Workbench"]

SamplerHandle = tuple[AdapterHost, str | None]
"""The host to sample from and its adapter (None: the bare base model)."""


class Workbench:
    """Base models, trainers and samplers of one server."""

    def __init__(
        self, models: Sequence[str], store: Store, aliases: Mapping[str, str] | None = None
    ) -> None:
        self.models = tuple(models)
        self._aliases = dict(aliases or {})
        self._store = store
        self._lock = threading.Lock()
        self._hosts: dict[str, AdapterHost] = {}
        self._trainers: dict[str, TrainingSession] = {}
        self._samplers: dict[str, SamplerHandle] = {}
        # Models created or loaded since this server started; it stays set while a
        # `load_trainer` swaps the adapter, when the model is briefly without a trainer.
        self._live: set[str] = set()

    @property
    def names(self) -> tuple[str, ...]:
        """Every base model name clients may send: the served models, then the aliases."""
        return tuple(dict.fromkeys([*self.models, *self._aliases]))

    def check_model(self, base_model: str) -> str:
        """Refuse models this server was not started with (user error naming the fix)."""
        if base_model not in self.names:
            raise UserInputError(
                f"base_model: {base_model!r} is not served here; use one of {list(self.names)} "
                "or restart the server with --model (or --model-alias NAME=PATH)"
            )
        return base_model

    def model_data(self, base_model: str) -> ModelData:
        """What `get_info` reports: the architecture and, as the tokenizer id, the model's
        directory (the client passes it to `AutoTokenizer.from_pretrained`, offline)."""
        directory = resolve_model_dir(self._aliases.get(base_model, base_model))
        config = json.loads((directory / "config.json").read_text())
        return ModelData(
            arch=config.get("model_type"), model_name=base_model, tokenizer_id=str(directory)
        )

    def host(self, base_model: str) -> AdapterHost:
        """The host of `base_model`, loading the model on first use."""
        self.check_model(base_model)
        with self._lock:
            host = self._hosts.get(base_model)
            if host is None:
                host = self._hosts[base_model] = AdapterHost(
                    load_base_model(base_model, aliases=self._aliases)
                )
            return host

    def create_trainer(
        self, model_id: str, base_model: str, spec: LoraSpec, optimizer: OptimizerKind
    ) -> None:
        """A fresh LoRA adapter with an empty optimizer for `model_id`."""
        host = self.host(base_model)
        self._trainers[model_id] = TrainingSession.create(host, model_id, spec, optimizer)
        self._live.add(model_id)

    def is_live(self, model_id: str) -> bool:
        """Whether `model_id` was created or loaded by this server process. A run recorded
        before a restart is not: its weights and its request order lived in memory."""
        return model_id in self._live

    def trainer(self, model_id: str) -> TrainingSession:
        try:
            return self._trainers[model_id]
        except KeyError:
            raise UserInputError(
                f"model_id: {model_id!r} is not loaded on this server (it was created before a "
                "restart); resume it with create_training_client_from_state"
            ) from None

    def checkpoint_base_model(self, directory: Path) -> str:
        """The base model a checkpoint was trained on, as recorded in its adapter config."""
        name = read_adapter_config(directory).base_model_name_or_path
        if not name:
            raise UserInputError("path: the checkpoint does not record its base model")
        return str(name)

    def load_trainer(
        self,
        model_id: str,
        base_model: str,
        directory: Path,
        *,
        with_optimizer: bool,
        optimizer: OptimizerKind | None,
    ) -> OptimizerKind:
        """Create (or replace) `model_id`'s adapter from a checkpoint directory; returns the
        optimizer family it trains with (see `load_training_state`)."""
        host = self.host(base_model)
        # Refuse an unusable checkpoint before dropping the model's current adapter.
        read_adapter_config(directory)
        resumed_optimizer_kind(directory, with_optimizer=with_optimizer, optimizer=optimizer)
        old = self._trainers.pop(model_id, None)
        if old is not None:
            host.remove(old.adapter)
        session = load_training_state(
            host, model_id, directory, with_optimizer=with_optimizer, optimizer=optimizer
        )
        self._trainers[model_id] = session
        self._live.add(model_id)
        return session.optimizer_kind

    def save_trainer(self, model_id: str, directory: Path, *, optimizer: bool) -> None:
        """Write `model_id`'s adapter (with its optimizer state when `optimizer`) to `directory`."""
        session = self.trainer(model_id)
        if optimizer:
            save_training_state(session, directory, overwrite=True)
        else:
            save_adapter(session.host, session.adapter, directory, overwrite=True)

    def snapshot_sampler(self, sampler_id: str, model_id: str) -> None:
        """A frozen copy of the trainer's current weights, served as `sampler_id`."""
        session = self.trainer(model_id)
        session.host.copy_frozen(session.adapter, sampler_id)
        with self._lock:
            self._samplers[sampler_id] = (session.host, sampler_id)

    def sampler(self, sampler_id: str) -> SamplerHandle:
        """The host and adapter of a recorded sampler, loading its checkpoint on first use."""
        with self._lock:
            cached = self._samplers.get(sampler_id)
        if cached is not None:
            return cached
        record = self._store.samplers.get(sampler_id)
        return self._load_sampler(sampler_id, record.base_model, record.model_path)

    def path_sampler(self, model_path: str) -> SamplerHandle:
        """A sampler for a request that names its weights directly (no sampling session)."""
        key = f"path:{model_path}"
        with self._lock:
            cached = self._samplers.get(key)
        if cached is not None:
            return cached
        return self._load_sampler(key, None, model_path)

    def _load_sampler(
        self, key: str, base_model: str | None, model_path: str | None
    ) -> SamplerHandle:
        if model_path is None:
            handle: SamplerHandle = (self.host(self.check_model(base_model or "")), None)
        else:
            directory = self._store.checkpoints.directory(model_path)
            host = self.host(base_model or self.checkpoint_base_model(directory))
            with host.lock:
                if key not in host.adapters:
                    load_adapter(host, key, directory, trainable=False)
            handle = (host, key)
        with self._lock:
            self._samplers[key] = handle
        return handle
