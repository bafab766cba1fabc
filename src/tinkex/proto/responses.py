"""Which responses may arrive as protobuf, and how to decode one by its SDK type.

A client asks for protobuf (``Accept: application/x-protobuf``) only when polling a future
whose result type is listed here; the server then answers with that Content-Type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from tinkex.proto.fwdbwd_output import decode_forward_backward_output
from tinkex.proto.sample_response import decode_sample_response
from tinkex.types.sampling import SampleResponse
from tinkex.types.training import ForwardBackwardOutput

__all__ = ["PROTO_RESPONSE_DECODERS", "decode_proto_response"]

_T = TypeVar("_T")

PROTO_RESPONSE_DECODERS: Mapping[type[Any], Callable[..., Any]] = {
    SampleResponse: decode_sample_response,
    ForwardBackwardOutput: decode_forward_backward_output,
}
"""Response types the server may send as protobuf, each with its body decoder."""


def decode_proto_response(
    body: bytes, response_type: type[_T], *, content_encoding: str | None = None
) -> _T:
    """Decode a protobuf body as ``response_type``; raises ``ValueError`` for other types."""
    decoder = PROTO_RESPONSE_DECODERS.get(response_type)
    if decoder is None:
        supported = sorted(t.__name__ for t in PROTO_RESPONSE_DECODERS)
        raise ValueError(
            f"{response_type.__name__} has no protobuf form; expected one of {supported} "
            "(ask for JSON instead)"
        )
    return cast(_T, decoder(body, content_encoding=content_encoding))
