"""Tensor payloads on the wire: ``Tensor`` and ``BatchedTensor`` <-> ``TensorData``.

Every payload is a raw little-endian buffer plus a ``DType`` tag, so encoding and decoding are
single numpy calls over whole buffers, never per-element Python loops. The public SDK types
hold only float32 and int64; the server may also send int32 (widened to int64) and bfloat16
(widened to float32, bit-exact for finite values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tinkex.proto import tinker_public_pb2 as pb
from tinkex.proto.errors import ProtoDecodeError
from tinkex.types.tensor import TensorData, TensorDtype

__all__ = [
    "batched_tensor_from_arrays",
    "read_array",
    "split_batched_tensor",
    "tensor_data_from_proto",
    "write_tensor_data",
]

_INDEX_DTYPE = np.dtype("<i8")

# Wire dtype -> (dtype of the bytes on the wire, public dtype after widening).
_WIRE_DTYPES: dict[int, tuple[np.dtype[Any], TensorDtype]] = {
    pb.DTYPE_FLOAT32: (np.dtype("<f4"), "float32"),
    pb.DTYPE_INT64: (np.dtype("<i8"), "int64"),
    pb.DTYPE_INT32: (np.dtype("<i4"), "int64"),
    pb.DTYPE_BFLOAT16: (np.dtype("<u2"), "float32"),
}

_PUBLIC_TO_WIRE: dict[str, tuple[int, np.dtype[Any]]] = {
    "float32": (pb.DTYPE_FLOAT32, np.dtype("<f4")),
    "int64": (pb.DTYPE_INT64, np.dtype("<i8")),
}


def _view(buf: bytes, dtype: np.dtype[Any], *, message: str, field: str) -> npt.NDArray[Any]:
    """``buf`` as a read-only flat array, or a ``ProtoDecodeError`` if it has a ragged tail."""
    if len(buf) % dtype.itemsize:
        raise ProtoDecodeError(
            message,
            field,
            f"{len(buf)} bytes is not a whole number of {dtype.itemsize}-byte elements",
        )
    return np.frombuffer(buf, dtype=dtype)


def read_array(buf: bytes, dtype: np.dtype[Any], *, message: str, field: str) -> npt.NDArray[Any]:
    """A writeable copy of ``buf`` read as a flat array of ``dtype``.

    Raises ``ProtoDecodeError`` naming ``field`` when the length is not a whole number of
    elements.
    """
    return _view(buf, dtype, message=message, field=field).copy()


def _read_values(
    buf: bytes, wire_dtype: int, *, message: str, field: str, dtype_field: str
) -> tuple[npt.NDArray[Any], TensorDtype, int]:
    """Values of ``buf`` widened to their public dtype, that dtype and the wire itemsize."""
    entry = _WIRE_DTYPES.get(wire_dtype)
    if entry is None:
        raise ProtoDecodeError(message, dtype_field, f"unsupported DType enum value {wire_dtype}")
    raw_dtype, public = entry
    raw = _view(buf, raw_dtype, message=message, field=field)
    if wire_dtype == pb.DTYPE_BFLOAT16:
        # bfloat16 is the upper half of a float32.
        widened = (raw.astype(np.uint32) << 16).view(np.float32)
    elif wire_dtype == pb.DTYPE_INT32:
        widened = raw.astype(np.int64)
    else:  # a native-order, writeable copy
        widened = raw.astype(raw_dtype.newbyteorder("="))
    return widened, public, raw_dtype.itemsize


def write_tensor_data(td: TensorData, out: pb.Tensor) -> None:
    """Fill ``out`` (typically a map entry, to avoid a copy) with ``td``.

    Dense tensors carry their values; sparse CSR tensors carry the listed values plus int64
    row pointers and column indices. The shape is written only when ``td`` has one.
    """
    wire_dtype, np_dtype = _PUBLIC_TO_WIRE[td.dtype]
    out.dtype = wire_dtype  # type: ignore[assignment]
    if td.shape is not None:
        out.shape.extend(td.shape)
    values = np.ascontiguousarray(td.array, dtype=np_dtype).tobytes()
    if td.sparse_crow_indices is None:
        out.dense = values
        return
    assert td.sparse_col_indices is not None  # TensorData sets both CSR index lists or neither
    csr = out.sparse_csr
    csr.values = values
    csr.crow_indices = np.asarray(td.sparse_crow_indices, dtype=_INDEX_DTYPE).tobytes()
    csr.col_indices = np.asarray(td.sparse_col_indices, dtype=_INDEX_DTYPE).tobytes()


def tensor_data_from_proto(msg: pb.Tensor, *, message: str, field: str) -> TensorData:
    """Decode a ``Tensor``, keeping a sparse CSR layout sparse.

    An empty ``shape`` means the sender had none: the tensor comes back 1-D with
    ``shape=None``. Raises ``ProtoDecodeError`` naming ``field`` for any inconsistency.
    """
    sparse = msg.WhichOneof("encoding") == "sparse_csr"
    values_field = f"{field}.sparse_csr.values" if sparse else f"{field}.dense"
    values, dtype, _ = _read_values(
        msg.sparse_csr.values if sparse else msg.dense,
        msg.dtype,
        message=message,
        field=values_field,
        dtype_field=f"{field}.dtype",
    )
    shape = list(msg.shape) or None
    crow = col = None
    if sparse:
        csr = msg.sparse_csr
        crow = read_array(
            csr.crow_indices,
            _INDEX_DTYPE,
            message=message,
            field=f"{field}.sparse_csr.crow_indices",
        ).tolist()
        col = read_array(
            csr.col_indices, _INDEX_DTYPE, message=message, field=f"{field}.sparse_csr.col_indices"
        ).tolist()
    try:
        return TensorData(
            values, dtype=dtype, shape=shape, sparse_crow_indices=crow, sparse_col_indices=col
        )
    except ValueError as exc:
        raise ProtoDecodeError(message, field, str(exc)) from exc


def batched_tensor_from_arrays(
    arrays: Sequence[npt.NDArray[Any]], dtype: TensorDtype, out: pb.BatchedTensor
) -> None:
    """Pack per-datum arrays that share ``dtype`` and trailing shape into ``out``.

    Datum ``i`` owns bytes ``offsets[i]:offsets[i + 1]`` of ``data``; its leading dimension is
    implied by its size. Raises ``ValueError`` when trailing shapes differ (split such datums
    into separate records).
    """
    wire_dtype, np_dtype = _PUBLIC_TO_WIRE[dtype]
    trailing = arrays[0].shape[1:] if arrays else ()
    for i, array in enumerate(arrays):
        if array.ndim == 0 or array.shape[1:] != trailing:
            raise ValueError(
                f"arrays[{i}] has shape {array.shape}; every datum of a BatchedTensor needs "
                f"at least one dimension and trailing shape {trailing}"
            )
    sizes = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
    offsets = np.zeros(len(arrays) + 1, dtype=_INDEX_DTYPE)
    np.cumsum(sizes * np_dtype.itemsize, out=offsets[1:])
    flat = (
        np.concatenate([a.ravel() for a in arrays]).astype(np_dtype, copy=False)
        if arrays
        else np.empty(0, dtype=np_dtype)
    )
    out.data = flat.tobytes()
    out.offsets = offsets.tobytes()
    out.dtype = wire_dtype  # type: ignore[assignment]
    out.trailing_shape.extend(trailing)


def split_batched_tensor(bt: pb.BatchedTensor, *, message: str, field: str) -> list[TensorData]:
    """Unpack a ``BatchedTensor`` into one ``TensorData`` per datum.

    The buffer is widened once and every datum is a view of it, shaped
    ``[leading, *trailing_shape]``. Byte offsets index the buffer as it was on the wire, which
    widening does not disturb because it keeps the element count.
    """
    values, dtype, itemsize = _read_values(
        bt.data, bt.dtype, message=message, field=f"{field}.data", dtype_field=f"{field}.dtype"
    )
    offsets = read_array(bt.offsets, _INDEX_DTYPE, message=message, field=f"{field}.offsets")
    if offsets.size == 0:
        return []
    if (
        offsets[0] < 0
        or offsets[-1] > len(bt.data)
        or np.any(np.diff(offsets) < 0)
        or np.any(offsets % itemsize)
    ):
        raise ProtoDecodeError(
            message,
            f"{field}.offsets",
            f"byte offsets must be non-decreasing multiples of {itemsize} "
            f"within the {len(bt.data)}-byte data buffer",
        )
    trailing = list(bt.trailing_shape)
    if any(d < 0 for d in trailing):
        raise ProtoDecodeError(
            message, f"{field}.trailing_shape", f"negative dimension in {trailing}"
        )
    row = math.prod(trailing)
    bounds = offsets // itemsize
    sizes = np.diff(bounds)
    if 0 < row <= values.size:
        fits = not np.any(sizes % row)
        leading = (sizes // row).tolist()
    else:  # only empty datums fit a zero-sized (or larger than the buffer) trailing shape
        fits = not np.any(sizes)
        leading = [0] * sizes.size
    if not fits:
        raise ProtoDecodeError(
            message,
            f"{field}.trailing_shape",
            f"datum sizes {sizes.tolist()} are not whole multiples of trailing shape {trailing}",
        )
    starts = bounds[:-1].tolist()
    try:
        return [
            TensorData(values[s : s + n * row], dtype=dtype, shape=[n, *trailing])
            for s, n in zip(starts, leading, strict=True)
        ]
    except (ValueError, OverflowError) as exc:  # a shape numpy cannot represent
        raise ProtoDecodeError(message, f"{field}.trailing_shape", str(exc)) from exc
