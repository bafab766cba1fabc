"""Forward/backward results as protobuf: ``ForwardBackwardOutput`` of batched ``ArrayRecord``s.

Per-datum loss outputs travel field by field: one ``BatchedTensor`` per output name holds the
values of every datum of a record back to back, cut by byte offsets. A record needs one
dtype and trailing shape per field, so datums whose outputs differ in either go to separate
records (ragged outputs arrive as several internally rectangular records).
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

import numpy.typing as npt

from tinkex.proto import tinker_public_pb2 as pb
from tinkex.proto.compression import decode_content
from tinkex.proto.errors import ProtoDecodeError, parse_message
from tinkex.proto.tensors import batched_tensor_from_arrays, split_batched_tensor
from tinkex.types.datum import LossFnOutput
from tinkex.types.tensor import TensorData
from tinkex.types.training import ForwardBackwardOutput

__all__ = [
    "decode_forward_backward_output",
    "encode_forward_backward_output",
    "forward_backward_output_from_proto",
    "forward_backward_output_to_proto",
]

_MESSAGE = "ForwardBackwardOutput"
_DEFAULT_OUTPUT_TYPE = "ArrayRecord"

_Signature = tuple[tuple[str, str, tuple[int, ...]], ...]


def _dense(tensor: TensorData) -> npt.NDArray[Any]:
    array = tensor.to_numpy()
    return array.reshape(1) if array.ndim == 0 else array


def _signature(outputs: LossFnOutput) -> _Signature:
    """What must agree for two datums to share a record: names, dtypes, trailing shapes."""
    return tuple((name, tensor.dtype, _dense(tensor).shape[1:]) for name, tensor in outputs.items())


def forward_backward_output_to_proto(output: ForwardBackwardOutput) -> pb.ForwardBackwardOutput:
    """The wire message for ``output`` (what the embedded server sends).

    Consecutive datums with the same output signature share one ``ArrayRecord``; 0-d outputs
    travel as one-element vectors.
    """
    msg = pb.ForwardBackwardOutput(loss_fn_output_type=output.loss_fn_output_type)
    for key, value in output.metrics.items():
        msg.metrics[key] = value
    for signature, run in groupby(output.loss_fn_outputs, key=_signature):
        datums = list(run)
        record = msg.loss_fn_outputs.add(
            type_tag=output.loss_fn_output_type, num_datums=len(datums)
        )
        for name, dtype, _ in signature:
            batched_tensor_from_arrays(
                [_dense(datum[name]) for datum in datums],
                dtype,  # type: ignore[arg-type]  # a TensorDtype taken from the tensor
                record.fields[name],
            )
    return msg


def encode_forward_backward_output(output: ForwardBackwardOutput) -> bytes:
    """Serialized ``forward_backward_output_to_proto(output)``."""
    return forward_backward_output_to_proto(output).SerializeToString()


def forward_backward_output_from_proto(msg: pb.ForwardBackwardOutput) -> ForwardBackwardOutput:
    """Decode the wire message into per-datum ``{name: TensorData}`` dicts.

    Each record contributes ``num_datums`` datums (or, for senders that predate the field,
    as many as its first field holds). ``loss_fn_output_type`` keeps only the class name after
    the last colon, as the JSON responses do.
    """
    metrics = {key: float(value) for key, value in msg.metrics.items()}
    if not msg.loss_fn_outputs:
        return ForwardBackwardOutput(
            loss_fn_output_type=msg.loss_fn_output_type or _DEFAULT_OUTPUT_TYPE,
            loss_fn_outputs=[],
            metrics=metrics,
        )
    outputs: list[LossFnOutput] = []
    for r, record in enumerate(msg.loss_fn_outputs):
        fields = {
            name: split_batched_tensor(
                bt, message=_MESSAGE, field=f"loss_fn_outputs[{r}].fields[{name!r}]"
            )
            for name, bt in record.fields.items()
        }
        if record.num_datums < 0:
            raise ProtoDecodeError(
                _MESSAGE, f"loss_fn_outputs[{r}].num_datums", f"negative: {record.num_datums}"
            )
        count = record.num_datums or len(next(iter(fields.values()), []))
        for name, per_datum in fields.items():
            if len(per_datum) != count:
                raise ProtoDecodeError(
                    _MESSAGE,
                    f"loss_fn_outputs[{r}].fields[{name!r}].offsets",
                    f"holds {len(per_datum)} datums but the record has {count}",
                )
        outputs.extend(
            {name: per_datum[i] for name, per_datum in fields.items()} for i in range(count)
        )
    return ForwardBackwardOutput(
        loss_fn_output_type=msg.loss_fn_output_type.rsplit(":", 1)[-1],
        loss_fn_outputs=outputs,
        metrics=metrics,
    )


def decode_forward_backward_output(
    body: bytes, *, content_encoding: str | None = None
) -> ForwardBackwardOutput:
    """Decode an HTTP body (optionally zstd) holding a ``ForwardBackwardOutput``."""
    raw = decode_content(body, content_encoding, message=_MESSAGE)
    return forward_backward_output_from_proto(parse_message(pb.ForwardBackwardOutput, raw))
