"""The Tinker protobuf wire format: forward/backward requests and results, sample results.

``tinker_public.proto`` mirrors the official descriptor; the codec modules turn its messages
into ``tinkex.types`` values and back with whole-buffer numpy operations. Every decoder raises
``ProtoDecodeError`` (a ``ValueError``) for bytes it cannot trust.
"""

from tinkex.proto.compression import (
    ZSTD_CONTENT_ENCODING,
    compress_zstd,
    decode_content,
    decompress_zstd,
)
from tinkex.proto.errors import ProtoDecodeError
from tinkex.proto.fwdbwd_output import (
    decode_forward_backward_output,
    encode_forward_backward_output,
    forward_backward_output_from_proto,
    forward_backward_output_to_proto,
)
from tinkex.proto.request import (
    PROTOBUF_CONTENT_TYPE,
    DecodedForwardBackward,
    EncodedBody,
    decode_forward_backward_request,
    encode_forward_backward_request,
    forward_backward_request_from_proto,
    forward_backward_request_to_proto,
)
from tinkex.proto.responses import PROTO_RESPONSE_DECODERS, decode_proto_response
from tinkex.proto.sample_response import (
    decode_sample_response,
    encode_sample_response,
    sample_response_from_proto,
    sample_response_to_proto,
)

__all__ = [
    "PROTOBUF_CONTENT_TYPE",
    "PROTO_RESPONSE_DECODERS",
    "ZSTD_CONTENT_ENCODING",
    "DecodedForwardBackward",
    "EncodedBody",
    "ProtoDecodeError",
    "compress_zstd",
    "decode_content",
    "decode_forward_backward_output",
    "decode_forward_backward_request",
    "decode_proto_response",
    "decode_sample_response",
    "decompress_zstd",
    "encode_forward_backward_output",
    "encode_forward_backward_request",
    "encode_sample_response",
    "forward_backward_output_from_proto",
    "forward_backward_output_to_proto",
    "forward_backward_request_from_proto",
    "forward_backward_request_to_proto",
    "sample_response_from_proto",
    "sample_response_to_proto",
]
