"""Request body serialisers, one per manifest `request_encoding`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import IO, Any

import orjson
from pydantic import BaseModel

from pristine.ports.registry import TypeRegistry
from pristine.ports.serializer import EncodedBody, Serializer

__all__ = [
    "JsonSerializer",
    "MultipartSerializer",
    "ProtobufSerializer",
    "RawSerializer",
    "serializer_for",
]


def _to_jsonable(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


class JsonSerializer:
    """orjson for dicts, lists and pydantic models; the registry validates named types."""

    def __init__(self, registry: TypeRegistry | None = None) -> None:
        self._registry = registry

    def encode(self, payload: object, type_name: str | None) -> EncodedBody:
        if self._registry is not None and type_name and self._registry.knows(type_name):
            content = self._registry.encode(type_name, payload, "json")
        else:
            content = orjson.dumps(payload, default=_to_jsonable)
        return EncodedBody(_trimmed(content), "application/json")


_ORJSON_BUFFER_BYTES = 4096


def _trimmed(body: bytes) -> bytes:
    """A small body copied out of orjson's 4 KiB output buffer, which it hands over unshrunk.

    A call in flight keeps its body for retries: 1,000 small ones would otherwise hold 4 MiB.
    """
    return bytes(memoryview(body)) if len(body) < _ORJSON_BUFFER_BYTES // 2 else body


class ProtobufSerializer:
    """Protobuf bytes through the registry (only it knows the message classes)."""

    def __init__(self, registry: TypeRegistry | None) -> None:
        self._registry = registry

    def encode(self, payload: object, type_name: str | None) -> EncodedBody:
        if isinstance(payload, bytes):
            return EncodedBody(payload, "application/x-protobuf")
        if self._registry is None or type_name is None:
            raise ValueError(
                "protobuf request needs bytes, or a `request` type in the manifest and a "
                "type registry in the Context that can encode it"
            )
        return EncodedBody(
            self._registry.encode(type_name, payload, "protobuf"), "application/x-protobuf"
        )


class RawSerializer:
    """Bytes (or text) sent as they are; the caller's Content-Type header applies."""

    def encode(self, payload: object, type_name: str | None) -> EncodedBody:
        if isinstance(payload, str):
            return EncodedBody(payload.encode(), "text/plain; charset=utf-8")
        if isinstance(payload, bytes | bytearray | memoryview):
            return EncodedBody(bytes(payload), "application/octet-stream")
        raise TypeError(f"raw request body must be bytes or str, got {type(payload).__name__}")


class MultipartSerializer:
    """multipart/form-data from a mapping: bytes, files and `(filename, data[, type])` tuples
    become file parts, everything else a text field."""

    def __init__(self, boundary: str | None = None) -> None:
        self._boundary = boundary

    def encode(self, payload: object, type_name: str | None) -> EncodedBody:
        if not isinstance(payload, Mapping):
            raise TypeError(
                f"multipart payload must be a mapping of field name to value or file, "
                f"got {type(payload).__name__}"
            )
        boundary = self._boundary or uuid.uuid4().hex
        body = b"".join(_part(boundary, str(name), value) for name, value in payload.items())
        body += f"--{boundary}--\r\n".encode()
        return EncodedBody(body, f"multipart/form-data; boundary={boundary}")


def _part(boundary: str, name: str, value: Any) -> bytes:
    disposition = f'form-data; name="{_quote(name)}"'
    content_type = None
    if isinstance(value, tuple):
        filename, data, *rest = value
        disposition += f'; filename="{_quote(filename)}"'
        content_type = rest[0] if rest else "application/octet-stream"
        data = _read(data)
    elif isinstance(value, bytes) or hasattr(value, "read"):
        disposition += f'; filename="{_quote(name)}"'
        content_type = "application/octet-stream"
        data = _read(value)
    else:
        data = (value if isinstance(value, str) else orjson.dumps(value).decode()).encode()
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + data + b"\r\n"


def _read(data: bytes | IO[bytes]) -> bytes:
    return data if isinstance(data, bytes) else data.read()


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")


def serializer_for(encoding: str, registry: TypeRegistry | None) -> Serializer:
    """The serialiser for a manifest `request_encoding`."""
    if encoding == "json":
        return JsonSerializer(registry)
    if encoding == "protobuf":
        return ProtobufSerializer(registry)
    if encoding == "multipart":
        return MultipartSerializer()
    return RawSerializer()
