"""Names and `tinker://` paths, checked before they reach the file system.

Every identifier that becomes part of a directory name goes through an allow-list, so `..`,
absolute paths, separators, NUL bytes and overlong names can never escape `DATA_DIR`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tinkex.local.store.errors import UserInputError

__all__ = [
    "MAX_NAME_LENGTH",
    "CheckpointKind",
    "TinkerPath",
    "checkpoint_kind_for_segment",
    "parse_tinker_path",
    "training_run_id",
    "validate_identifier",
    "validate_name",
]

CheckpointKind = Literal["training", "sampler", "external"]

MAX_NAME_LENGTH = 128
# Identifiers (session ids, model ids such as "<session>:train:0") may also contain ':'.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:-]*")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_SCHEME = "tinker://"
_SEGMENT_TO_KIND: dict[str, CheckpointKind] = {
    "weights": "training",
    "sampler_weights": "sampler",
    "external_weights": "external",
}
_KIND_TO_SEGMENT: dict[CheckpointKind, str] = {v: k for k, v in _SEGMENT_TO_KIND.items()}


def _check(field: str, value: object, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not value:
        raise UserInputError(field, f"must be a non-empty string, got {value!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise UserInputError(
            field, f"is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}"
        )
    if pattern.fullmatch(value) is None or ".." in value:
        raise UserInputError(
            field,
            f"{value!r} is not a valid {what}: use letters, digits, '_', '-' and '.' "
            "(no path separators, no '..', not starting with '.')",
        )
    return value


def validate_name(field: str, value: object) -> str:
    """A checkpoint name: one path segment, safe to use as a directory name."""
    return _check(field, value, _NAME, "name")


def validate_identifier(field: str, value: object) -> str:
    """A session, model or sampler id: like a name, but ':' is allowed."""
    return _check(field, value, _IDENTIFIER, "identifier")


def training_run_id(session_id: str, model_seq_id: int) -> str:
    """The model id the official client expects for the `model_seq_id`-th model of a session."""
    validate_identifier("session_id", session_id)
    if model_seq_id < 0:
        raise UserInputError("model_seq_id", f"must be >= 0, got {model_seq_id}")
    return f"{session_id}:train:{model_seq_id}"


def checkpoint_kind_for_segment(segment: str, field: str = "checkpoint_id") -> CheckpointKind:
    """`weights` -> training, `sampler_weights` -> sampler, `external_weights` -> external."""
    try:
        return _SEGMENT_TO_KIND[segment]
    except KeyError:
        raise UserInputError(
            field,
            f"unknown checkpoint kind {segment!r}; use one of {sorted(_SEGMENT_TO_KIND)}",
        ) from None


@dataclass(frozen=True)
class TinkerPath:
    """A parsed `tinker://<model_id>/<weights|sampler_weights|external_weights>/<name>`."""

    model_id: str
    kind: CheckpointKind
    name: str

    @classmethod
    def build(cls, model_id: str, kind: CheckpointKind, name: str) -> TinkerPath:
        """Validate the parts and build the path."""
        if kind not in _KIND_TO_SEGMENT:
            raise UserInputError("kind", f"must be one of {sorted(_KIND_TO_SEGMENT)}, got {kind!r}")
        return cls(validate_identifier("model_id", model_id), kind, validate_name("name", name))

    @property
    def segment(self) -> str:
        """The directory segment for the kind: `weights`, `sampler_weights`, ..."""
        return _KIND_TO_SEGMENT[self.kind]

    @property
    def checkpoint_id(self) -> str:
        """The id the REST API uses: `weights/<name>` or `sampler_weights/<name>`."""
        return f"{self.segment}/{self.name}"

    def __str__(self) -> str:
        return f"{_SCHEME}{self.model_id}/{self.checkpoint_id}"


def parse_tinker_path(value: object, field: str = "path") -> TinkerPath:
    """Parse and validate a `tinker://` path; raises `UserInputError` naming `field`."""
    if not isinstance(value, str) or not value.startswith(_SCHEME):
        raise UserInputError(
            field, f"must look like 'tinker://<model_id>/weights/<name>', got {value!r}"
        )
    if len(value) > len(_SCHEME) + 3 * MAX_NAME_LENGTH:
        raise UserInputError(field, "is too long")
    parts = value[len(_SCHEME) :].split("/")
    if len(parts) != 3:
        raise UserInputError(
            field, f"must have three segments '<model_id>/<kind>/<name>', got {value!r}"
        )
    model_id, segment, name = parts
    return TinkerPath(
        validate_identifier(field, model_id),
        checkpoint_kind_for_segment(segment, field),
        validate_name(field, name),
    )
