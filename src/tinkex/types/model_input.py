"""The model's input: a sequence of token, image and audio (DMel) chunks."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypeAlias

import pydantic

from ._base import RequestModel

__all__ = [
    "DmelChunk",
    "EncodedTextChunk",
    "ImageAssetPointerChunk",
    "ImageChunk",
    "ModelInput",
    "ModelInputChunk",
]

ImageFormat: TypeAlias = Literal["png", "jpeg"]


class EncodedTextChunk(RequestModel):
    """Token ids produced by the caller's tokenizer."""

    tokens: list[int]
    """Token ids (any sequence is accepted; stored as a list, which serialises 10x faster)."""
    type: Literal["encoded_text"] = "encoded_text"

    @property
    def length(self) -> int:
        """Context positions used: one per token."""
        return len(self.tokens)


class ImageAssetPointerChunk(RequestModel):
    """An image the server fetches from ``location`` (path or URL)."""

    format: ImageFormat
    location: str
    expected_tokens: int | None = None
    """Advisory token count; needed for ``length`` and lets the server fail fast on mismatch."""
    type: Literal["image_asset_pointer"] = "image_asset_pointer"

    @property
    def length(self) -> int:
        """Context positions used; known only when ``expected_tokens`` is set."""
        return _expected_length(self.expected_tokens, "ImageAssetPointerChunk")


class ImageChunk(RequestModel):
    """An inline image; ``data`` travels as base64 in JSON."""

    data: bytes
    format: ImageFormat
    expected_tokens: int | None = None
    """Advisory token count; needed for ``length`` and lets the server fail fast on mismatch."""
    type: Literal["image"] = "image"

    @pydantic.field_validator("data", mode="before")
    @classmethod
    def _decode_data(cls, value: object) -> object:
        return _b64decode(value)

    @pydantic.field_serializer("data")
    def _encode_data(self, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")

    @property
    def length(self) -> int:
        """Context positions used; known only when ``expected_tokens`` is set."""
        return _expected_length(self.expected_tokens, "ImageChunk")


class DmelChunk(RequestModel):
    """Audio as a serialised TensorContainer of DMel tokens (base64 in JSON)."""

    dmel: bytes
    type: Literal["dmel"] = "dmel"

    @pydantic.field_validator("dmel", mode="before")
    @classmethod
    def _decode_dmel(cls, value: object) -> object:
        return _b64decode(value)

    @pydantic.field_serializer("dmel")
    def _encode_dmel(self, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")

    @property
    def length(self) -> int:
        """Context positions used: the first dimension of the stored tensor."""
        return tensor_container_shape(self.dmel)[0]


def _chunk_kind(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type", "encoded_text")
        return kind if isinstance(kind, str) else "encoded_text"
    return str(getattr(value, "type", "encoded_text"))


ModelInputChunk: TypeAlias = Annotated[
    Annotated[EncodedTextChunk, pydantic.Tag("encoded_text")]
    | Annotated[ImageAssetPointerChunk, pydantic.Tag("image_asset_pointer")]
    | Annotated[ImageChunk, pydantic.Tag("image")]
    | Annotated[DmelChunk, pydantic.Tag("dmel")],
    pydantic.Discriminator(_chunk_kind),
]
"""One chunk of model input, told apart by its ``type`` (``encoded_text`` when absent)."""


class ModelInput(RequestModel):
    """Chunks fed to the model in order."""

    chunks: list[ModelInputChunk]

    @classmethod
    def from_ints(cls, tokens: Sequence[int]) -> ModelInput:
        """One text chunk holding ``tokens``."""
        return cls(chunks=[EncodedTextChunk(tokens=tokens)])

    @classmethod
    def empty(cls) -> ModelInput:
        """No chunks (length 0)."""
        return cls(chunks=[])

    def to_ints(self) -> list[int]:
        """All tokens in order; raises ValueError if any chunk is not text."""
        if not all(isinstance(chunk, EncodedTextChunk) for chunk in self.chunks):
            kinds = [chunk.type for chunk in self.chunks]
            raise ValueError(f"to_ints needs only encoded_text chunks, got chunk types {kinds}")
        return [token for chunk in self.chunks for token in chunk.tokens]  # type: ignore[union-attr]

    @property
    def length(self) -> int:
        """Total context positions used by all chunks."""
        return sum(chunk.length for chunk in self.chunks)

    def append(self, chunk: ModelInputChunk) -> ModelInput:
        """A new ModelInput with ``chunk`` added at the end."""
        return ModelInput(chunks=[*self.chunks, chunk])

    def append_int(self, token: int) -> ModelInput:
        """A new ModelInput with a one-token text chunk added at the end."""
        return self.append(EncodedTextChunk(tokens=[token]))


def _b64decode(value: object) -> object:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"expected base64-encoded bytes ({exc})") from None
    return value


def _expected_length(expected_tokens: int | None, kind: str) -> int:
    if expected_tokens is None:
        raise ValueError(f"{kind}.expected_tokens must be set to compute the chunk length")
    return expected_tokens


_CONSTANT_TENSOR_MARKER = 254
_MAX_DTYPE_BYTE = 7


def tensor_container_shape(data: bytes) -> tuple[int, ...]:
    """The tensor shape from a TensorContainer header, without reading the payload."""
    offset = 1 if data and data[0] == _CONSTANT_TENSOR_MARKER else 0
    if offset >= len(data):
        raise ValueError("DmelChunk.dmel: truncated TensorContainer header")
    if data[offset] > _MAX_DTYPE_BYTE:
        raise ValueError(f"DmelChunk.dmel: unknown TensorContainer dtype byte {data[offset]}")
    ndim, offset = _read_varint(data, offset + 1)
    shape = []
    for _ in range(ndim):
        dim, offset = _read_varint(data, offset)
        shape.append(dim)
    if not shape:
        raise ValueError("DmelChunk.dmel: TensorContainer tensor has no dimension 0")
    return tuple(shape)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 64, 7):
        if offset >= len(data):
            raise ValueError("DmelChunk.dmel: truncated TensorContainer header")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
    raise ValueError("DmelChunk.dmel: TensorContainer varint is too long")
