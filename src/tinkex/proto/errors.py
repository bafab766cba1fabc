"""The one error the protobuf codec raises for bytes it cannot turn into values."""

from __future__ import annotations

from typing import TypeVar

import pydantic
from google.protobuf.message import DecodeError, Message

__all__ = ["ProtoDecodeError", "parse_message"]

_M = TypeVar("_M", bound=Message)


class ProtoDecodeError(ValueError):
    """Bytes from the wire are not a valid encoding of ``message``.

    ``field`` names the offending field as a dotted path inside the message (for example
    ``"sequences[2].tokens"``), or is ``None`` when the bytes are not protobuf (or zstd) at
    all. It subclasses ``ValueError`` so callers that treat any bad payload as bad input keep
    working, while callers that care can tell a corrupt response from a programming error.
    """

    def __init__(self, message: str, field: str | None, detail: str) -> None:
        self.message_name = message
        self.field = field
        self.detail = detail
        where = message if field is None else f"{message}.{field}"
        super().__init__(f"cannot decode {where}: {detail}")

    @classmethod
    def from_validation(
        cls, message: str, field: str | None, exc: pydantic.ValidationError
    ) -> ProtoDecodeError:
        """Blame the first field the SDK type rejected, as a path below ``field``."""
        error = exc.errors()[0]
        parts = [field] if field else []
        parts += [str(part) for part in error["loc"]]
        return cls(message, ".".join(parts) or None, error["msg"])


def parse_message(message_type: type[_M], data: bytes) -> _M:
    """Parse ``data`` as ``message_type``; malformed bytes raise ``ProtoDecodeError``."""
    msg = message_type()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise ProtoDecodeError(
            message_type.DESCRIPTOR.name, None, f"malformed protobuf bytes: {exc}"
        ) from exc
    return msg
