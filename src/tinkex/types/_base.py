"""Base classes fixing how every wire type validates and serialises.

Requests reject unknown fields, so a typo fails at the call site instead of being silently
dropped by the server; responses ignore unknown fields, so a newer server never breaks an
older client. Serialisation matches the official client: JSON mode, ``None`` fields omitted.

``to_json_bytes`` uses orjson. Its bytes equal the official client's (``json.dumps`` of the
same dict) except where the two spell a float differently: 1e-05 vs 0.00001, 1e-07 vs
1e-7 (both parse to the same double), and NaN/inf, which orjson writes as null where the
official client refuses to send them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
import pydantic
import pydantic_core

__all__ = [
    "NUMPY_CONTEXT_KEY",
    "RequestModel",
    "ResponseModel",
    "WireModel",
    "to_json_bytes",
    "to_wire",
]

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_UTC_Z

NUMPY_CONTEXT_KEY = "tinkex_numpy"
"""Serialisation-context flag: tensors emit ``data`` as numpy arrays, which orjson encodes fast."""


class WireModel(pydantic.BaseModel):
    """A frozen pydantic model whose field names are the wire names."""

    model_config = pydantic.ConfigDict(frozen=True, protected_namespaces=())

    wire_keeps_none: ClassVar[bool] = False
    """True for bodies the official client builds as plain dicts, where None goes out as null
    (e.g. a null ``ttl_seconds`` removes an expiry); models omit None fields otherwise."""

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict the official client would send for this value."""
        return self.model_dump(mode="json", exclude_none=not self.wire_keeps_none)

    def to_json_bytes(self) -> bytes:
        """The request body as compact UTF-8 JSON (orjson; numpy tensors encoded directly)."""
        return orjson.dumps(
            self.model_dump(
                mode="python",
                exclude_none=not self.wire_keeps_none,
                context={NUMPY_CONTEXT_KEY: True},
            ),
            default=_encode_fallback,
            option=_ORJSON_OPTIONS,
        )

    def __str__(self) -> str:
        return repr(self)


class RequestModel(WireModel):
    """A value the client sends: unknown fields are an error naming the field."""

    model_config = pydantic.ConfigDict(extra="forbid")


class ResponseModel(WireModel):
    """A value the server sends: unknown fields are ignored for forward compatibility."""

    model_config = pydantic.ConfigDict(extra="ignore")


def to_wire(model: pydantic.BaseModel) -> dict[str, Any]:
    """The JSON-ready dict for any wire model (``None`` fields omitted, as the SDK sends)."""
    if isinstance(model, WireModel):
        return model.to_wire()
    return model.model_dump(mode="json", exclude_none=True)


def to_json_bytes(model: pydantic.BaseModel) -> bytes:
    """Compact JSON bytes for any wire model; the JSON of ``to_wire(model)``."""
    if isinstance(model, WireModel):
        return model.to_json_bytes()
    return orjson.dumps(to_wire(model), option=_ORJSON_OPTIONS)


def _encode_fallback(value: Any) -> Any:
    """orjson hook for values in free-form (``Any``) fields: encode them as pydantic would."""
    return pydantic_core.to_jsonable_python(value)
