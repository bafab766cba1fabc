"""Ports: the small interfaces each pipeline stage talks to; adapters implement them."""

from pristine.ports.auth import Auth
from pristine.ports.clock import Clock, SystemClock
from pristine.ports.codec import Codec, Decompressor
from pristine.ports.registry import Encoding, TypeRegistry
from pristine.ports.serializer import EncodedBody, Serializer
from pristine.ports.transport import (
    RawRequest,
    RawResponse,
    StreamedResponse,
    Transport,
    TransportFactory,
)

__all__ = [
    "Auth",
    "Clock",
    "Codec",
    "Decompressor",
    "EncodedBody",
    "Encoding",
    "RawRequest",
    "RawResponse",
    "Serializer",
    "StreamedResponse",
    "SystemClock",
    "Transport",
    "TransportFactory",
    "TypeRegistry",
]
