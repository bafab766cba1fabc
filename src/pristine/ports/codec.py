"""The codec port: Content-Encoding compression of bodies."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Codec", "Decompressor"]


class Decompressor(Protocol):
    """Incremental decoder, so streamed bodies decode chunk by chunk."""

    def decompress(self, data: bytes) -> bytes: ...


class Codec(Protocol):
    """One Content-Encoding, e.g. `gzip` or `zstd`."""

    name: str

    def compress(self, data: bytes) -> bytes: ...

    def decompressor(self) -> Decompressor: ...
