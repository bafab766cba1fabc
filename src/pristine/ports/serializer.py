"""The serializer port: payload in, body bytes and content type out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["EncodedBody", "Serializer"]


@dataclass(frozen=True, slots=True)
class EncodedBody:
    """A serialised request body and its Content-Type (a caller's header still wins)."""

    content: bytes
    content_type: str


class Serializer(Protocol):
    """Turns a payload into bytes for one request encoding (json, raw, multipart, protobuf)."""

    def encode(self, payload: object, type_name: str | None) -> EncodedBody: ...
