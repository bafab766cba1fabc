"""TensorData: a numeric tensor on the wire, kept as a numpy array in memory.

The array is the source of truth so building a request from numpy (or torch) costs no
Python-list round trip; the wire form (flat ``data`` list, ``dtype``, ``shape`` and the
optional CSR index lists) is produced only when the value is serialised.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pydantic
from pydantic_core import core_schema

if TYPE_CHECKING:
    import torch

from ._base import NUMPY_CONTEXT_KEY

__all__ = ["TensorData", "TensorDtype", "is_torch_tensor"]

TensorDtype: TypeAlias = Literal["int64", "float32"]

PadValue: TypeAlias = int | np.integer[Any]
"""The value of CSR cells not listed; an integer so the shift around zero stays exact."""

_REPR_MAX_VALUES = 16

_NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "int64": np.dtype(np.int64),
    "float32": np.dtype(np.float32),
}


class _TensorDataWire(pydantic.BaseModel):
    """The JSON shape of a tensor; used only to validate incoming dicts field by field."""

    model_config = pydantic.ConfigDict(extra="forbid")

    data: list[int] | list[float]
    dtype: TensorDtype
    shape: list[int] | None = None
    sparse_crow_indices: list[int] | None = None
    sparse_col_indices: list[int] | None = None


class TensorData:
    """An immutable int64/float32 tensor, dense or sparse CSR (2-D, unlisted cells = pad)."""

    __slots__ = ("_array", "dtype", "shape", "sparse_col_indices", "sparse_crow_indices")

    dtype: TensorDtype
    shape: list[int] | None
    sparse_crow_indices: list[int] | None
    sparse_col_indices: list[int] | None
    _array: npt.NDArray[Any]

    def __init__(
        self,
        data: Sequence[int] | Sequence[float] | npt.NDArray[Any] | None = None,
        dtype: TensorDtype | None = None,
        shape: Sequence[int] | None = None,
        sparse_crow_indices: Sequence[int] | None = None,
        sparse_col_indices: Sequence[int] | None = None,
    ) -> None:
        np_dtype = _numpy_dtype(dtype)
        array = _as_array(data, np_dtype)
        shape_list = None if shape is None else [int(d) for d in shape]
        crow = None if sparse_crow_indices is None else [int(i) for i in sparse_crow_indices]
        col = None if sparse_col_indices is None else [int(i) for i in sparse_col_indices]
        if crow is None and col is None:
            if shape_list is not None and list(array.shape) != shape_list:
                array = _reshape(array, shape_list)
        else:
            _check_csr(array, shape_list, crow, col)
        _set = object.__setattr__
        _set(self, "dtype", dtype)
        _set(self, "shape", shape_list)
        _set(self, "sparse_crow_indices", crow)
        _set(self, "sparse_col_indices", col)
        _set(self, "_array", array)

    @classmethod
    def _trusted(cls, array: npt.NDArray[Any], dtype: TensorDtype) -> TensorData:
        """Wrap an array already in ``dtype``; skips every check (internal fast path)."""
        self = cls.__new__(cls)
        _set = object.__setattr__
        _set(self, "dtype", dtype)
        _set(self, "shape", list(array.shape))
        _set(self, "sparse_crow_indices", None)
        _set(self, "sparse_col_indices", None)
        _set(self, "_array", array)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TensorData is immutable; cannot set {name!r}")

    def __reduce__(self) -> tuple[type[TensorData], tuple[Any, ...]]:
        # Immutable slots defeat the default pickle/copy protocol; rebuild through __init__.
        fields = (self.dtype, self.shape, self.sparse_crow_indices, self.sparse_col_indices)
        return (TensorData, (self._array, *fields))

    def __repr__(self) -> str:
        sparse = "" if self.sparse_crow_indices is None else ", sparse_csr=True"
        # Values only for small tensors, so a batch of Datums stays readable in logs.
        data = f", data={self.data!r}" if self._array.size <= _REPR_MAX_VALUES else ""
        return f"TensorData(dtype={self.dtype!r}, shape={self.shape!r}{sparse}{data})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorData):
            return NotImplemented
        return (
            self.dtype == other.dtype
            and self.shape == other.shape
            and self.sparse_crow_indices == other.sparse_crow_indices
            and self.sparse_col_indices == other.sparse_col_indices
            and np.array_equal(self._array.ravel(), other._array.ravel(), equal_nan=True)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def is_sparse(self) -> bool:
        """True for the CSR form, where ``data`` lists only the non-pad cells."""
        return self.sparse_crow_indices is not None

    @property
    def array(self) -> npt.NDArray[Any]:
        """The stored values as numpy (CSR: the listed values only); shares memory, no copy."""
        return self._array

    @property
    def data(self) -> list[int] | list[float]:
        """Flattened values as a Python list (CSR: the listed values only)."""
        values: list[int] | list[float] = self._array.ravel().tolist()
        return values

    @classmethod
    def from_numpy(cls, array: npt.NDArray[Any]) -> TensorData:
        """Float arrays become float32 and signed integer arrays int64; others are refused."""
        dtype = _tensor_dtype_of(array.dtype)
        converted = array.astype(_NUMPY_DTYPES[dtype], copy=False)
        if not converted.flags.writeable:
            converted = converted.copy()
        return cls._trusted(converted, dtype)

    @classmethod
    def from_torch(cls, tensor: torch.Tensor) -> TensorData:
        """Dense copy of a torch tensor (bfloat16/float16 widen to float32)."""
        return cls.from_numpy(_torch_to_numpy(tensor))

    @classmethod
    def from_torch_sparse(cls, tensor: torch.Tensor, pad_value: PadValue = 0) -> TensorData:
        """CSR form of a 2-D tensor when that is smaller than dense; dense otherwise."""
        return cls.from_numpy_sparse(_torch_to_numpy(tensor), pad_value)

    @classmethod
    def from_numpy_sparse(cls, array: npt.NDArray[Any], pad_value: PadValue = 0) -> TensorData:
        """CSR form of a 2-D array, leaving out ``pad_value`` cells, when that saves space."""
        pad = _check_pad_value(pad_value)
        if array.ndim != 2:
            return cls.from_numpy(array)
        listed = array != pad
        nnz = int(np.count_nonzero(listed))
        nrows, ncols = array.shape
        if (nrows + 1) + 2 * nnz >= nrows * ncols:
            return cls.from_numpy(array)
        dtype = _tensor_dtype_of(array.dtype)
        crow = np.concatenate(([0], np.cumsum(listed.sum(axis=1)))).tolist()
        col = np.nonzero(listed)[1].tolist()
        return cls(
            data=array[listed].astype(_NUMPY_DTYPES[dtype]),
            dtype=dtype,
            shape=[nrows, ncols],
            sparse_crow_indices=crow,
            sparse_col_indices=col,
        )

    def to_numpy(self, pad_value: PadValue = 0) -> npt.NDArray[Any]:
        """Dense numpy array; CSR cells not listed take ``pad_value``."""
        if self.sparse_crow_indices is None:
            return self._array
        pad = _check_pad_value(pad_value)
        assert self.shape is not None
        assert self.sparse_col_indices is not None
        dense = np.full(self.shape, pad, dtype=self._array.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.sparse_crow_indices))
        dense[rows, np.asarray(self.sparse_col_indices, dtype=np.int64)] = self._array
        return dense

    def to_torch(self, pad_value: PadValue = 0) -> torch.Tensor:
        """Dense torch tensor (needs torch); CSR cells not listed take ``pad_value``."""
        torch_module = _import_torch()
        tensor: torch.Tensor = torch_module.from_numpy(np.array(self.to_numpy(pad_value)))
        return tensor

    def tolist(self, pad_value: PadValue = 0) -> list[Any]:
        """Dense nested Python lists in the tensor's shape."""
        values: list[Any] = self.to_numpy(pad_value).tolist()
        return values

    def wire_dict(self, *, as_numpy: bool = False) -> dict[str, Any]:
        """The JSON object for this tensor; ``as_numpy`` keeps ``data`` as an array for orjson."""
        data: Any
        if as_numpy:
            # float32 widens to float64 so orjson prints the same digits as Python's float repr.
            data = self._array.ravel()
            if data.dtype == np.float32:
                data = data.astype(np.float64)
        else:
            data = self._array.ravel().tolist()
        wire: dict[str, Any] = {"data": data, "dtype": self.dtype}
        if self.shape is not None:
            wire["shape"] = self.shape
        if self.sparse_crow_indices is not None:
            wire["sparse_crow_indices"] = self.sparse_crow_indices
        if self.sparse_col_indices is not None:
            wire["sparse_col_indices"] = self.sparse_col_indices
        return wire

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: pydantic.GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_wrap_validator_function(
            _validate_tensor,
            handler.generate_schema(_TensorDataWire),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize_tensor, info_arg=True
            ),
        )


def _validate_tensor(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> TensorData:
    if isinstance(value, TensorData):
        return value
    wire: _TensorDataWire = handler(value)
    return TensorData(
        data=wire.data,
        dtype=wire.dtype,
        shape=wire.shape,
        sparse_crow_indices=wire.sparse_crow_indices,
        sparse_col_indices=wire.sparse_col_indices,
    )


def _serialize_tensor(value: TensorData, info: core_schema.SerializationInfo) -> dict[str, Any]:
    context = info.context
    as_numpy = bool(context and context.get(NUMPY_CONTEXT_KEY)) and not info.mode_is_json()
    return value.wire_dict(as_numpy=as_numpy)


def _numpy_dtype(dtype: object) -> np.dtype[Any]:
    if dtype is None:
        raise TypeError("TensorData requires `dtype`: pass dtype='int64' or dtype='float32'")
    try:
        return _NUMPY_DTYPES[dtype]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError(f"TensorData.dtype must be 'int64' or 'float32', got {dtype!r}") from None


def _as_array(data: object, np_dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    if data is None:
        return np.empty(0, dtype=np_dtype)
    if isinstance(data, np.ndarray):
        if data.dtype != np_dtype:
            return data.astype(np_dtype)
        return data if data.flags.writeable else data.copy()
    try:
        return np.asarray(data, dtype=np_dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(
            f"TensorData.data must be a rectangular list of numbers or a numpy array ({exc})"
        ) from None


def _reshape(array: npt.NDArray[Any], shape: list[int]) -> npt.NDArray[Any]:
    try:
        return array.reshape(shape)
    except ValueError:
        raise ValueError(
            f"TensorData.shape {shape} does not fit {array.size} data values; "
            "pass the shape of the dense tensor whose flattened values are `data`"
        ) from None


def _check_csr(
    array: npt.NDArray[Any],
    shape: list[int] | None,
    crow: list[int] | None,
    col: list[int] | None,
) -> None:
    """Reject a CSR description that cannot be densified, naming the faulty field."""
    if crow is None or col is None:
        raise ValueError(
            "TensorData.sparse_crow_indices and sparse_col_indices must be set together"
        )
    if shape is None or len(shape) != 2:
        raise ValueError("TensorData.shape must be the 2-D dense shape when the tensor is sparse")
    if array.ndim != 1:
        raise ValueError("TensorData.data must be flat (the listed values) for a sparse tensor")
    if len(crow) != shape[0] + 1 or crow[0] != 0 or np.any(np.diff(crow) < 0):
        raise ValueError(
            "TensorData.sparse_crow_indices must be non-decreasing row pointers "
            f"starting at 0 with shape[0] + 1 = {shape[0] + 1} entries"
        )
    if crow[-1] != len(col) or len(col) != array.size:
        raise ValueError(
            "TensorData.sparse_col_indices and data must both hold sparse_crow_indices[-1] "
            f"= {crow[-1]} entries, got {len(col)} and {array.size}"
        )
    if col and (min(col) < 0 or max(col) >= shape[1]):
        raise ValueError(f"TensorData.sparse_col_indices must lie in [0, {shape[1]})")


def _tensor_dtype_of(dtype: np.dtype[Any]) -> TensorDtype:
    if dtype.kind == "f":
        return "float32"
    if dtype.kind == "i":
        return "int64"
    raise ValueError(
        f"Unsupported numpy dtype {dtype}: TensorData holds float (as float32) or signed "
        "integer (as int64) values; convert the array first"
    )


def _check_pad_value(pad_value: object) -> int:
    if isinstance(pad_value, bool) or not isinstance(pad_value, int | np.integer):
        raise TypeError(
            f"pad_value must be an integer, got {type(pad_value).__name__}: {pad_value!r}"
        )
    return int(pad_value)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is installed in the dev environment
        raise ImportError(
            "PyTorch is not installed; install it (pip install 'tinkex[torch]') to use "
            "torch tensors"
        ) from None
    return torch


def is_torch_tensor(value: object) -> bool:
    """True for a torch tensor, without importing torch when the caller never did."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _torch_to_numpy(tensor: torch.Tensor) -> npt.NDArray[Any]:
    torch = _import_torch()
    detached = tensor.detach().cpu()
    if detached.dtype in (torch.bfloat16, torch.float16):
        detached = detached.float()
    array: npt.NDArray[Any] = detached.contiguous().numpy()
    return array
