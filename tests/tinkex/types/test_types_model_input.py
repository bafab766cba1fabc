"""ModelInput and its chunk kinds: helpers, lengths, base64 fields, discriminated parsing."""

from __future__ import annotations

import base64

import pydantic
import pytest
import tinker.types as official

from tinkex.types import (
    DmelChunk,
    EncodedTextChunk,
    ImageAssetPointerChunk,
    ImageChunk,
    ModelInput,
)

DMEL = bytes([254, 1, 2, 0x81, 0x01, 3]) + b"rest"  # constant tensor, shape (129, 3)


def test_helpers_match_the_official_client() -> None:
    mine = ModelInput.from_ints([1, 2]).append_int(3).append(EncodedTextChunk(tokens=[4]))
    theirs = (
        official.ModelInput.from_ints([1, 2])
        .append_int(3)
        .append(official.EncodedTextChunk(tokens=[4]))
    )
    assert mine.to_wire() == theirs.model_dump(mode="json", exclude_none=True)
    assert mine.to_ints() == theirs.to_ints() == [1, 2, 3, 4]
    assert mine.length == theirs.length == 4
    assert ModelInput.empty().length == 0


def test_lengths_of_every_chunk_kind() -> None:
    image = ImageChunk(data=b"png", format="png", expected_tokens=7)
    pointer = ImageAssetPointerChunk(format="jpeg", location="s3://x", expected_tokens=5)
    dmel = DmelChunk(dmel=DMEL)
    model_input = ModelInput(chunks=[EncodedTextChunk(tokens=[1]), image, pointer, dmel])
    assert model_input.length == 1 + 7 + 5 + 129
    assert dmel.length == official.DmelChunk(dmel=DMEL).length


@pytest.mark.parametrize(
    "chunk",
    [ImageChunk(data=b"x", format="png"), ImageAssetPointerChunk(format="png", location="l")],
)
def test_image_length_needs_expected_tokens(chunk: ImageChunk | ImageAssetPointerChunk) -> None:
    with pytest.raises(ValueError, match="expected_tokens must be set"):
        _ = chunk.length


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (bytes([254]), "truncated"),
        (bytes([9, 1, 1]), "unknown TensorContainer dtype"),
        (bytes([1, 1]), "truncated"),
        (bytes([1, 0]), "no dimension 0"),
        (bytes([1, 1]) + bytes([0xFF] * 10), "too long"),
    ],
)
def test_dmel_header_errors(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _ = DmelChunk(dmel=data).length


def test_to_ints_refuses_non_text_chunks() -> None:
    model_input = ModelInput(chunks=[ImageChunk(data=b"x", format="png")])
    with pytest.raises(ValueError, match="only encoded_text chunks"):
        model_input.to_ints()


def test_bytes_travel_as_base64_and_parse_back() -> None:
    chunk = ImageChunk(data=b"\x00\xffimage", format="jpeg")
    wire = chunk.to_wire()
    assert wire["data"] == base64.b64encode(b"\x00\xffimage").decode()
    assert ImageChunk.model_validate(wire).data == b"\x00\xffimage"
    assert DmelChunk.model_validate_json(DmelChunk(dmel=DMEL).to_json_bytes()).dmel == DMEL


def test_invalid_base64_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        ImageChunk.model_validate({"data": "not base64!", "format": "png"})
    assert info.value.errors()[0]["loc"] == ("data",)


def test_chunks_are_told_apart_by_type_and_default_to_text() -> None:
    model_input = ModelInput.model_validate(
        {"chunks": [{"tokens": [1]}, {"type": "dmel", "dmel": base64.b64encode(DMEL).decode()}]}
    )
    assert isinstance(model_input.chunks[0], EncodedTextChunk)
    assert isinstance(model_input.chunks[1], DmelChunk)
    with pytest.raises(pydantic.ValidationError) as info:
        ModelInput.model_validate({"chunks": [{"type": "video"}]})
    assert info.value.errors()[0]["loc"][:2] == ("chunks", 0)
    with pytest.raises(pydantic.ValidationError):
        ModelInput.model_validate({"chunks": [{"type": 3, "tokens": "x"}]})


def test_requests_reject_unknown_fields_naming_them() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        EncodedTextChunk(tokens=[1], token=[2])  # type: ignore[call-arg]
    assert info.value.errors()[0]["loc"] == ("token",)
    assert info.value.errors()[0]["type"] == "extra_forbidden"
