"""Forward/backward requests as protobuf bodies, the only request the client sends as proto.

The client posts ``/api/v1/forward_backward`` with ``Content-Type: application/x-protobuf``,
zstd-compressed (``Content-Encoding: zstd``) when the server's client config asks for it.
The embedded server decodes the same bytes with ``decode_forward_backward_request``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pydantic

from tinkex.proto import tinker_public_pb2 as pb
from tinkex.proto.compression import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    ZSTD_CONTENT_ENCODING,
    compress_zstd,
    decode_content,
)
from tinkex.proto.datum import datum_from_proto, write_datum
from tinkex.proto.errors import ProtoDecodeError, parse_message
from tinkex.types.training import ForwardBackwardInput, ForwardBackwardRequest

__all__ = [
    "PROTOBUF_CONTENT_TYPE",
    "DecodedForwardBackward",
    "EncodedBody",
    "decode_forward_backward_request",
    "encode_forward_backward_request",
    "forward_backward_request_from_proto",
    "forward_backward_request_to_proto",
]

PROTOBUF_CONTENT_TYPE = "application/x-protobuf"

_MESSAGE = "ForwardBackwardRequest"


@dataclass(frozen=True, slots=True)
class EncodedBody:
    """An HTTP body and the headers that describe it."""

    content: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class DecodedForwardBackward:
    """A decoded request plus the flag that says whether to skip the backward pass."""

    request: ForwardBackwardRequest
    forward_only: bool


def forward_backward_request_to_proto(
    request: ForwardBackwardRequest, *, forward_only: bool = False
) -> pb.ForwardBackwardRequest:
    """The wire message for ``request``, byte-identical to the official client's.

    Float loss-config values are written to both config maps (servers that predate
    ``loss_fn_config_v2`` read the legacy one); string values only to v2. A missing
    ``seq_id`` is sent as 0, which the server rejects, so callers always set it.
    """
    fb_input = request.forward_backward_input
    msg = pb.ForwardBackwardRequest(
        model_id=request.model_id,
        seq_id=request.seq_id if request.seq_id is not None else 0,
        loss_fn=fb_input.loss_fn,
        forward_only=forward_only,
    )
    for key, value in (fb_input.loss_fn_config or {}).items():
        if isinstance(value, str):
            msg.loss_fn_config_v2[key].text = value
        else:
            msg.loss_fn_config[key] = float(value)
            msg.loss_fn_config_v2[key].number = float(value)
    for datum in fb_input.data:
        write_datum(datum, msg.data.add())
    return msg


def encode_forward_backward_request(
    request: ForwardBackwardRequest, *, forward_only: bool = False, compress: bool = False
) -> EncodedBody:
    """The HTTP body and headers for ``request``; ``compress`` zstd-compresses the body."""
    content = forward_backward_request_to_proto(request, forward_only=forward_only)
    body = content.SerializeToString()
    headers = {"Content-Type": PROTOBUF_CONTENT_TYPE}
    if compress:
        body = compress_zstd(body)
        headers["Content-Encoding"] = ZSTD_CONTENT_ENCODING
    return EncodedBody(content=body, headers=headers)


def forward_backward_request_from_proto(msg: pb.ForwardBackwardRequest) -> DecodedForwardBackward:
    """Decode the wire message; raises ``ProtoDecodeError`` naming the bad field."""
    data = [
        datum_from_proto(datum, message=_MESSAGE, field=f"data[{i}]")
        for i, datum in enumerate(msg.data)
    ]
    config = _loss_fn_config_from_proto(msg)
    try:
        # pydantic checks loss_fn against the LossFnType literal.
        fb_input = ForwardBackwardInput(data=data, loss_fn=msg.loss_fn, loss_fn_config=config)
    except pydantic.ValidationError as exc:
        raise ProtoDecodeError.from_validation(_MESSAGE, None, exc) from exc
    request = ForwardBackwardRequest(
        forward_backward_input=fb_input, model_id=msg.model_id, seq_id=msg.seq_id
    )
    return DecodedForwardBackward(request=request, forward_only=msg.forward_only)


def _loss_fn_config_from_proto(msg: pb.ForwardBackwardRequest) -> dict[str, float | str] | None:
    """The v2 map when set (it supersedes the legacy float map), else the legacy map."""
    if msg.loss_fn_config_v2:
        config: dict[str, float | str] = {}
        for key, value in msg.loss_fn_config_v2.items():
            arm = value.WhichOneof("value")
            if arm is None:
                raise ProtoDecodeError(
                    _MESSAGE, f"loss_fn_config_v2[{key!r}]", "value has neither number nor text"
                )
            config[key] = value.text if arm == "text" else value.number
        return config
    if msg.loss_fn_config:
        return dict(msg.loss_fn_config)
    return None


def decode_forward_backward_request(
    body: bytes,
    *,
    content_encoding: str | None = None,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> DecodedForwardBackward:
    """Decode an HTTP body into the request and its ``forward_only`` flag.

    A zstd body may expand to at most ``max_decompressed_bytes`` (a server sets its own
    request-size limit here).
    """
    raw = decode_content(
        body, content_encoding, message=_MESSAGE, max_output_bytes=max_decompressed_bytes
    )
    return forward_backward_request_from_proto(parse_message(pb.ForwardBackwardRequest, raw))
