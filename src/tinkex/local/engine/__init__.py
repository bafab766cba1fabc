"""The torch side of tinkex.local: base models, LoRA adapters, losses, training, sampling.

Importing this package imports torch, transformers and peft (several seconds); only the
local server imports it, never the `tinkex` client side.
"""

from tinkex.local.engine.checkpoint import (
    load_adapter,
    load_training_state,
    read_adapter_config,
    save_adapter,
    save_training_state,
)
from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.lora import AdapterHost, lora_config
from tinkex.local.engine.losses import LOSSES
from tinkex.local.engine.models import (
    SMOLLM2_MODEL,
    TINY_MODEL,
    BaseModel,
    load_base_model,
    resolve_model_dir,
)
from tinkex.local.engine.sampler import Sampler
from tinkex.local.engine.trainer import TrainingSession
from tinkex.local.engine.types import (
    AdamConfig,
    DimuonConfig,
    EngineDatum,
    ForwardResult,
    LoraSpec,
    OptimizerKind,
    SampledSequence,
    SampleResult,
    SamplingConfig,
    StepConfig,
    StopReason,
    TopkLogprobs,
)

__all__ = [
    "LOSSES",
    "SMOLLM2_MODEL",
    "TINY_MODEL",
    "AdamConfig",
    "AdapterHost",
    "BaseModel",
    "DimuonConfig",
    "EngineDatum",
    "ForwardResult",
    "LoraSpec",
    "OptimizerKind",
    "SampleResult",
    "SampledSequence",
    "Sampler",
    "SamplingConfig",
    "StepConfig",
    "StopReason",
    "TopkLogprobs",
    "TrainingSession",
    "UserInputError",
    "load_adapter",
    "load_base_model",
    "load_training_state",
    "lora_config",
    "read_adapter_config",
    "resolve_model_dir",
    "save_adapter",
    "save_training_state",
]
