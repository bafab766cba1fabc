"""Tensor payloads: dtype widening, CSR layouts and every malformed buffer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from tinkex_proto_cases import TensorSpec, tensor_specs

from tinkex.proto import ProtoDecodeError
from tinkex.proto import tinker_public_pb2 as pb
from tinkex.proto.tensors import (
    batched_tensor_from_arrays,
    split_batched_tensor,
    tensor_data_from_proto,
    write_tensor_data,
)


def _decode(msg: pb.Tensor) -> object:
    return tensor_data_from_proto(msg, message="M", field="t")


@given(spec=tensor_specs())
def test_tensor_round_trip_keeps_values_layout_and_shape(spec: TensorSpec) -> None:
    msg = pb.Tensor()
    write_tensor_data(spec.to_tinkex(), msg)
    assert _decode(pb.Tensor.FromString(msg.SerializeToString())) == spec.to_tinkex()


def test_bfloat16_tensor_widens_to_float32() -> None:
    halves = (np.array([0.5, -8.0], np.float32).view(np.uint32) >> 16).astype("<u2")
    decoded = _decode(pb.Tensor(dense=halves.tobytes(), dtype=pb.DTYPE_BFLOAT16, shape=[2]))
    assert decoded == _decode(
        pb.Tensor(dense=np.array([0.5, -8.0], "<f4").tobytes(), dtype=pb.DTYPE_FLOAT32, shape=[2])
    )


def test_sparse_tensor_with_bad_indices_names_the_tensor() -> None:
    msg = pb.Tensor(dtype=pb.DTYPE_INT64, shape=[2, 2])
    msg.sparse_csr.values = np.array([1], "<i8").tobytes()
    msg.sparse_csr.crow_indices = np.array([0, 1], "<i8").tobytes()
    msg.sparse_csr.col_indices = np.array([0], "<i8").tobytes()
    with pytest.raises(ProtoDecodeError, match="sparse_crow_indices") as info:
        _decode(msg)
    assert info.value.field == "t"


def test_sparse_index_buffers_must_hold_whole_int64s() -> None:
    msg = pb.Tensor(dtype=pb.DTYPE_INT64, shape=[1, 1])
    msg.sparse_csr.crow_indices = b"\0" * 9
    with pytest.raises(ProtoDecodeError) as info:
        _decode(msg)
    assert info.value.field == "t.sparse_csr.crow_indices"


def test_batched_tensor_without_offsets_holds_no_datums() -> None:
    assert (
        split_batched_tensor(pb.BatchedTensor(dtype=pb.DTYPE_FLOAT32), message="M", field="b") == []
    )


def test_batched_tensor_rejects_a_shape_numpy_cannot_hold() -> None:
    bt = pb.BatchedTensor(dtype=pb.DTYPE_FLOAT32, offsets=np.zeros(2, "<i8").tobytes())
    bt.trailing_shape.extend([2**62, 2**62, 2**62])
    with pytest.raises(ProtoDecodeError) as info:
        split_batched_tensor(bt, message="M", field="b")
    assert info.value.field == "b.trailing_shape"


@pytest.mark.parametrize("shapes", [[(2, 3), (2, 4)], [()]])
def test_batching_needs_one_trailing_shape_and_a_leading_dimension(
    shapes: list[tuple[int, ...]],
) -> None:
    arrays = [np.zeros(shape, np.float32) for shape in shapes]
    with pytest.raises(ValueError, match="trailing shape"):
        batched_tensor_from_arrays(arrays, "float32", pb.BatchedTensor())


def test_batching_nothing_gives_one_zero_offset() -> None:
    bt = pb.BatchedTensor()
    batched_tensor_from_arrays([], "int64", bt)
    assert bt.data == b""
    assert np.frombuffer(bt.offsets, "<i8").tolist() == [0]
