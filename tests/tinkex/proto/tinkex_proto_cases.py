"""Shared test values: hypothesis strategies that build the same data for tinkex and tinker.

A *spec* is plain numpy/Python data; ``to_tinkex`` and ``to_official`` turn it into each SDK's
types so golden tests can compare what the two encoders produce byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import numpy.typing as npt
import tinker.types as official
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinkex.types.datum import Datum
from tinkex.types.loss import LossFnType
from tinkex.types.model_input import DmelChunk, EncodedTextChunk, ImageChunk, ModelInput
from tinkex.types.provenance import PromptProvenanceSpan, SampledProvenanceSpan
from tinkex.types.tensor import TensorData
from tinkex.types.training import ForwardBackwardInput, ForwardBackwardRequest

INT32_MAX = 2**31 - 1
_NP_DTYPES = {"float32": np.float32, "int64": np.int64}


@dataclass(frozen=True)
class TensorSpec:
    """A dense array and how to send it: with or without its shape, dense or CSR."""

    array: npt.NDArray[Any]
    sparse: bool = False
    keep_shape: bool = True

    @property
    def dtype(self) -> str:
        return "float32" if self.array.dtype == np.float32 else "int64"

    def kwargs(self) -> dict[str, Any]:
        if not self.sparse:
            return {
                "data": self.array,
                "dtype": self.dtype,
                "shape": list(self.array.shape) if self.keep_shape else None,
            }
        listed = self.array != 0
        return {
            "data": self.array[listed],
            "dtype": self.dtype,
            "shape": list(self.array.shape),
            "sparse_crow_indices": np.concatenate(([0], np.cumsum(listed.sum(axis=1)))).tolist(),
            "sparse_col_indices": np.nonzero(listed)[1].tolist(),
        }

    def to_tinkex(self) -> TensorData:
        return TensorData(**self.kwargs())

    def to_official(self) -> official.TensorData:
        return official.TensorData(**self.kwargs())


@dataclass(frozen=True)
class DatumSpec:
    chunks: list[tuple[Any, ...]]
    inputs: dict[str, TensorSpec]
    spans: list[tuple[str, str, int, int]] | None

    def to_tinkex(self) -> Datum:
        chunks: list[Any] = []
        for kind, *args in self.chunks:
            if kind == "text":
                chunks.append(EncodedTextChunk(tokens=args[0]))
            elif kind == "image":
                chunks.append(ImageChunk(data=args[0], format=args[1], expected_tokens=args[2]))
            else:
                chunks.append(DmelChunk(dmel=args[0]))
        spans: Any = None
        if self.spans is not None:
            spans = [
                (SampledProvenanceSpan if kind == "sampled" else PromptProvenanceSpan)(
                    sequence_id=seq, offset=offset, length=length
                )
                for kind, seq, offset, length in self.spans
            ]
        return Datum(
            model_input=ModelInput(chunks=chunks),
            loss_fn_inputs={k: v.to_tinkex() for k, v in self.inputs.items()},
            model_input_spans=spans,
            loss_fn_input_spans=spans,
        )

    def to_official(self) -> official.Datum:
        chunks: list[Any] = []
        for kind, *args in self.chunks:
            if kind == "text":
                chunks.append(official.EncodedTextChunk(tokens=args[0]))
            elif kind == "image":
                chunks.append(
                    official.ImageChunk(data=args[0], format=args[1], expected_tokens=args[2])
                )
            else:
                chunks.append(official.DmelChunk(dmel=args[0]))
        spans: Any = None
        if self.spans is not None:
            spans = [
                (
                    official.SampledProvenanceSpan
                    if kind == "sampled"
                    else official.PromptProvenanceSpan
                )(sequence_id=seq, offset=offset, length=length)
                for kind, seq, offset, length in self.spans
            ]
        return official.Datum(
            model_input=official.ModelInput(chunks=chunks),
            loss_fn_inputs={k: v.to_official() for k, v in self.inputs.items()},
            model_input_spans=spans,
            loss_fn_input_spans=spans,
        )


@dataclass(frozen=True)
class RequestSpec:
    data: list[DatumSpec]
    loss_fn: str
    config: dict[str, float | str] | None
    model_id: str
    seq_id: int

    def to_tinkex(self) -> ForwardBackwardRequest:
        return ForwardBackwardRequest(
            forward_backward_input=ForwardBackwardInput(
                data=[d.to_tinkex() for d in self.data],
                loss_fn=self.loss_fn,
                loss_fn_config=self.config,
            ),
            model_id=self.model_id,
            seq_id=self.seq_id,
        )

    def to_official(self) -> official.ForwardBackwardRequest:
        return official.ForwardBackwardRequest(
            forward_backward_input=official.ForwardBackwardInput(
                data=[d.to_official() for d in self.data],
                loss_fn=self.loss_fn,  # type: ignore[arg-type]
                loss_fn_config=self.config,
            ),
            model_id=self.model_id,
            seq_id=self.seq_id,
        )


def _elements(dtype: str) -> st.SearchStrategy[Any]:
    if dtype == "float32":
        return st.floats(width=32, allow_nan=False)
    return st.integers(-(2**63), 2**63 - 1)


@st.composite
def tensor_specs(draw: st.DrawFn) -> TensorSpec:
    """1-D, 2-D (possibly with a zero dimension), empty and sparse CSR tensors."""
    dtype = draw(st.sampled_from(["float32", "int64"]))
    ndim = draw(st.sampled_from([1, 2]))
    shape = draw(hnp.array_shapes(min_dims=ndim, max_dims=ndim, min_side=0, max_side=6))
    array = draw(hnp.arrays(_NP_DTYPES[dtype], shape, elements=_elements(dtype)))
    sparse = ndim == 2 and draw(st.booleans())
    keep_shape = ndim == 2 or draw(st.booleans())
    return TensorSpec(array=array, sparse=sparse, keep_shape=keep_shape)


_tokens = st.lists(st.integers(0, INT32_MAX), max_size=12)
_chunks = st.one_of(
    _tokens.map(lambda tokens: ("text", tokens)),
    st.tuples(
        st.just("image"),
        st.binary(max_size=16),
        st.sampled_from(["png", "jpeg"]),
        st.none() | st.integers(0, 1000),
    ),
    st.tuples(st.just("dmel"), st.binary(min_size=1, max_size=16)),
)
_spans = st.lists(
    st.tuples(
        st.sampled_from(["prompt", "sampled"]),
        st.text(min_size=1, max_size=5),
        st.integers(0, 100),
        st.integers(0, 100),
    ),
    min_size=1,
    max_size=3,
)
_names = st.sampled_from(["target_tokens", "weights", "advantages", "logprobs", "mask"])

datum_specs = st.builds(
    DatumSpec,
    chunks=st.lists(_chunks, max_size=3),
    inputs=st.dictionaries(_names, tensor_specs(), max_size=3),
    spans=st.none() | _spans,
)

loss_fn_configs = st.none() | st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.floats(allow_nan=False) | st.text(max_size=8),
    max_size=3,
)

request_specs = st.builds(
    RequestSpec,
    data=st.lists(datum_specs, max_size=4),
    loss_fn=st.sampled_from(get_args(LossFnType)),
    config=loss_fn_configs,
    model_id=st.text(max_size=10),
    seq_id=st.integers(0, INT32_MAX),
)
