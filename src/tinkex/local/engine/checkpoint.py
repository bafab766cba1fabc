"""Save and load an adapter as a PEFT directory, optionally with its AdamW state.

Layout: `adapter_config.json` + `adapter_model.safetensors` (loadable by
`peft.PeftModel.from_pretrained`), plus `optimizer.safetensors` holding each AdamW state
tensor as `"{param}.{key}"` (key: `step`, `exp_avg`, `exp_avg_sq`). A directory is written
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
from safetensors.torch import load_file, save_file

from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.lora import AdapterHost
from tinkex.local.engine.trainer import TrainingSession

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
OPTIMIZER_STATE = "optimizer.safetensors"


def save_adapter(
    host: AdapterHost,
    adapter: str,
    path: Path,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    overwrite: bool = False,
) -> Path:
    """Write adapter `adapter` (and `optimizer`'s state, if given) to directory `path`."""
    with host.lock, _atomic_dir(path, overwrite) as staging:
        host.config(adapter).save_pretrained(str(staging))
        save_file(_contiguous(host.state_dict(adapter)), staging / ADAPTER_WEIGHTS)
        if optimizer is not None:
            save_file(_optimizer_tensors(host, adapter, optimizer), staging / OPTIMIZER_STATE)
    return path


def save_training_state(session: TrainingSession, path: Path, *, overwrite: bool = False) -> Path:
    """Adapter weights plus optimizer state: everything needed to resume training."""
    return save_adapter(
        session.host, session.adapter, path, optimizer=session.optimizer, overwrite=overwrite
    )


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
    host: AdapterHost, adapter: str, path: Path, *, with_optimizer: bool
) -> TrainingSession:
    """A training session resumed from `path`; its optimizer state too when asked."""
    if with_optimizer and not (path / OPTIMIZER_STATE).is_file():
        raise UserInputError(
            f"path: {str(path)!r} has no {OPTIMIZER_STATE}; load it without the optimizer or "
            "pass a checkpoint written by save_state"
        )
    load_adapter(host, adapter, path, trainable=True)
    session = TrainingSession(host, adapter)
    if with_optimizer:
        tensors = load_file(path / OPTIMIZER_STATE, device=str(host.base.device))
        _restore_optimizer(session, tensors)
    return session


def _optimizer_tensors(
    host: AdapterHost, adapter: str, optimizer: torch.optim.Optimizer
) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for name, parameter in host.parameters(adapter).items():
        for key, value in optimizer.state.get(parameter, {}).items():
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
