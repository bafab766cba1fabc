"""Secrets never reach error text, reprs, pickles or telemetry, whatever the server echoes."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from pristine.adapters.auth import ApiKeyHeader, BearerToken
from pristine.errors import APIError, AuthenticationError, InternalServerError
from pristine.telemetry import ListSink, NullSink
from pristine.testing import endpoint_dict, manifest_dict

pytestmark = pytest.mark.anyio

KEY = "tml-TOPSECRET0123456789"
PASSWORD = "correct-horse-battery"


def everything_visible(error: APIError, sink: ListSink) -> str:
    """All text a user or a log could ever see from this call."""
    parts = [str(error), repr(error), str(pickle.loads(pickle.dumps(error)).__dict__)]
    parts += [str(event) for event in sink.events]
    return "\n".join(parts)


async def test_an_echoed_api_key_is_masked_everywhere(
    httpserver: HTTPServer, make_pipeline: Any, sink: ListSink
) -> None:
    httpserver.expect_request("/me").respond_with_json(
        {"error": f"key {KEY} is revoked"}, status=401, headers={"X-Echo-Key": KEY}
    )
    manifest = manifest_dict(endpoint_dict("me", "/me"))
    async with make_pipeline(manifest, auth=ApiKeyHeader("X-API-Key", KEY)) as pipeline:
        with pytest.raises(AuthenticationError) as caught:
            await pipeline.call("me")
    visible = everything_visible(caught.value, sink)
    assert "TOPSECRET" not in visible
    assert "key *** is revoked" in caught.value.message
    assert caught.value.body == {"error": "key *** is revoked"}


async def test_configured_secrets_in_urls_are_masked_in_errors_and_telemetry(
    httpserver: HTTPServer, make_pipeline: Any, sink: ListSink
) -> None:
    httpserver.expect_request("/login").respond_with_data("boom", status=500)
    manifest = manifest_dict(
        endpoint_dict("login", "/login"),
        retry_policies={"default": {"max_attempts": 2, "jitter": 0}},
    )
    async with make_pipeline(manifest, secrets=(PASSWORD,)) as pipeline:
        with pytest.raises(InternalServerError) as caught:
            await pipeline.call("login", query={"password": PASSWORD})
    visible = everything_visible(caught.value, sink)
    assert PASSWORD not in visible
    assert "password=***" in caught.value.message
    assert sink.names() == ["request_start", "request_retry", "request_error"]


async def test_refreshed_bearer_tokens_are_masked_in_connection_errors(
    make_pipeline: Any, sink: ListSink
) -> None:
    def token() -> str:
        return "fresh-token-abcdef"

    manifest = manifest_dict(
        endpoint_dict("x", "/x"), retry_policies={"default": {"max_attempts": 1}}
    )
    base_url = "http://127.0.0.1:1"  # nothing listens on port 1
    async with make_pipeline(manifest, auth=BearerToken(token), base_url=base_url) as pipeline:
        with pytest.raises(APIError) as caught:
            await pipeline.call("x", query={"t": "fresh-token-abcdef"})
    # request_start goes out before the first token is fetched; everything after is masked
    sink.events.pop(0)
    assert "fresh-token-abcdef" not in everything_visible(caught.value, sink)


async def test_a_successful_call_without_telemetry_masks_nothing(
    httpserver: HTTPServer, make_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Masking runs regular expressions over URLs and attributes: worth it for what a user
    can see (errors, events), wasted CPU on every call when nobody will (null sink)."""
    calls: list[str] = []

    def counting(text: str, secrets: Any = ()) -> str:
        calls.append(text)
        return text

    for module in ("pristine.pipeline", "pristine.request_builder", "pristine.adapters.classify"):
        monkeypatch.setattr(f"{module}.redact", counting, raising=False)
    httpserver.expect_request("/me").respond_with_json({"ok": True})
    manifest = manifest_dict(endpoint_dict("me", "/me"))
    async with make_pipeline(manifest, telemetry=NullSink()) as pipeline:
        assert await pipeline.call("me") == {"ok": True}
    assert calls == []
