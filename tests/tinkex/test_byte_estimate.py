"""Byte estimates match the official client's numbers for the same values."""

from __future__ import annotations

from typing import Any

import numpy as np
import tinker.types as official
from hypothesis import given
from hypothesis import strategies as st
from tinker.lib.internal_client_holder import InternalClientHolder
from tinker.lib.public_interfaces.training_client import _estimate_datum_bytes_count_proto

from tinkex.byte_estimate import (
    chunk_bytes,
    data_bytes,
    datum_bytes,
    model_input_bytes,
    sample_request_bytes,
    tensor_bytes,
)
from tinkex.types.datum import Datum
from tinkex.types.model_input import (
    DmelChunk,
    EncodedTextChunk,
    ImageAssetPointerChunk,
    ImageChunk,
    ModelInput,
)
from tinkex.types.sampling import SampleRequest, SamplingParams
from tinkex.types.tensor import TensorData

# (kind, payload) pairs that both SDKs can build.
_chunks = st.one_of(
    st.tuples(st.just("text"), st.lists(st.integers(0, 2**31 - 1), max_size=20)),
    st.tuples(st.just("image"), st.binary(max_size=50)),
    st.tuples(st.just("pointer"), st.text(max_size=30)),
    st.tuples(st.just("dmel"), st.binary(min_size=1, max_size=50)),
)
# (dtype, dense 2-D array, as CSR?)
_tensors = st.tuples(
    st.sampled_from(["float32", "int64"]),
    st.integers(0, 5),
    st.integers(1, 5),
    st.integers(0, 2**32),
    st.booleans(),
)


def _array(spec: tuple[str, int, int, int, bool]) -> np.ndarray[Any, Any]:
    dtype, rows, cols, seed, _ = spec
    values = np.random.default_rng(seed).integers(0, 3, size=(rows, cols))
    return values.astype(np.float32 if dtype == "float32" else np.int64)


def _tensor_kwargs(spec: tuple[str, int, int, int, bool]) -> dict[str, Any]:
    array = _array(spec)
    if not spec[4]:
        return {"data": array, "dtype": spec[0], "shape": list(array.shape)}
    listed = array != 0
    return {
        "data": array[listed],
        "dtype": spec[0],
        "shape": list(array.shape),
        "sparse_crow_indices": np.concatenate(([0], np.cumsum(listed.sum(axis=1)))).tolist(),
        "sparse_col_indices": np.nonzero(listed)[1].tolist(),
    }


def _ours(kind: str, payload: Any) -> Any:
    if kind == "text":
        return EncodedTextChunk(tokens=payload)
    if kind == "image":
        return ImageChunk(data=payload, format="png")
    if kind == "pointer":
        return ImageAssetPointerChunk(location=payload, format="jpeg")
    return DmelChunk(dmel=payload)


def _theirs(kind: str, payload: Any) -> Any:
    if kind == "text":
        return official.EncodedTextChunk(tokens=payload)
    if kind == "image":
        return official.ImageChunk(data=payload, format="png")
    if kind == "pointer":
        return official.ImageAssetPointerChunk(location=payload, format="jpeg")
    return official.DmelChunk(dmel=payload)


@given(chunks=st.lists(_chunks, max_size=4), tensors=st.dictionaries(st.text(), _tensors))
def test_datum_estimate_matches_the_official_chunking_estimate(
    chunks: list[tuple[str, Any]], tensors: dict[str, tuple[str, int, int, int, bool]]
) -> None:
    ours = Datum(
        model_input=ModelInput(chunks=[_ours(*c) for c in chunks]),
        loss_fn_inputs={k: TensorData(**_tensor_kwargs(v)) for k, v in tensors.items()},
    )
    theirs = official.Datum(
        model_input=official.ModelInput(chunks=[_theirs(*c) for c in chunks]),
        loss_fn_inputs={k: official.TensorData(**_tensor_kwargs(v)) for k, v in tensors.items()},
    )
    assert datum_bytes(ours) == _estimate_datum_bytes_count_proto(theirs)
    assert data_bytes([ours, ours]) == 2 * datum_bytes(ours)


@given(chunks=st.lists(_chunks, max_size=4))
def test_sampling_estimate_matches_the_official_dispatch_estimate(
    chunks: list[tuple[str, Any]],
) -> None:
    prompt = ModelInput(chunks=[_ours(*c) for c in chunks])
    # The official estimate is a method that never touches ``self``.
    holder: Any = InternalClientHolder
    expected = sum(holder.estimate_bytes_count_in_chunk(None, _theirs(*c)) for c in chunks)
    request = SampleRequest(prompt=prompt, sampling_params=SamplingParams())
    assert model_input_bytes(prompt) == expected
    assert sample_request_bytes(request) == expected


def test_tokens_cost_four_bytes_in_protobuf_and_ten_in_json() -> None:
    chunk = EncodedTextChunk(tokens=[1, 2, 3])
    assert chunk_bytes(chunk, bytes_per_token=4) == 12
    assert model_input_bytes(ModelInput(chunks=[chunk])) == 30


def test_sparse_tensors_count_their_indices() -> None:
    dense = np.zeros((4, 4), np.int64)
    dense[0, 1] = 5
    sparse = TensorData.from_numpy_sparse(dense)
    assert sparse.is_sparse
    assert tensor_bytes(sparse) == 8 * 1 + 8 * (5 + 1)
    assert tensor_bytes(TensorData.from_numpy(dense)) == 128
