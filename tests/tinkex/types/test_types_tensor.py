"""TensorData: numpy/torch conversion, dense and CSR forms, validation, official parity."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pydantic
import pytest
import tinker.types as official
import torch

from tinkex.types import TensorData


def test_from_numpy_keeps_the_array_and_maps_dtypes() -> None:
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    td = TensorData.from_numpy(array)
    assert (td.dtype, td.shape) == ("int64", [2, 3])
    assert td.array.dtype == np.int64
    assert td.data == [0, 1, 2, 3, 4, 5]
    assert td.tolist() == [[0, 1, 2], [3, 4, 5]]
    floats = TensorData.from_numpy(np.array([0.5, 1.5], dtype=np.float64))
    assert floats.dtype == "float32"
    assert floats.array.dtype == np.float32


def test_from_numpy_shares_memory_like_the_official_client() -> None:
    array = np.arange(3, dtype=np.int64)
    assert TensorData.from_numpy(array).array is array


def test_from_numpy_copies_read_only_arrays() -> None:
    array = np.frombuffer(np.arange(3, dtype=np.int64).tobytes(), dtype=np.int64)
    td = TensorData.from_numpy(array)
    assert td.array.flags.writeable
    assert TensorData(data=array, dtype="int64").array.flags.writeable


@pytest.mark.parametrize("dtype", [np.uint8, np.bool_, np.complex64])
def test_from_numpy_refuses_unsupported_dtypes(dtype: type) -> None:
    with pytest.raises(ValueError, match="Unsupported numpy dtype"):
        TensorData.from_numpy(np.zeros(2, dtype=dtype))


def test_constructor_validates_dtype_and_shape() -> None:
    with pytest.raises(TypeError, match="requires `dtype`"):
        TensorData(data=[1])
    with pytest.raises(ValueError, match="dtype must be 'int64' or 'float32'"):
        TensorData(data=[1], dtype="int32")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape \\[4\\] does not fit 3"):
        TensorData(data=[1, 2, 3], dtype="int64", shape=[4])
    with pytest.raises(ValueError, match="rectangular"):
        TensorData(data=[[1, 2], [3]], dtype="int64")  # type: ignore[arg-type]


def test_constructor_converts_and_reshapes() -> None:
    td = TensorData(data=np.array([1, 2, 3, 4]), dtype="float32", shape=[2, 2])
    assert td.to_numpy().shape == (2, 2)
    assert td.array.dtype == np.float32
    assert TensorData(dtype="int64").to_numpy().shape == (0,)


def test_immutable_equal_and_unhashable() -> None:
    td = TensorData(data=[1, 2], dtype="int64", shape=[2])
    with pytest.raises(AttributeError, match="immutable"):
        td.dtype = "float32"
    assert td == TensorData.from_numpy(np.array([1, 2]))
    assert td != TensorData(data=[1, 2], dtype="float32", shape=[2])
    assert td != "not a tensor"
    with pytest.raises(TypeError):
        hash(td)
    assert repr(td) == "TensorData(dtype='int64', shape=[2], data=[1, 2])"
    assert "data=" not in repr(TensorData.from_numpy(np.zeros(100)))
    assert "sparse_csr=True" in repr(TensorData.from_numpy_sparse(np.eye(5, dtype=np.int64)))


def test_sparse_round_trip_with_pad_value() -> None:
    dense = np.full((4, 6), -1, dtype=np.int64)
    dense[0, 2] = 7
    dense[3, 5] = 9
    td = TensorData.from_numpy_sparse(dense, pad_value=-1)
    assert td.is_sparse
    assert td.sparse_crow_indices == [0, 1, 1, 1, 2]
    assert td.sparse_col_indices == [2, 5]
    assert td.data == [7, 9]
    np.testing.assert_array_equal(td.to_numpy(pad_value=-1), dense)
    assert td.tolist(pad_value=-1) == dense.tolist()
    assert torch.equal(td.to_torch(pad_value=-1), torch.from_numpy(dense))


def test_sparse_falls_back_to_dense_when_not_smaller() -> None:
    assert not TensorData.from_numpy_sparse(np.ones((2, 2), dtype=np.int64)).is_sparse
    assert not TensorData.from_numpy_sparse(np.zeros(5, dtype=np.int64)).is_sparse


def test_pad_value_must_be_an_integer() -> None:
    td = TensorData.from_numpy_sparse(np.eye(6, dtype=np.int64))
    for bad in (True, 0.5, "0"):
        with pytest.raises(TypeError, match="pad_value must be an integer"):
            td.to_numpy(pad_value=bad)  # type: ignore[arg-type]
    np.testing.assert_array_equal(td.to_numpy(pad_value=np.int64(0)), np.eye(6))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sparse_crow_indices": [0, 1]}, "must be set together"),
        ({"sparse_crow_indices": [0, 1], "sparse_col_indices": [0]}, "2-D dense shape"),
        (
            {"shape": [3, 2], "sparse_crow_indices": [0, 1], "sparse_col_indices": [0]},
            "row pointers",
        ),
        ({"shape": [1, 2], "sparse_crow_indices": [0, 2], "sparse_col_indices": [0]}, "entries"),
        ({"shape": [1, 2], "sparse_crow_indices": [0, 1], "sparse_col_indices": [5]}, "lie in"),
    ],
)
def test_invalid_csr_names_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TensorData(data=[1], dtype="int64", **kwargs)  # type: ignore[arg-type]


def test_sparse_data_must_be_flat() -> None:
    with pytest.raises(ValueError, match="flat"):
        TensorData(
            data=np.ones((1, 1)),
            dtype="int64",
            shape=[1, 1],
            sparse_crow_indices=[0, 1],
            sparse_col_indices=[0],
        )


def test_from_torch_widens_half_precision_and_detaches() -> None:
    tensor = torch.tensor([[0.5, 1.5]], dtype=torch.bfloat16, requires_grad=True)
    td = TensorData.from_torch(tensor)
    assert (td.dtype, td.shape, td.data) == ("float32", [1, 2], [0.5, 1.5])
    ints = TensorData.from_torch(torch.tensor([1, 2], dtype=torch.int32))
    assert ints.dtype == "int64"
    assert ints.to_torch().dtype == torch.int64


@pytest.mark.parametrize("pad_value", [0, -100])
def test_from_torch_sparse_matches_the_official_csr(pad_value: int) -> None:
    dense = torch.full((5, 8), pad_value, dtype=torch.int64)
    dense[1, 3] = 4
    dense[4, 0] = 2
    mine = TensorData.from_torch_sparse(dense, pad_value=pad_value)
    theirs = official.TensorData.from_torch_sparse(dense, pad_value=pad_value)
    assert mine.sparse_crow_indices == theirs.sparse_crow_indices
    assert mine.sparse_col_indices == theirs.sparse_col_indices
    assert mine.data == theirs.data
    assert mine.tolist(pad_value) == theirs.tolist(pad_value)


def test_to_numpy_and_tolist_match_the_official_client() -> None:
    array = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    mine, theirs = TensorData.from_numpy(array), official.TensorData.from_numpy(array)
    assert (mine.dtype, mine.shape, mine.data) == (theirs.dtype, theirs.shape, theirs.data)
    assert mine.tolist() == theirs.tolist()


def test_wire_dict_as_numpy_widens_float32_for_exact_digits() -> None:
    td = TensorData.from_numpy(np.array([0.1], dtype=np.float32))
    assert td.wire_dict(as_numpy=True)["data"].dtype == np.float64
    assert td.wire_dict()["data"] == [float(np.float32(0.1))]


def test_validation_from_json_names_the_field() -> None:
    adapter = pydantic.TypeAdapter(TensorData)
    with pytest.raises(pydantic.ValidationError) as info:
        adapter.validate_json(b'{"data": [1], "dtype": "int8"}')
    assert info.value.errors()[0]["loc"] == ("dtype",)
    with pytest.raises(pydantic.ValidationError) as info:
        adapter.validate_python({"data": [1, 2], "dtype": "int64", "shape": [3]})
    assert "shape [3] does not fit 2" in str(info.value)
    with pytest.raises(pydantic.ValidationError) as info:
        adapter.validate_python({"data": [1], "dtype": "int64", "extra": 1})
    assert info.value.errors()[0]["loc"] == ("extra",)


def test_out_of_range_integers_are_a_validation_error() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"TensorData\.data"):
        pydantic.TypeAdapter(TensorData).validate_json(
            b'{"data":[1180591620717411303424],"dtype":"int64"}'
        )


def test_pickle_and_deepcopy_preserve_the_value() -> None:
    for td in (
        TensorData.from_numpy(np.arange(6).reshape(2, 3)),
        TensorData.from_numpy_sparse(np.eye(6, dtype=np.int64)),
    ):
        assert pickle.loads(pickle.dumps(td)) == td
        clone = copy.deepcopy(td)
        assert clone == td
        assert clone.array is not td.array
