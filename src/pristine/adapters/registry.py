"""`PydanticRegistry`: the type registry for SDKs whose types are pydantic models (JSON only).

SDKs that also speak protobuf subclass it and override `encode`/`decode` for that encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from pristine.errors import APIResponseValidationError
from pristine.ports.registry import Encoding

__all__ = ["PydanticRegistry"]


class PydanticRegistry:
    """Resolves manifest type names to pydantic models."""

    def __init__(self, models: Mapping[str, type[BaseModel]] | None = None) -> None:
        self._models: dict[str, type[BaseModel]] = dict(models or {})

    def register(self, model: type[BaseModel], name: str | None = None) -> None:
        """Add a model under `name` (default: its class name)."""
        self._models[name or model.__name__] = model

    def knows(self, type_name: str) -> bool:
        return type_name in self._models

    def model(self, type_name: str) -> type[BaseModel]:
        try:
            return self._models[type_name]
        except KeyError:
            raise LookupError(
                f"type {type_name!r} is not registered; call registry.register(Model, "
                f"{type_name!r}) or fix the manifest's type name"
            ) from None

    def encode(self, type_name: str, value: object, encoding: Encoding) -> bytes:
        """Validate `value` (a model or a plain mapping) as `type_name` and dump it as JSON."""
        self._require_json(encoding)
        model = self.model(type_name)
        instance = value if isinstance(value, model) else model.model_validate(value)
        return orjson.dumps(instance.model_dump(mode="json", by_alias=True, exclude_none=True))

    def decode(self, type_name: str, content: bytes | Any, encoding: Encoding) -> Any:
        """Validate a parsed JSON value (or raw JSON bytes) as `type_name`."""
        self._require_json(encoding)
        model = self.model(type_name)
        try:
            if isinstance(content, bytes):
                return model.model_validate_json(content)
            return model.model_validate(content)
        except ValidationError as error:
            raise APIResponseValidationError(
                f"response does not match type {type_name!r}: {error}", body=content
            ) from error

    def _require_json(self, encoding: Encoding) -> None:
        if encoding != "json":
            raise NotImplementedError(
                f"PydanticRegistry handles json only, not {encoding!r}; subclass it for protobuf"
            )
