"""Datum: one training example, its model input plus the tensors the loss reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pydantic

from ._base import RequestModel
from .model_input import ModelInput
from .provenance import PromptProvenanceSpan, ProvenanceSpans, SampledProvenanceSpan
from .tensor import TensorData, TensorDtype, is_torch_tensor

if TYPE_CHECKING:
    import torch

__all__ = ["Datum", "LossFnInputLike", "LossFnInputs", "LossFnOutput"]

LossFnInputs: TypeAlias = dict[str, TensorData]
"""Loss input name (``target_tokens``, ``weights``, ``advantages``, ...) to tensor."""

LossFnOutput: TypeAlias = dict[str, TensorData]
"""Loss output name (e.g. ``logprobs``) to tensor, one dict per datum."""

LossFnInputLike: TypeAlias = "TensorData | npt.NDArray[Any] | torch.Tensor | Sequence[Any]"
"""What ``Datum`` accepts per loss input; everything is converted to TensorData."""

SpanLike: TypeAlias = PromptProvenanceSpan | SampledProvenanceSpan

LIST_KEY_DTYPES: dict[str, TensorDtype] = {
    "target_tokens": "int64",
    "weights": "float32",
    "advantages": "float32",
    "logprobs": "float32",
    "clip_low_threshold": "float32",
    "clip_high_threshold": "float32",
    "sequence_ratio_mask": "float32",
}
"""Wire dtype for ``loss_fn_inputs`` given as plain lists, chosen by key (no dtype to infer)."""

_SPARSE_ELIGIBLE_KEYS = frozenset({"target_tokens", "weights"})


class Datum(RequestModel):
    """A training example; numpy, torch and list loss inputs become TensorData."""

    loss_fn_inputs: LossFnInputs = pydantic.Field(default_factory=dict)
    model_input: ModelInput
    model_input_spans: ProvenanceSpans | None = None
    """Provenance runs tiling ``model_input``; attach with ``with_provenance``."""
    loss_fn_input_spans: ProvenanceSpans | None = None
    """Provenance runs tiling ``loss_fn_inputs["target_tokens"]``."""

    if TYPE_CHECKING:
        # The stored field is dict[str, TensorData]; the constructor converts wider input.
        def __init__(
            self,
            *,
            model_input: ModelInput,
            loss_fn_inputs: Mapping[str, LossFnInputLike] = ...,
            model_input_spans: Sequence[SpanLike] | None = None,
            loss_fn_input_spans: Sequence[SpanLike] | None = None,
        ) -> None: ...

    @pydantic.field_validator("loss_fn_inputs", mode="before")
    @classmethod
    def _convert_inputs(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        # Dicts are left to field validation, which reports errors by tensor field.
        return {
            key: item if isinstance(item, dict) else to_tensor_data(key, item)
            for key, item in value.items()
        }

    @pydantic.model_validator(mode="after")
    def _spans_come_in_pairs(self) -> Datum:
        if (self.model_input_spans is None) != (self.loss_fn_input_spans is None):
            raise ValueError(
                "model_input_spans and loss_fn_input_spans come as a pair: set both or neither "
                "(use Datum.with_provenance)"
            )
        return self

    def with_provenance(
        self, model_input: Sequence[SpanLike], loss_fn_inputs: Sequence[SpanLike]
    ) -> Datum:
        """A copy carrying provenance; each span list must tile its field exactly."""
        _check_tiling("model_input", model_input, self.model_input.length)
        target = self.loss_fn_inputs.get("target_tokens")
        if target is not None and target.shape is not None and len(target.shape) == 1:
            _check_tiling("loss_fn_inputs", loss_fn_inputs, target.shape[0])
        return type(self).model_validate(
            {
                **dict(self),
                "model_input_spans": list(model_input),
                "loss_fn_input_spans": list(loss_fn_inputs),
            }
        )


def to_tensor_data(key: str, value: object) -> TensorData:
    """Convert one loss input: TensorData as is, numpy/torch by their dtype, lists by key."""
    if isinstance(value, TensorData):
        return value
    if isinstance(value, np.ndarray):
        return TensorData.from_numpy(value)
    if is_torch_tensor(value):
        if key in _SPARSE_ELIGIBLE_KEYS and value.ndim == 2:  # type: ignore[attr-defined]
            return TensorData.from_torch_sparse(value)  # type: ignore[arg-type]
        return TensorData.from_torch(value)  # type: ignore[arg-type]
    if isinstance(value, list):
        return _list_to_tensor(key, value)
    raise ValueError(
        f"loss_fn_inputs[{key!r}] must be TensorData, a numpy array, a torch tensor or a list, "
        f"got {type(value).__name__}"
    )


def _list_to_tensor(key: str, value: list[Any]) -> TensorData:
    dtype = LIST_KEY_DTYPES.get(key)
    if dtype is None:
        raise ValueError(
            f"loss_fn_inputs[{key!r}] is a plain list, whose dtype is only known for the keys "
            f"{sorted(LIST_KEY_DTYPES)}; pass a numpy array or TensorData instead"
        )
    try:
        array = np.asarray(value)
    except ValueError:
        array = np.asarray(value, dtype=object)
    if array.dtype == object:
        raise ValueError(
            f"loss_fn_inputs[{key!r}] must be a rectangular numeric array; "
            "ragged nested lists are not supported"
        )
    return TensorData.from_numpy(array.astype(np.int64 if dtype == "int64" else np.float32))


def _check_tiling(name: str, spans: Sequence[SpanLike], expected: int) -> None:
    total = sum(span.length for span in spans)
    if total != expected:
        raise ValueError(
            f"with_provenance {name} spans cover {total} positions but the field has "
            f"{expected}; the runs must tile it exactly"
        )
