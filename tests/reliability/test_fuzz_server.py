"""Fuzzing the server: every request type with valid-shaped wrong values, wrong types and huge
sizes, malformed JSON and protobuf: never a 5xx, the server stays up, memory stays bounded.

Bodies are drawn per endpoint from its request type's field names (from the Tinker manifest),
so the server's validation is reached, not only its JSON parser. Real ids of a live session,
model and sampler are among the values, so some requests get past the existence checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_kit import API_KEY, Served, scaled

from pristine.manifest import Endpoint
from tinkex import types
from tinkex.api_manifest import load_tinker_manifest
from tinkex.local.config import DEFAULT_MODELS

EXAMPLES = scaled(150, 3000)
RSS_GROWTH_LIMIT_MB = 512
ENDPOINTS = [e for e in load_tinker_manifest().endpoints if e.id != "healthz"]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Live:
    """A client on the fuzzed server and ids of real objects on it."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=60)
        session = self.http.post(
            "/api/v1/create_session",
            json={"tags": [], "user_metadata": {}, "sdk_version": "0.38.0"},
        ).json()["session_id"]
        created = self.http.post(
            "/api/v1/create_model",
            json={"session_id": session, "model_seq_id": 0, "base_model": DEFAULT_MODELS[0]},
        ).json()
        self.ids: list[object] = [session, created["model_id"], created["request_id"]]


@pytest.fixture(scope="module")
def live(served: Served) -> Iterator[Live]:
    client = Live(served.url)
    yield client
    client.http.close()


def scalars(ids: list[object]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
        st.sampled_from(["../../etc/passwd", "tinker://../x/weights/y", "\x00", "%2e%2e", ""]),
        st.sampled_from(ids),
        st.just("x" * 100_000),
        st.just(list(range(20_000))),
        st.sampled_from(DEFAULT_MODELS),
    )


def json_values(ids: list[object]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars(ids),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


def body_for(endpoint: Endpoint, ids: list[object]) -> st.SearchStrategy[Any]:
    """Valid-shaped wrong values: the request type's own field names, any values."""
    model = getattr(types, endpoint.request or "", None)
    names = list(getattr(model, "model_fields", {}))
    if not names:
        return json_values(ids)
    fields = {name: json_values(ids) for name in names}
    shaped = st.fixed_dictionaries({}, optional=fields)
    return st.one_of(shaped, json_values(ids))


def path_of(endpoint: Endpoint, value: str) -> str:
    path = endpoint.path
    for name in (
        "session_id",
        "training_run_id",
        "checkpoint_kind",
        "checkpoint_name",
        "sampler_id",
    ):
        path = path.replace("{" + name + "}", value)
    return path


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.text[:300])


@FUZZ
@given(data=st.data())
def test_request_bodies_never_get_a_5xx(live: Live, data: st.DataObject) -> None:
    endpoint = data.draw(st.sampled_from(ENDPOINTS))
    segment = data.draw(st.text(min_size=1, max_size=20))
    url = path_of(endpoint, quote(segment, safe=""))
    body = data.draw(body_for(endpoint, live.ids))
    content = json.dumps(body).encode() if endpoint.method != "GET" else None
    headers = {"Content-Type": "application/json"} if content is not None else {}
    check(live.http.request(endpoint.method, url, content=content, headers=headers))


@FUZZ
@given(
    endpoint=st.sampled_from([e for e in ENDPOINTS if e.method != "GET"]),
    content=st.binary(max_size=2000)
    | st.sampled_from([b"{", b"[1,", b'{"a":', b"\xff\xfe", b"null"]),
    content_type=st.sampled_from(
        ["application/json", "application/x-protobuf", "text/plain", "application/x-protobuf; x"]
    ),
    encoding=st.sampled_from([None, "gzip", "zstd", "br"]),
)
def test_malformed_bytes_never_get_a_5xx(
    live: Live, endpoint: Endpoint, content: bytes, content_type: str, encoding: str | None
) -> None:
    headers = {"Content-Type": content_type}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    url = path_of(endpoint, "x")
    check(live.http.request(endpoint.method, url, content=content, headers=headers))


def test_server_is_up_and_memory_bounded_after_fuzzing(live: Live) -> None:
    before = rss_mb()
    for index in range(scaled(200, 2000)):
        check(live.http.post("/api/v1/get_info", json={"model_id": "x" * (index % 1000)}))
    assert live.http.get("/healthz").status_code == 200
    assert rss_mb() - before < RSS_GROWTH_LIMIT_MB
