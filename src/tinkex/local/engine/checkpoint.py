"""Save and load an adapter as a PEFT directory, optionally with its optimizer state.

Layout: `adapter_config.json` + `adapter_model.safetensors` (loadable by
`peft.PeftModel.from_pretrained`), plus `optimizer.safetensors` holding each optimizer state
tensor as `"{param}.{key}"` (AdamW: `step`, `exp_avg`, `exp_avg_sq`; Dimuon:
`momentum_buffer`), with the optimizer family in the file's metadata. A directory is written
in a temporary sibling and renamed into place, so readers never see half a checkpoint.
Reload is exact: the same bits, so training resumes as if never interrupted.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peft
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.lora import AdapterHost
from tinkex.local.engine.optimizers import check_optimizer_kind
from tinkex.local.engine.trainer import TrainingSession
from tinkex.local.engine.types import OptimizerKind

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
OPTIMIZER_STATE = "optimizer.safetensors"
OPTIMIZER_KIND_KEY = "optimizer"
"""Metadata key of `optimizer.safetensors` naming the family; absent (old files) means AdamW."""


def save_adapter(host: AdapterHost, adapter: str, path: Path, *, overwrite: bool = False) -> Path:
    """Write adapter `adapter`'s config and weights to directory `path`."""
    return _save(host, adapter, path, None, overwrite)


def save_training_state(session: TrainingSession, path: Path, *, overwrite: bool = False) -> Path:
    """Adapter weights plus optimizer state: everything needed to resume training."""
    return _save(session.host, session.adapter, path, session, overwrite)


def _save(
    host: AdapterHost, adapter: str, path: Path, session: TrainingSession | None, overwrite: bool
) -> Path:
    with host.lock, _atomic_dir(path, overwrite) as staging:
        host.config(adapter).save_pretrained(str(staging))
        save_file(_contiguous(host.state_dict(adapter)), staging / ADAPTER_WEIGHTS)
        if session is not None:
            save_file(
                _optimizer_tensors(session),
                staging / OPTIMIZER_STATE,
                metadata={OPTIMIZER_KIND_KEY: session.optimizer_kind},
            )
    return path


def read_adapter_config(path: Path) -> peft.LoraConfig:
    """The LoRA config of a saved adapter (its rank, targets and base model name)."""
    if not (path / ADAPTER_CONFIG).is_file() or not (path / ADAPTER_WEIGHTS).is_file():
        raise UserInputError(
            f"path: {str(path)!r} is not an adapter checkpoint (needs {ADAPTER_CONFIG} and "
            f"{ADAPTER_WEIGHTS}); pass a directory written by save_weights/save_state"
        )
    config = peft.LoraConfig.from_pretrained(str(path))
    if not isinstance(config, peft.LoraConfig):
        raise UserInputError(f"path: {str(path)!r} holds a {type(config).__name__}, not LoRA")
    return config


def load_adapter(host: AdapterHost, adapter: str, path: Path, *, trainable: bool) -> None:
    """Create adapter `adapter` on `host` with the weights saved at `path`."""
    config = read_adapter_config(path)
    config.inference_mode = not trainable
    host.add(adapter, config)
    try:
        host.load_state(adapter, load_file(path / ADAPTER_WEIGHTS, device=str(host.base.device)))
    except UserInputError:
        host.remove(adapter)
        raise


def load_training_state(
    host: AdapterHost,
    adapter: str,
    path: Path,
    *,
    with_optimizer: bool,
    optimizer: OptimizerKind | None = None,
) -> TrainingSession:
    """A training session resumed from `path`.

    With `with_optimizer`, the saved optimizer (family and state) is restored, and `optimizer`,
    if given, must be that family. Otherwise the session starts an empty `optimizer` (AdamW
    when None).
    """
    kind = resumed_optimizer_kind(path, with_optimizer=with_optimizer, optimizer=optimizer)
    load_adapter(host, adapter, path, trainable=True)
    session = TrainingSession(host, adapter, kind)
    if with_optimizer:
        tensors = load_file(path / OPTIMIZER_STATE, device=str(host.base.device))
        _restore_optimizer(session, tensors)
    return session


def resumed_optimizer_kind(
    path: Path, *, with_optimizer: bool, optimizer: OptimizerKind | None
) -> OptimizerKind:
    """The family a session resumed from `path` trains with (see `load_training_state`);
    raises before anything is loaded when the checkpoint cannot provide it."""
    if not with_optimizer:
        return optimizer or "adamw"
    kind = saved_optimizer_kind(path)
    if optimizer is not None and optimizer != kind:
        raise UserInputError(
            f"path: the checkpoint holds {kind!r} optimizer state but the model uses "
            f"{optimizer!r}; load it without the optimizer state"
        )
    return kind


def saved_optimizer_kind(path: Path) -> OptimizerKind:
    """The optimizer family whose state checkpoint `path` holds."""
    state = path / OPTIMIZER_STATE
    if not state.is_file():
        raise UserInputError(
            f"path: {str(path)!r} has no {OPTIMIZER_STATE}; load it without the optimizer or "
            "pass a checkpoint written by save_state"
        )
    with safe_open(str(state), framework="pt") as handle:
        metadata = handle.metadata() or {}
    return check_optimizer_kind(metadata.get(OPTIMIZER_KIND_KEY, "adamw"))


def _optimizer_tensors(session: TrainingSession) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for name, parameter in session.parameters.items():
        for key, value in session.optimizer.state.get(parameter, {}).items():
            tensors[f"{name}.{key}"] = torch.as_tensor(value).detach().clone().contiguous()
    return tensors


def _restore_optimizer(session: TrainingSession, tensors: dict[str, torch.Tensor]) -> None:
    remaining = dict(tensors)
    for name, parameter in session.parameters.items():
        prefix = f"{name}."
        state = {
            key.removeprefix(prefix): remaining.pop(key)
            for key in [k for k in remaining if k.startswith(prefix)]
        }
        if state:
            session.optimizer.state[parameter] = state
    if remaining:
        raise UserInputError(
            f"optimizer state: tensors {sorted(remaining)[:3]} match no adapter parameter; "
            "load a checkpoint of the same LoRA config"
        )


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.contiguous() for key, value in state.items()}


@contextmanager
def _atomic_dir(path: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a staging directory that replaces `path` only if the block succeeds."""
    if path.exists() and not overwrite:
        raise UserInputError(f"path: {str(path)!r} exists already; pick a new name or overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
        if path.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            path.rename(retired / path.name)
            staging.rename(path)
            shutil.rmtree(retired)
        else:
            staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
