"""Wire types (`tinkex.types`) to engine dataclasses and back.

Why separate: the engine knows nothing of pydantic or protobuf, and the routes know nothing
of numpy layouts; this is the one place that maps field to field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pydantic

from tinkex.local.engine import (
    AdamConfig,
    EngineDatum,
    ForwardResult,
    LoraSpec,
    SampleResult,
    SamplingConfig,
)
from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.optimizers import check_optimizer_kind
from tinkex.local.engine.types import DimuonConfig, OptimizerKind, StepConfig
from tinkex.types import (
    AdamOptimizerConfig,
    AdamParams,
    Datum,
    DimuonOptimizerConfig,
    DimuonParams,
    ForwardBackwardOutput,
    LoraConfig,
    ModelInput,
    OptimizerConfig,
    OptimParams,
    SampledSequence,
    SampleResponse,
    SamplingParams,
    TensorData,
)

__all__ = [
    "OUTPUT_TYPE",
    "engine_data",
    "forward_backward_output",
    "lora_spec",
    "optimizer_config",
    "optimizer_kind",
    "prompt_tokens",
    "sample_response",
    "sampling_config",
    "step_config",
]

OUTPUT_TYPE = "ArrayRecord"
"""`loss_fn_output_type` of every forward/backward result: per-datum named arrays."""


def prompt_tokens(model_input: ModelInput, field: str) -> list[int]:
    """The token ids of a text-only input; images and audio are not served locally."""
    try:
        return model_input.to_ints()
    except ValueError as exc:
        raise UserInputError(
            f"{field}: {exc}; this server only takes encoded_text chunks"
        ) from None


def engine_data(data: Sequence[Datum]) -> list[EngineDatum]:
    """Datums as the engine takes them: token list plus numpy loss inputs."""
    return [
        EngineDatum(
            tokens=prompt_tokens(datum.model_input, f"data[{i}].model_input"),
            loss_fn_inputs={key: value.to_numpy() for key, value in datum.loss_fn_inputs.items()},
        )
        for i, datum in enumerate(data)
    ]


def forward_backward_output(result: ForwardResult) -> ForwardBackwardOutput:
    """The engine's per-datum arrays and metrics as the wire result."""
    return ForwardBackwardOutput(
        loss_fn_output_type=OUTPUT_TYPE,
        loss_fn_outputs=[
            {name: TensorData.from_numpy(np.asarray(array)) for name, array in outputs.items()}
            for outputs in result.outputs
        ],
        metrics=dict(result.metrics),
    )


def lora_spec(config: LoraConfig | None) -> LoraSpec:
    """The LoRA settings of `create_model`; no `lora_config` means the default rank 32."""
    if config is None:
        return LoraSpec()
    return LoraSpec(
        rank=config.rank,
        seed=config.seed,
        train_mlp=config.train_mlp,
        train_attn=config.train_attn,
        train_unembed=config.train_unembed,
    )


def optimizer_kind(config: OptimizerConfig | None) -> OptimizerKind:
    """The optimizer family a model is created with; none given means AdamW."""
    return "adamw" if config is None else check_optimizer_kind(config.type)


def optimizer_config(kind: str) -> OptimizerConfig:
    """A run's recorded optimizer family as `get_info` reports it."""
    if check_optimizer_kind(kind) == "dimuon":
        return DimuonOptimizerConfig()
    return AdamOptimizerConfig()


def step_config(params: OptimParams) -> StepConfig:
    """One step's hyper-parameters: `adam_params`, or Dimuon's `optimizer_params`."""
    if isinstance(params, AdamParams):
        return AdamConfig(
            learning_rate=params.learning_rate,
            beta1=params.beta1,
            beta2=params.beta2,
            eps=params.eps,
            weight_decay=params.weight_decay,
            grad_clip_norm=params.grad_clip_norm,
        )
    if params.type != "dimuon":
        raise UserInputError(
            f"optimizer_params.type: optimizer {params.type!r} is not supported by "
            "tinkex.local; send adam_params (AdamW) or DimuonParams"
        )
    try:
        dimuon = DimuonParams.model_validate(params.model_dump())
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UserInputError(f"optimizer_params.{where}: {first['msg']}") from None
    return DimuonConfig(
        learning_rate=dimuon.learning_rate,
        grad_clip_norm=dimuon.grad_clip_norm,
        beta1=dimuon.beta1,
    )


def sampling_config(params: SamplingParams) -> SamplingConfig:
    return SamplingConfig(
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        top_k=params.top_k,
        top_p=params.top_p,
        seed=params.seed,
        stop=params.stop,
    )


def sample_response(result: SampleResult, *, last_n: int | None = None) -> SampleResponse:
    """The engine's completions (and prompt logprobs, NaN -> None) as the wire result.

    `last_n` keeps only the prompt logprobs of the last n positions (the rest are None),
    as `prompt_logprobs_last_n` asks.
    """
    prompt_logprobs: list[float | None] | None = None
    if result.prompt_logprobs is not None:
        values = result.prompt_logprobs.tolist()
        cut = len(values) - last_n if last_n is not None else 0
        prompt_logprobs = [
            None if (i < cut or value != value) else value for i, value in enumerate(values)
        ]
    topk = None
    if result.topk_prompt_logprobs is not None:
        ids = result.topk_prompt_logprobs.token_ids.tolist()
        lps = result.topk_prompt_logprobs.logprobs.tolist()
        topk = [
            None if i == 0 else list(zip(row_ids, row_lps, strict=True))
            for i, (row_ids, row_lps) in enumerate(zip(ids, lps, strict=True))
        ]
    return SampleResponse(
        sequences=[
            SampledSequence(
                stop_reason=sequence.stop_reason,
                tokens=sequence.tokens,
                logprobs=sequence.logprobs,
            )
            for sequence in result.sequences
        ],
        prompt_logprobs=prompt_logprobs,
        topk_prompt_logprobs=topk,
    )
