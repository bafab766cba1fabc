"""Codecs for Content-Encoding: gzip (stdlib) and zstd (zstandard)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping

import zstandard

from pristine.errors import APIResponseValidationError
from pristine.ports.codec import Codec, Decompressor

__all__ = ["ACCEPT_ENCODING", "GzipCodec", "ZstdCodec", "codec_for", "decode_body", "decoder_for"]


class GzipCodec:
    name = "gzip"

    def compress(self, data: bytes) -> bytes:
        return gzip.compress(data, mtime=0)

    def decompressor(self) -> Decompressor:
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)


class ZstdCodec:
    name = "zstd"

    def compress(self, data: bytes) -> bytes:
        return zstandard.ZstdCompressor().compress(data)

    def decompressor(self) -> Decompressor:
        return zstandard.ZstdDecompressor().decompressobj()


_CODECS: Mapping[str, Codec] = {"gzip": GzipCodec(), "zstd": ZstdCodec()}
ACCEPT_ENCODING = ", ".join(_CODECS)


def codec_for(name: str) -> Codec:
    """The codec for a Content-Encoding token; the error lists the supported ones."""
    try:
        return _CODECS[name.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unsupported content encoding {name!r}; supported: {ACCEPT_ENCODING}"
        ) from None


class _Identity:
    def decompress(self, data: bytes) -> bytes:
        return data


def decoder_for(headers: Mapping[str, str]) -> Decompressor:
    """Incremental decoder for a response's `content-encoding` (identity when absent)."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in {"", "identity"}:
        return _Identity()
    try:
        return codec_for(encoding).decompressor()
    except ValueError as error:
        raise APIResponseValidationError(f"server sent a body we cannot decode: {error}") from None


def decode_body(headers: Mapping[str, str], content: bytes) -> bytes:
    """The whole body decoded; a corrupt body is the server's fault."""
    decoder = decoder_for(headers)
    try:
        return decoder.decompress(content)
    except (zlib.error, zstandard.ZstdError) as error:
        encoding = headers.get("content-encoding")
        raise APIResponseValidationError(f"corrupt {encoding} response body: {error}") from error
