"""The pipeline's type registry for the Tinker manifest: type names -> `tinkex.types` models.

Requests are encoded with `WireModel.to_json_bytes()`, which is byte-identical to the official
client's JSON; responses are validated by pydantic. `forward_backward` bodies arrive already
encoded as protobuf (the manifest's `request_encoding: protobuf`) and pass through untouched.
"""

from __future__ import annotations

from pristine.adapters.registry import PydanticRegistry
from pristine.manifest import Manifest
from pristine.ports.registry import Encoding
from tinkex import types
from tinkex.types._base import WireModel

__all__ = ["WireRegistry", "tinker_registry"]


class WireRegistry(PydanticRegistry):
    """Encodes request models exactly as the wire wants them (`to_json_bytes`)."""

    def encode(self, type_name: str, value: object, encoding: Encoding) -> bytes:
        model = self.model(type_name)
        instance = value if isinstance(value, model) else model.model_validate(value)
        assert isinstance(instance, WireModel), "tinker_registry admits WireModel types only"
        return instance.to_json_bytes()


def tinker_registry(manifest: Manifest) -> WireRegistry:
    """A registry holding every type the manifest names; fails naming a type tinkex lacks."""
    missing = [
        name
        for name in manifest.types
        if not isinstance(model := getattr(types, name, None), type)
        or not issubclass(model, WireModel)
    ]
    if missing:
        raise LookupError(
            f"manifest types {missing} have no WireModel in tinkex.types; add them there or "
            "remove them from src/tinkex/manifest.yaml"
        )
    return WireRegistry({name: getattr(types, name) for name in manifest.types})
