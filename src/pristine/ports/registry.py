"""The type registry port: how an SDK plugs its request/response types into the pipeline."""

from __future__ import annotations

from typing import Any, Literal, Protocol

__all__ = ["Encoding", "TypeRegistry"]

Encoding = Literal["json", "protobuf"]


class TypeRegistry(Protocol):
    """Maps the manifest's type names to the SDK's classes.

    `decode` receives bytes for protobuf and the parsed JSON value for json; it validates, so a
    body that does not match raises instead of leaking a half-built object.
    """

    def knows(self, type_name: str) -> bool: ...

    def encode(self, type_name: str, value: object, encoding: Encoding) -> bytes: ...

    def decode(self, type_name: str, content: bytes | Any, encoding: Encoding) -> Any: ...
