"""Forward/backward results: wire-identical records, decoded the same way as tinker 0.38."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tinker.proto import tinker_public_pb2 as official_pb
from tinker.proto.response_conv import deserialize_forward_backward_output

from tinkex.proto import (
    ProtoDecodeError,
    compress_zstd,
    decode_forward_backward_output,
    encode_forward_backward_output,
    forward_backward_output_to_proto,
)
from tinkex.proto import tinker_public_pb2 as pb
from tinkex.types.tensor import TensorData
from tinkex.types.training import ForwardBackwardOutput

Datum = dict[str, npt.NDArray[Any]]

_WIRE = {
    np.dtype(np.float32): official_pb.DTYPE_FLOAT32,
    np.dtype(np.int64): official_pb.DTYPE_INT64,
}


@st.composite
def _groups(draw: st.DrawFn) -> list[Datum]:
    """Runs of datums sharing field names, dtypes and trailing shapes (ragged across runs)."""
    names = draw(st.lists(st.sampled_from(["logprobs", "elementwise_loss", "ids"]), unique=True))
    datums: list[Datum] = []
    for _ in range(draw(st.integers(0, 3))):
        signature = {
            name: (
                draw(st.sampled_from([np.float32, np.int64])),
                # A zero trailing dimension would hide the leading one: the wire has only bytes.
                tuple(draw(st.lists(st.integers(1, 3), max_size=2))),
            )
            for name in names
        }
        for _ in range(draw(st.integers(1, 3))):
            datums.append(
                {
                    name: draw(
                        hnp.arrays(
                            dtype,
                            (draw(st.integers(0, 5)), *trailing),
                            elements={"allow_nan": False} if dtype == np.float32 else None,
                        )
                    )
                    for name, (dtype, trailing) in signature.items()
                }
            )
    return datums


_metrics = st.dictionaries(st.text(max_size=8), st.floats(allow_nan=False), max_size=3)


def _signature(datum: Datum) -> list[tuple[str, Any, Any]]:
    return [(name, a.dtype, a.shape[1:]) for name, a in datum.items()]


def _reference_bytes(datums: list[Datum], metrics: dict[str, float], kind: str) -> bytes:
    """What a tinker server sends, built with the official module from first principles."""
    msg = official_pb.ForwardBackwardOutput(loss_fn_output_type=kind, metrics=metrics)
    for _, run in groupby(datums, key=_signature):
        group = list(run)
        record = msg.loss_fn_outputs.add(type_tag=kind, num_datums=len(group))
        for name in group[0]:
            arrays = [datum[name] for datum in group]
            field = record.fields[name]
            field.data = b"".join(a.tobytes() for a in arrays)
            field.offsets = np.cumsum([0] + [a.nbytes for a in arrays]).astype("<i8").tobytes()
            field.dtype = _WIRE[arrays[0].dtype]
            field.trailing_shape.extend(arrays[0].shape[1:])
    return msg.SerializeToString()


def _output(datums: list[Datum], metrics: dict[str, float], kind: str) -> ForwardBackwardOutput:
    return ForwardBackwardOutput(
        loss_fn_output_type=kind,
        loss_fn_outputs=[
            {name: TensorData.from_numpy(a) for name, a in datum.items()} for datum in datums
        ],
        metrics=metrics,
    )


@settings(max_examples=60, deadline=None)
@given(datums=_groups(), metrics=_metrics)
def test_encoding_is_byte_identical_to_a_reference_server(
    datums: list[Datum], metrics: dict[str, float]
) -> None:
    ours = encode_forward_backward_output(_output(datums, metrics, "ArrayRecord"))
    assert ours == _reference_bytes(datums, metrics, "ArrayRecord")


@settings(max_examples=60, deadline=None)
@given(datums=_groups(), metrics=_metrics)
def test_official_client_and_tinkex_decode_the_same_values(
    datums: list[Datum], metrics: dict[str, float]
) -> None:
    body = _reference_bytes(datums, metrics, "tinker.losses:ArrayRecord")
    theirs = deserialize_forward_backward_output(body)
    ours = decode_forward_backward_output(body)
    assert ours.loss_fn_output_type == theirs.loss_fn_output_type
    assert ours.loss_fn_output_type == ("ArrayRecord" if datums else "tinker.losses:ArrayRecord")
    assert ours.metrics == theirs.metrics == metrics
    assert len(ours.loss_fn_outputs) == len(theirs.loss_fn_outputs) == len(datums)
    for got, official, original in zip(
        ours.loss_fn_outputs, theirs.loss_fn_outputs, datums, strict=True
    ):
        assert got.keys() == official.keys() == original.keys()
        for name, array in original.items():
            assert got[name].dtype == official[name].dtype
            assert got[name].shape == official[name].shape == list(array.shape)
            np.testing.assert_array_equal(got[name].array, official[name].to_numpy())
            np.testing.assert_array_equal(got[name].array, array)


@settings(max_examples=30, deadline=None)
@given(datums=_groups(), metrics=_metrics)
def test_round_trip_through_zstd(datums: list[Datum], metrics: dict[str, float]) -> None:
    output = _output(datums, metrics, "ArrayRecord")
    body = compress_zstd(encode_forward_backward_output(output))
    assert decode_forward_backward_output(body, content_encoding="zstd") == output


def _record(**fields: official_pb.BatchedTensor) -> official_pb.ArrayRecord:
    return official_pb.ArrayRecord(type_tag="ArrayRecord", fields=fields)


def _batched(
    values: npt.NDArray[Any], counts: list[int], dtype: int, trailing: tuple[int, ...] = ()
) -> official_pb.BatchedTensor:
    row_bytes = values.itemsize * int(np.prod(trailing, dtype=np.int64))
    offsets = np.cumsum([0, *counts]) * row_bytes
    return official_pb.BatchedTensor(
        data=values.tobytes(),
        offsets=offsets.astype("<i8").tobytes(),
        dtype=dtype,  # type: ignore[arg-type]
        trailing_shape=trailing,
    )


def test_int32_and_bfloat16_widen_like_the_official_decoder() -> None:
    bf16 = (np.array([1.5, -2.0, 3.25], np.float32).view(np.uint32) >> 16).astype(np.uint16)
    record = _record(
        ids=_batched(np.array([7, 8, 9], np.int32), [1, 2], official_pb.DTYPE_INT32),
        logprobs=_batched(bf16, [1, 2], official_pb.DTYPE_BFLOAT16),
    )
    record.num_datums = 2
    body = official_pb.ForwardBackwardOutput(loss_fn_outputs=[record]).SerializeToString()
    ours = decode_forward_backward_output(body)
    theirs = deserialize_forward_backward_output(body)
    for got, official in zip(ours.loss_fn_outputs, theirs.loss_fn_outputs, strict=True):
        assert got["ids"].dtype == "int64"
        assert got["ids"].array.dtype == np.int64
        assert got["logprobs"].dtype == "float32"
        assert got["logprobs"].array.dtype == np.float32
        for name in ("ids", "logprobs"):
            np.testing.assert_array_equal(got[name].array, official[name].to_numpy())
    assert ours.loss_fn_outputs[1]["logprobs"].array.tolist() == [-2.0, 3.25]


def test_two_dimensional_outputs_keep_their_trailing_shape() -> None:
    values = np.arange(12, dtype=np.float32)
    record = _record(topk=_batched(values, [1, 3], official_pb.DTYPE_FLOAT32, (3,)))
    body = official_pb.ForwardBackwardOutput(loss_fn_outputs=[record]).SerializeToString()
    outputs = decode_forward_backward_output(body).loss_fn_outputs
    assert [o["topk"].shape for o in outputs] == [[1, 3], [3, 3]]
    assert outputs[1]["topk"].array[2].tolist() == [9.0, 10.0, 11.0]


def test_record_without_num_datums_counts_its_first_field() -> None:
    record = _record(x=_batched(np.arange(3, dtype=np.int64), [1, 0, 2], official_pb.DTYPE_INT64))
    body = official_pb.ForwardBackwardOutput(loss_fn_outputs=[record]).SerializeToString()
    assert len(decode_forward_backward_output(body).loss_fn_outputs) == 3


def test_record_with_num_datums_and_no_fields_yields_empty_outputs() -> None:
    body = official_pb.ForwardBackwardOutput(
        loss_fn_outputs=[official_pb.ArrayRecord(num_datums=2)]
    ).SerializeToString()
    assert decode_forward_backward_output(body).loss_fn_outputs == [{}, {}]
    assert deserialize_forward_backward_output(body).loss_fn_outputs == [{}, {}]


def test_empty_output_defaults_its_type_like_the_official_decoder() -> None:
    decoded = decode_forward_backward_output(b"")
    assert decoded.loss_fn_output_type == "ArrayRecord"
    assert decoded.loss_fn_outputs == []
    assert decoded.metrics == {}


def test_scalar_outputs_travel_as_one_element_vectors() -> None:
    output = ForwardBackwardOutput(
        loss_fn_output_type="ArrayRecord",
        loss_fn_outputs=[{"loss": TensorData.from_numpy(np.array(2.5, np.float32))}],
    )
    decoded = decode_forward_backward_output(encode_forward_backward_output(output))
    assert decoded.loss_fn_outputs[0]["loss"].shape == [1]


def test_sparse_outputs_are_sent_dense() -> None:
    dense = np.array([[0, 0, 3], [0, 0, 0], [4, 0, 0]], np.int64)
    sparse = TensorData.from_numpy_sparse(dense)
    assert sparse.is_sparse
    output = ForwardBackwardOutput(loss_fn_output_type="A", loss_fn_outputs=[{"x": sparse}])
    decoded = decode_forward_backward_output(encode_forward_backward_output(output))
    np.testing.assert_array_equal(decoded.loss_fn_outputs[0]["x"].array, dense)


def _corrupt(**changes: Any) -> bytes:
    field = _batched(np.arange(4, dtype=np.float32), [2, 2], official_pb.DTYPE_FLOAT32)
    for key, value in changes.items():
        if key == "trailing_shape":
            field.trailing_shape.extend(value)
        else:
            setattr(field, key, value)
    record = _record(x=field)
    record.num_datums = 2
    return official_pb.ForwardBackwardOutput(loss_fn_outputs=[record]).SerializeToString()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_corrupt(data=b"\0" * 5), "loss_fn_outputs[0].fields['x'].data"),
        (_corrupt(dtype=0), "loss_fn_outputs[0].fields['x'].dtype"),
        (_corrupt(dtype=9), "loss_fn_outputs[0].fields['x'].dtype"),
        (_corrupt(offsets=b"\0" * 7), "loss_fn_outputs[0].fields['x'].offsets"),
        (
            _corrupt(offsets=np.array([0, 12, 8], "<i8").tobytes()),
            "loss_fn_outputs[0].fields['x'].offsets",
        ),
        (
            _corrupt(offsets=np.array([0, 2, 16], "<i8").tobytes()),
            "loss_fn_outputs[0].fields['x'].offsets",
        ),
        (
            _corrupt(offsets=np.array([0, 8, 64], "<i8").tobytes()),
            "loss_fn_outputs[0].fields['x'].offsets",
        ),
        (
            _corrupt(offsets=np.array([0, 16], "<i8").tobytes()),
            "loss_fn_outputs[0].fields['x'].offsets",
        ),
        (_corrupt(trailing_shape=[3]), "loss_fn_outputs[0].fields['x'].trailing_shape"),
        (_corrupt(trailing_shape=[-1]), "loss_fn_outputs[0].fields['x'].trailing_shape"),
        (_corrupt(trailing_shape=[0]), "loss_fn_outputs[0].fields['x'].trailing_shape"),
    ],
)
def test_inconsistent_records_raise_a_decode_error_naming_the_field(
    body: bytes, field: str
) -> None:
    with pytest.raises(ProtoDecodeError) as info:
        decode_forward_backward_output(body)
    assert (info.value.message_name, info.value.field) == ("ForwardBackwardOutput", field)


def test_negative_num_datums_is_rejected() -> None:
    msg = pb.ForwardBackwardOutput()
    msg.loss_fn_outputs.add(num_datums=-1)
    with pytest.raises(ProtoDecodeError, match=r"num_datums"):
        decode_forward_backward_output(msg.SerializeToString())


def test_outputs_with_different_trailing_shapes_go_to_separate_records() -> None:
    output = ForwardBackwardOutput(
        loss_fn_output_type="ArrayRecord",
        loss_fn_outputs=[
            {"x": TensorData.from_numpy(np.zeros((2, 3), np.float32))},
            {"x": TensorData.from_numpy(np.zeros((1, 4), np.float32))},
        ],
    )
    msg = forward_backward_output_to_proto(output)
    assert [r.num_datums for r in msg.loss_fn_outputs] == [1, 1]
    assert decode_forward_backward_output(msg.SerializeToString()) == output
