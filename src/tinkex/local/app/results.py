"""How finished work is stored in the future registry and rendered for `retrieve_future`.

Forward/backward and sample results are stored as protobuf, the form the 0.38 client insists
on; the Content-Type carries the message name (`application/x-protobuf;
messagetype=SampleResponse`) so a JSON-only (0.25-era) client can still get them as JSON:
the route decodes and re-renders when the poll's Accept header does not ask for protobuf.
"""

from __future__ import annotations

from starlette.responses import Response

from tinkex.local.app.http import json_response
from tinkex.local.futures import PROTOBUF_CONTENT_TYPE, Result
from tinkex.proto import (
    decode_forward_backward_output,
    decode_sample_response,
    encode_forward_backward_output,
    encode_sample_response,
)
from tinkex.types import ForwardBackwardOutput, SampleResponse

__all__ = ["proto_result", "render_result", "wants_protobuf"]

_DECODERS = {
    "ForwardBackwardOutput": decode_forward_backward_output,
    "SampleResponse": decode_sample_response,
}


def proto_result(value: ForwardBackwardOutput | SampleResponse) -> Result:
    """`value` encoded as protobuf, labelled with its message name."""
    if isinstance(value, SampleResponse):
        data = encode_sample_response(value)
    else:
        data = encode_forward_backward_output(value)
    name = type(value).__name__
    return Result(data, f"{PROTOBUF_CONTENT_TYPE}; messagetype={name}")


def wants_protobuf(accept: str | None) -> bool:
    return accept is not None and PROTOBUF_CONTENT_TYPE in accept.lower()


def render_result(result: Result, *, protobuf_ok: bool) -> Response:
    """The HTTP answer for a finished result, as protobuf only when the poller accepts it."""
    if not isinstance(result.body, bytes):
        return json_response(result.body)
    if protobuf_ok or not result.content_type.startswith(PROTOBUF_CONTENT_TYPE):
        return Response(result.body, 200, media_type=result.content_type)
    _, _, message = result.content_type.partition("messagetype=")
    decoder = _DECODERS.get(message.strip())
    if decoder is None:
        return Response(result.body, 200, media_type=result.content_type)
    return json_response(decoder(result.body))
