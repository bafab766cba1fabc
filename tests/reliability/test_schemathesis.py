"""Schemathesis against the OpenAPI document exported from the Tinker manifest
(`pristine.export.openapi`), run on the embedded server: no operation answers 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

import schemathesis
from hypothesis import HealthCheck, settings
from reliability_kit import API_KEY, Served, scaled
from schemathesis.generation.case import Case

from pristine.export import openapi
from tinkex.api_manifest import load_tinker_manifest
from tinkex.clients._registry import tinker_registry


@schemathesis.serializer("application/x-protobuf")
def _as_protobuf(ctx: object, value: object) -> bytes:
    """Any generated value as (mostly malformed) protobuf bytes: the server must say 400."""
    return value if isinstance(value, bytes) else json.dumps(value).encode()


_MANIFEST = load_tinker_manifest()
# Sampling bodies hold `format: binary` values inside JSON, which schemathesis cannot
# serialise; test_fuzz_server.py fuzzes those two operations instead.
schema = schemathesis.openapi.from_dict(openapi(_MANIFEST, tinker_registry(_MANIFEST))).exclude(
    path_regex="/(asample|sample_stream)$"
)


@schema.parametrize()
@settings(
    max_examples=scaled(5, 100),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx(case: Case[Any], served: Served) -> None:
    response = case.call(base_url=served.url, headers={"X-API-Key": API_KEY}, timeout=60)
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
