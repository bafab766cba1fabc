"""Whatever bytes arrive, decoders either return a value or raise ProtoDecodeError."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tinkex_proto_cases import RequestSpec, request_specs

from tinkex.proto import (
    ProtoDecodeError,
    compress_zstd,
    decode_forward_backward_output,
    decode_forward_backward_request,
    decode_sample_response,
    encode_forward_backward_request,
)

Decoder = Callable[..., object]

DECODERS: list[Decoder] = [
    decode_forward_backward_request,
    decode_forward_backward_output,
    decode_sample_response,
]


def _decode_or_typed_error(decoder: Decoder, body: bytes, encoding: str | None = None) -> None:
    """Any exception other than ProtoDecodeError escapes and fails the test."""
    with contextlib.suppress(ProtoDecodeError):
        decoder(body, content_encoding=encoding)


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=200))
def test_random_bytes_never_raise_an_unrelated_exception(decoder: Decoder, body: bytes) -> None:
    _decode_or_typed_error(decoder, body)


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=200))
def test_random_zstd_bodies_never_raise_an_unrelated_exception(
    decoder: Decoder, body: bytes
) -> None:
    _decode_or_typed_error(decoder, body, "zstd")


@pytest.mark.parametrize("decoder", DECODERS)
@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=200))
def test_valid_zstd_around_random_bytes_never_raises_an_unrelated_exception(
    decoder: Decoder, body: bytes
) -> None:
    _decode_or_typed_error(decoder, compress_zstd(body), "zstd")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=request_specs, data=st.data())
def test_corrupted_requests_never_raise_an_unrelated_exception(
    spec: RequestSpec, data: st.DataObject
) -> None:
    body = bytearray(encode_forward_backward_request(spec.to_tinkex()).content)
    if body:
        for _ in range(data.draw(st.integers(1, 4))):
            position = data.draw(st.integers(0, len(body) - 1))
            body[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    _decode_or_typed_error(decode_forward_backward_request, bytes(body[:cut]))


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(ProtoDecodeError, ValueError)


def test_truncated_message_names_the_message() -> None:
    with pytest.raises(ProtoDecodeError) as info:
        decode_sample_response(b"\x0a\x05ab")
    assert info.value.message_name == "SampleResponse"
    assert info.value.field is None
    assert "malformed protobuf" in str(info.value)


def test_unknown_content_encoding_is_rejected() -> None:
    with pytest.raises(ProtoDecodeError, match="unsupported Content-Encoding 'br'"):
        decode_sample_response(b"", content_encoding="br")
