"""zstd bodies: multi-frame, bounded, and every failure a ProtoDecodeError."""

from __future__ import annotations

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from tinkex.proto import ProtoDecodeError, compress_zstd, decode_content, decompress_zstd


@given(body=st.binary(max_size=5000))
def test_compress_then_decompress_is_the_identity(body: bytes) -> None:
    assert decompress_zstd(compress_zstd(body), message="M") == body


def test_concatenated_frames_decompress_to_the_concatenation() -> None:
    body = compress_zstd(b"abc" * 1000) + compress_zstd(b"xyz")
    assert decompress_zstd(body, message="M") == b"abc" * 1000 + b"xyz"


def test_streamed_frames_without_a_content_size_decompress() -> None:
    compressor = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    body = compressor.compress(b"q" * 100_000) + compressor.flush()
    assert decompress_zstd(body, message="M") == b"q" * 100_000


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "empty zstd body"),
        (b"not zstd at all", "malformed zstd body"),
        (compress_zstd(b"hello" * 1000)[:-3], "ends inside a frame"),
        (compress_zstd(b"hello") + b"junk!", "malformed zstd body"),
    ],
)
def test_bad_bodies_raise_a_decode_error(body: bytes, detail: str) -> None:
    with pytest.raises(ProtoDecodeError, match=detail) as info:
        decompress_zstd(body, message="SampleResponse")
    assert info.value.message_name == "SampleResponse"


def test_output_beyond_the_limit_is_refused() -> None:
    bomb = compress_zstd(b"\0" * 1_000_000)
    with pytest.raises(ProtoDecodeError, match="over 1000 bytes"):
        decompress_zstd(bomb, message="M", max_output_bytes=1000)


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_output_bytes must be positive"):
        decompress_zstd(compress_zstd(b"x"), message="M", max_output_bytes=0)


@pytest.mark.parametrize("encoding", [None, "identity", " Identity "])
def test_identity_encodings_pass_the_body_through(encoding: str | None) -> None:
    assert decode_content(b"raw", encoding, message="M") == b"raw"


def test_zstd_content_encoding_is_case_insensitive() -> None:
    assert decode_content(compress_zstd(b"raw"), "ZSTD", message="M") == b"raw"
