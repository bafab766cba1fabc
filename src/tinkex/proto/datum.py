"""``Datum`` and its model input on the wire (the body of a forward/backward request)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import pydantic

from tinkex.proto import tinker_public_pb2 as pb
from tinkex.proto.errors import ProtoDecodeError
from tinkex.proto.tensors import read_array, tensor_data_from_proto, write_tensor_data
from tinkex.types.datum import Datum
from tinkex.types.model_input import (
    DmelChunk,
    EncodedTextChunk,
    ImageChunk,
    ModelInput,
    ModelInputChunk,
)
from tinkex.types.provenance import PromptProvenanceSpan, ProvenanceSpans, SampledProvenanceSpan

__all__ = ["datum_from_proto", "write_datum"]

_TOKEN_DTYPE = np.dtype("<i4")


def write_datum(datum: Datum, out: pb.Datum) -> None:
    """Fill ``out`` with ``datum``: int32 token bytes, raw image/audio bytes, tensors, spans.

    Raises ``ValueError`` for what the wire cannot carry: an image asset pointer (the official
    client refuses it too) or a token id outside int32.
    """
    for chunk in datum.model_input.chunks:
        _write_chunk(chunk, out.model_input.add())
    for name, tensor in datum.loss_fn_inputs.items():
        write_tensor_data(tensor, out.loss_fn_inputs[name])
    for spans, target in (
        (datum.model_input_spans, out.model_input_spans),
        (datum.loss_fn_input_spans, out.loss_fn_input_spans),
    ):
        for span in spans or ():
            _write_span(span, target.add())


def _token_bytes(tokens: Sequence[int]) -> bytes:
    """Little-endian int32 ids. `struct` packs a list of ints about 3x faster than numpy
    converts it (13 vs 36 us for 2,048 ids): 6 ms of a 256 x 2,048 forward_backward."""
    try:
        return struct.pack(f"<{len(tokens)}i", *tokens)
    except struct.error as exc:
        raise ValueError(
            f"EncodedTextChunk.tokens must be int32 token ids for the protobuf body ({exc})"
        ) from None


def _write_chunk(chunk: ModelInputChunk, out: pb.Chunk) -> None:
    if isinstance(chunk, EncodedTextChunk):
        out.encoded_text.tokens = _token_bytes(chunk.tokens)
    elif isinstance(chunk, ImageChunk):
        out.image.data = chunk.data
        out.image.format = chunk.format
        if chunk.expected_tokens is not None:
            out.image.expected_tokens = chunk.expected_tokens
    elif isinstance(chunk, DmelChunk):
        out.dmel.dmel = chunk.dmel
    else:
        raise ValueError(
            f"Datum.model_input cannot carry a {type(chunk).__name__} in a forward/backward "
            "request; use an ImageChunk with the image bytes instead"
        )


def _write_span(span: PromptProvenanceSpan | SampledProvenanceSpan, out: pb.ProvenanceSpan) -> None:
    arm = out.sampled_tokens if isinstance(span, SampledProvenanceSpan) else out.prompt_tokens
    arm.sequence_id = span.sequence_id
    arm.offset = span.offset
    arm.length = span.length


def datum_from_proto(msg: pb.Datum, *, message: str, field: str) -> Datum:
    """Decode one ``Datum``; ``field`` is its path (``data[3]``) for error messages."""
    chunks = [
        _chunk_from_proto(chunk, message=message, field=f"{field}.model_input[{i}]")
        for i, chunk in enumerate(msg.model_input)
    ]
    inputs = {
        name: tensor_data_from_proto(
            tensor, message=message, field=f"{field}.loss_fn_inputs[{name!r}]"
        )
        for name, tensor in msg.loss_fn_inputs.items()
    }
    # proto3 cannot tell "no spans" from "empty spans": both sides travel or neither does.
    spans = None
    if msg.model_input_spans or msg.loss_fn_input_spans:
        spans = {
            name: _spans_from_proto(getattr(msg, name), message=message, field=f"{field}.{name}")
            for name in ("model_input_spans", "loss_fn_input_spans")
        }
    return Datum(
        model_input=ModelInput(chunks=chunks),
        loss_fn_inputs=inputs,
        model_input_spans=None if spans is None else spans["model_input_spans"],
        loss_fn_input_spans=None if spans is None else spans["loss_fn_input_spans"],
    )


def _chunk_from_proto(msg: pb.Chunk, *, message: str, field: str) -> ModelInputChunk:
    kind = msg.WhichOneof("chunk")
    try:
        if kind == "encoded_text":
            tokens = read_array(
                msg.encoded_text.tokens, _TOKEN_DTYPE, message=message, field=f"{field}.tokens"
            )
            # int32 values need no per-token validation; it would dominate the decode time.
            return EncodedTextChunk.model_construct(tokens=tokens.tolist())
        if kind == "image":
            image = msg.image
            return ImageChunk(
                data=image.data,
                format=image.format,  # pydantic checks the literal
                expected_tokens=(
                    image.expected_tokens if image.HasField("expected_tokens") else None
                ),
            )
        if kind == "dmel":
            return DmelChunk(dmel=msg.dmel.dmel)
    except pydantic.ValidationError as exc:
        raise ProtoDecodeError.from_validation(message, f"{field}.{kind}", exc) from exc
    raise ProtoDecodeError(message, field, "chunk has none of encoded_text, image, dmel set")


def _spans_from_proto(
    spans: Sequence[pb.ProvenanceSpan], *, message: str, field: str
) -> ProvenanceSpans:
    decoded: ProvenanceSpans = []
    for i, span in enumerate(spans):
        sampled = span.WhichOneof("span") == "sampled_tokens"
        arm = span.sampled_tokens if sampled else span.prompt_tokens
        kind = SampledProvenanceSpan if sampled else PromptProvenanceSpan
        try:
            decoded.append(kind(sequence_id=arm.sequence_id, offset=arm.offset, length=arm.length))
        except pydantic.ValidationError as exc:
            raise ProtoDecodeError.from_validation(message, f"{field}[{i}]", exc) from exc
    return decoded
