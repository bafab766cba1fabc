"""The Tinker HTTP API as data: the pristine manifest shipped inside the tinkex package.

The clients build their pipeline from this one manifest, so endpoints, retry policies, timeouts
and pools live in `manifest.yaml` (explained in `docs/protocol.md`), not in client code.
"""

from __future__ import annotations

from importlib import resources

from pristine.manifest import Manifest, load_manifest

__all__ = ["MANIFEST_RESOURCE", "load_tinker_manifest"]

MANIFEST_RESOURCE = "manifest.yaml"


def load_tinker_manifest() -> Manifest:
    """Load and validate `tinkex/manifest.yaml`; a `ManifestError` lists every problem in it."""
    source = resources.files("tinkex") / MANIFEST_RESOURCE
    with resources.as_file(source) as path:
        return load_manifest(path)
