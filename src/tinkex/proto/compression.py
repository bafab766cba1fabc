"""zstd bodies for protobuf payloads (``Content-Encoding: zstd``).

The official client zstd-compresses forward/backward request bodies when the server's client
config sets ``proto_compress_fwdbwd``; real payloads shrink more than tenfold. Decompression is
bounded so a hostile or corrupt body cannot exhaust memory.
"""

from __future__ import annotations

import zstandard

from tinkex.proto.errors import ProtoDecodeError

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "ZSTD_CONTENT_ENCODING",
    "compress_zstd",
    "decode_content",
    "decompress_zstd",
]

ZSTD_CONTENT_ENCODING = "zstd"

# Far above any real fwd/bwd chunk (the client caps a chunk at ~5 MB before compression).
DEFAULT_MAX_DECOMPRESSED_BYTES = 1 << 30

# Input is fed in pieces this big, so a decompression bomb overshoots the output limit by at
# most one piece's worth of output (zstd expands at most ~32 000x) before it is rejected.
_INPUT_PIECE_BYTES = 1 << 12


def compress_zstd(body: bytes, *, level: int = 3) -> bytes:
    """Compress ``body`` into one zstd frame that records its decompressed size."""
    return zstandard.ZstdCompressor(level=level).compress(body)


def decompress_zstd(
    body: bytes,
    *,
    message: str,
    max_output_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> bytes:
    """Decompress the zstd frames of a body that holds an encoded ``message``.

    Raises ``ProtoDecodeError`` when the body is empty, is not zstd, ends inside a frame, or
    would decompress to more than ``max_output_bytes``.
    """
    if max_output_bytes <= 0:
        raise ValueError(f"max_output_bytes must be positive, got {max_output_bytes}")
    if not body:
        raise ProtoDecodeError(message, None, "empty zstd body")
    view = memoryview(body)
    out = bytearray()
    offset = 0
    try:
        while offset < len(view):
            frame = zstandard.ZstdDecompressor().decompressobj()
            while not frame.eof:
                if offset >= len(view):
                    raise ProtoDecodeError(message, None, "zstd body ends inside a frame")
                piece = view[offset : offset + _INPUT_PIECE_BYTES]
                offset += len(piece)
                out += frame.decompress(piece)
                if len(out) > max_output_bytes:
                    raise ProtoDecodeError(
                        message, None, f"zstd body decompresses to over {max_output_bytes} bytes"
                    )
            offset -= len(frame.unused_data)
    except zstandard.ZstdError as exc:
        raise ProtoDecodeError(message, None, f"malformed zstd body: {exc}") from exc
    return bytes(out)


def decode_content(
    body: bytes,
    content_encoding: str | None,
    *,
    message: str,
    max_output_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
) -> bytes:
    """Undo an HTTP ``Content-Encoding`` (absent, ``identity`` or ``zstd``) on a body."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding == ZSTD_CONTENT_ENCODING:
        return decompress_zstd(body, message=message, max_output_bytes=max_output_bytes)
    raise ProtoDecodeError(
        message, None, f"unsupported Content-Encoding {content_encoding!r} (expected zstd)"
    )
