"""Forward/backward request bodies: byte-identical to tinker 0.38 and decodable both ways."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinker.proto import tinker_public_pb2 as official_pb
from tinker.proto.request_conv import forward_backward_request_to_proto as official_to_proto
from tinkex_proto_cases import RequestSpec, request_specs

from tinkex.proto import (
    PROTOBUF_CONTENT_TYPE,
    ProtoDecodeError,
    decode_forward_backward_request,
    decompress_zstd,
    encode_forward_backward_request,
    forward_backward_request_from_proto,
    forward_backward_request_to_proto,
)
from tinkex.proto import tinker_public_pb2 as pb
from tinkex.types.datum import Datum
from tinkex.types.model_input import ImageAssetPointerChunk, ModelInput
from tinkex.types.tensor import TensorData
from tinkex.types.training import ForwardBackwardInput, ForwardBackwardRequest


def _official_bytes(spec: RequestSpec, forward_only: bool) -> bytes:
    msg = official_to_proto(spec.to_official())
    msg.forward_only = forward_only
    return msg.SerializeToString()


@settings(max_examples=60, deadline=None)
@given(spec=request_specs, forward_only=st.booleans())
def test_encoding_is_byte_identical_to_the_official_client(
    spec: RequestSpec, forward_only: bool
) -> None:
    ours = forward_backward_request_to_proto(spec.to_tinkex(), forward_only=forward_only)
    assert ours.SerializeToString() == _official_bytes(spec, forward_only)


@settings(max_examples=60, deadline=None)
@given(spec=request_specs, forward_only=st.booleans())
def test_official_bytes_decode_to_the_same_request(spec: RequestSpec, forward_only: bool) -> None:
    decoded = decode_forward_backward_request(_official_bytes(spec, forward_only))
    expected = spec.to_tinkex()
    assert decoded.forward_only is forward_only
    assert decoded.request.model_id == expected.model_id
    assert decoded.request.seq_id == expected.seq_id
    got_input, want_input = decoded.request.forward_backward_input, expected.forward_backward_input
    assert got_input.loss_fn == want_input.loss_fn
    assert got_input.loss_fn_config == (want_input.loss_fn_config or None)
    assert got_input.data == want_input.data


@settings(max_examples=30, deadline=None)
@given(spec=request_specs)
def test_official_parser_reads_our_bytes(spec: RequestSpec) -> None:
    body = encode_forward_backward_request(spec.to_tinkex()).content
    parsed = official_pb.ForwardBackwardRequest.FromString(body)
    # Map entries may re-serialize in another order, so compare parsed messages.
    assert parsed == official_pb.ForwardBackwardRequest.FromString(_official_bytes(spec, False))


@settings(max_examples=30, deadline=None)
@given(spec=request_specs)
def test_zstd_body_round_trips(spec: RequestSpec) -> None:
    encoded = encode_forward_backward_request(spec.to_tinkex(), compress=True)
    assert encoded.headers == {
        "Content-Type": PROTOBUF_CONTENT_TYPE,
        "Content-Encoding": "zstd",
    }
    raw = decompress_zstd(encoded.content, message="ForwardBackwardRequest")
    assert raw == _official_bytes(spec, forward_only=False)
    decoded = decode_forward_backward_request(encoded.content, content_encoding="zstd")
    expected = spec.to_tinkex().forward_backward_input.data
    assert decoded.request.forward_backward_input.data == expected


def test_server_bounds_the_decompressed_size() -> None:
    body = encode_forward_backward_request(_request([], {"k": "v" * 5000}), compress=True)
    with pytest.raises(ProtoDecodeError, match="over 1000 bytes"):
        decode_forward_backward_request(
            body.content, content_encoding="zstd", max_decompressed_bytes=1000
        )


def test_plain_body_has_only_a_content_type() -> None:
    request = _request([], config=None)
    assert encode_forward_backward_request(request).headers == {
        "Content-Type": "application/x-protobuf"
    }


def _request(data: list[Datum], config: dict[str, float | str] | None) -> ForwardBackwardRequest:
    return ForwardBackwardRequest(
        forward_backward_input=ForwardBackwardInput(
            data=data, loss_fn="cross_entropy", loss_fn_config=config
        ),
        model_id="m",
        seq_id=None,
    )


def test_missing_seq_id_is_sent_as_zero_and_floats_fill_both_config_maps() -> None:
    msg = forward_backward_request_to_proto(_request([], {"clip": 0.2, "mode": "fast"}))
    assert msg.seq_id == 0
    assert dict(msg.loss_fn_config) == {"clip": 0.2}
    assert msg.loss_fn_config_v2["clip"].number == 0.2
    assert msg.loss_fn_config_v2["mode"].text == "fast"


def test_legacy_float_config_is_read_when_v2_is_absent() -> None:
    msg = pb.ForwardBackwardRequest(loss_fn="ppo", loss_fn_config={"clip_low": 0.8})
    decoded = forward_backward_request_from_proto(msg)
    assert decoded.request.forward_backward_input.loss_fn_config == {"clip_low": 0.8}


def test_image_asset_pointer_cannot_be_sent_as_proto() -> None:
    pointer = ImageAssetPointerChunk(format="png", location="s3://bucket/img.png")
    datum = Datum(model_input=ModelInput(chunks=[pointer]), loss_fn_inputs={})
    with pytest.raises(ValueError, match="ImageAssetPointerChunk"):
        forward_backward_request_to_proto(_request([datum], None))


def test_token_ids_beyond_int32_are_rejected_naming_the_field() -> None:
    datum = Datum(model_input=ModelInput.from_ints([2**31]), loss_fn_inputs={})
    with pytest.raises(ValueError, match=r"EncodedTextChunk.tokens must be int32"):
        forward_backward_request_to_proto(_request([datum], None))


def test_token_ids_travel_as_int32_bytes() -> None:
    datum = Datum(
        model_input=ModelInput.from_ints([1, 2, 70000]),
        loss_fn_inputs={"weights": TensorData(np.ones(3, np.float32), dtype="float32")},
    )
    msg = forward_backward_request_to_proto(_request([datum], None))
    assert (
        msg.data[0].model_input[0].encoded_text.tokens == np.array([1, 2, 70000], "<i4").tobytes()
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: setattr(m, "loss_fn", "nope"), "loss_fn"),
        (
            lambda m: m.data.add().model_input.add().encoded_text.__setattr__("tokens", b"123"),
            "data[0].model_input[0].tokens",
        ),
        (lambda m: m.data.add().model_input.add(), "data[0].model_input[0]"),
        (
            lambda m: m.data.add().model_input.add().image.__setattr__("format", "gif"),
            "data[0].model_input[0].image.format",
        ),
        (
            lambda m: m.data.add().loss_fn_inputs["w"].__setattr__("dense", b"\0" * 4),
            "data[0].loss_fn_inputs['w'].dtype",
        ),
        (
            lambda m: m.data.add().model_input_spans.add(),
            "data[0].model_input_spans[0].sequence_id",
        ),
        (lambda m: m.loss_fn_config_v2["k"].Clear(), "loss_fn_config_v2['k']"),
    ],
)
def test_invalid_fields_raise_a_decode_error_naming_them(mutate: object, field: str) -> None:
    msg = pb.ForwardBackwardRequest(loss_fn="cross_entropy")
    mutate(msg)  # type: ignore[operator]
    with pytest.raises(ProtoDecodeError) as info:
        decode_forward_backward_request(msg.SerializeToString())
    assert info.value.message_name == "ForwardBackwardRequest"
    assert info.value.field == field
