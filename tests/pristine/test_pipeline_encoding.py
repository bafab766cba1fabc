"""Request building and body encodings through the pipeline, against a loopback server."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
import zstandard
from pydantic import BaseModel
from pytest_httpserver import HTTPServer

from pristine.adapters.auth import ApiKeyHeader, BearerToken, CustomAuth
from pristine.adapters.registry import PydanticRegistry
from pristine.context import Context
from pristine.errors import APIResponseValidationError
from pristine.manifest import load_manifest
from pristine.pipeline import Pipeline
from pristine.testing import endpoint_dict, manifest_dict

pytestmark = pytest.mark.anyio

NO_RETRY = {"default": {"max_attempts": 1}}


class Pet(BaseModel):
    id: int
    name: str
    tag: str | None = None


def one(ep: dict[str, Any], **top: Any) -> dict[str, Any]:
    return manifest_dict(ep, retry_policies=NO_RETRY, **top)


@pytest.mark.parametrize(
    ("codec", "compress", "decompress"),
    [
        ("gzip", gzip.compress, gzip.decompress),
        ("zstd", zstandard.ZstdCompressor().compress, zstandard.ZstdDecompressor().decompress),
    ],
)
async def test_compresses_requests_and_decodes_responses(
    httpserver: HTTPServer, make_pipeline: Any, codec: str, compress: Any, decompress: Any
) -> None:
    httpserver.expect_request("/pets", method="POST").respond_with_data(
        compress(b'{"echo": true}'),
        headers={"Content-Encoding": codec, "Content-Type": "application/json"},
    )
    manifest = one(endpoint_dict("create", "/pets", method="POST", compress_request=codec))
    async with make_pipeline(manifest) as pipeline:
        assert await pipeline.call("create", {"name": "rex"}) == {"echo": True}
    request, _ = httpserver.log[0]
    assert request.headers["Content-Encoding"] == codec
    assert request.headers["Accept-Encoding"] == "gzip, zstd"
    assert orjson.loads(decompress(request.get_data())) == {"name": "rex"}


async def test_corrupt_or_unknown_content_encoding_is_a_validation_error(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_ordered_request("/x").respond_with_data(
        b"not gzip", headers={"Content-Encoding": "gzip"}
    )
    httpserver.expect_ordered_request("/x").respond_with_data(
        b"??", headers={"Content-Encoding": "br"}
    )
    async with make_pipeline(one(endpoint_dict("x", "/x"))) as pipeline:
        with pytest.raises(APIResponseValidationError, match="corrupt gzip"):
            await pipeline.call("x")
        with pytest.raises(APIResponseValidationError, match="unsupported content encoding 'br'"):
            await pipeline.call("x")


async def test_path_params_are_quoted_and_query_merged(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request(
        "/pets/a b/c", query_string="limit=5&tag=x&tag=y&full=true"
    ).respond_with_json({})
    ep = endpoint_dict("get", "/pets/{pet_id}", query={"limit": "10"})
    async with make_pipeline(one(ep)) as pipeline:
        query = {"limit": 5, "tag": ["x", "y"], "full": True, "skip": None}
        await pipeline.call("get", path_params={"pet_id": "a b/c"}, query=query)
    request, _ = httpserver.log[0]
    assert request.environ["RAW_URI"].startswith("/pets/a%20b%2Fc?")


async def test_missing_and_unknown_path_params_name_the_fix(make_pipeline: Any) -> None:
    ep = endpoint_dict("get", "/owners/{owner}/pets/{pet_id}")
    async with make_pipeline(one(ep)) as pipeline:
        with pytest.raises(ValueError, match=r"needs path_params \['pet_id'\]; pass path_params="):
            await pipeline.call("get", path_params={"owner": 1})
        with pytest.raises(ValueError, match=r"has no path params \['dog'\]"):
            await pipeline.call("get", path_params={"owner": 1, "pet_id": 2, "dog": 3})


async def test_headers_layer_context_manifest_call_and_auth(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request("/x").respond_with_json({})
    manifest = one(
        endpoint_dict("x", "/x", headers={"X-Ep": "ep", "X-Over": "ep"}),
        defaults={"headers": {"X-Default": "d"}},
    )
    auth = ApiKeyHeader("X-API-Key", "tml-abc123")
    context = {"auth": auth, "headers": {"X-Ctx": "c"}, "user_agent": "petshop/2"}
    async with make_pipeline(manifest, **context) as pipeline:
        await pipeline.call("x", headers={"X-Over": "call"})
    headers = httpserver.log[0][0].headers
    assert headers["X-API-Key"] == "tml-abc123"
    assert (headers["X-Default"], headers["X-Ep"], headers["X-Over"]) == ("d", "ep", "call")
    assert (headers["X-Ctx"], headers["User-Agent"]) == ("c", "petshop/2")
    assert headers["Accept"] == "application/json"


async def test_bearer_token_callable_is_asked_on_every_attempt(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_ordered_request("/x").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/x").respond_with_json({})
    tokens = iter(["t-one", "t-two"])

    async def token() -> str:
        return next(tokens)

    manifest = manifest_dict(endpoint_dict("x", "/x"), retry_policies={"default": {"jitter": 0}})
    auth = BearerToken(token)
    async with make_pipeline(manifest, auth=auth) as pipeline:
        await pipeline.call("x")
    assert [r.headers["Authorization"] for r, _ in httpserver.log] == [
        "Bearer t-one",
        "Bearer t-two",
    ]
    assert auth.secrets() == ("t-one", "t-two")
    assert "t-one" not in repr(auth)


async def test_custom_auth_accepts_sync_and_async_builders(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request("/x").respond_with_json({})

    async def async_headers() -> dict[str, str]:
        return {"X-Async": "a"}

    for auth in (CustomAuth(lambda: {"X-Sync": "s"}), CustomAuth(async_headers)):
        async with make_pipeline(one(endpoint_dict("x", "/x")), auth=auth) as pipeline:
            await pipeline.call("x")
    assert httpserver.log[0][0].headers["X-Sync"] == "s"
    assert httpserver.log[1][0].headers["X-Async"] == "a"


async def test_registry_validates_requests_and_responses(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_ordered_request("/pets").respond_with_json({"id": 1, "name": "rex"})
    httpserver.expect_ordered_request("/pets").respond_with_json({"id": "nope"})
    registry = PydanticRegistry({"Pet": Pet})
    manifest = one(
        endpoint_dict("create", "/pets", method="POST", request="Pet", response="Pet"),
        types=["Pet"],
    )
    async with make_pipeline(manifest, registry=registry) as pipeline:
        pet = await pipeline.call("create", Pet(id=1, name="rex"))
        assert pet == Pet(id=1, name="rex")
        with pytest.raises(APIResponseValidationError, match="does not match type 'Pet'"):
            await pipeline.call("create", {"id": 2, "name": "max"})
    assert orjson.loads(httpserver.log[0][0].get_data()) == {"id": 1, "name": "rex"}


async def test_json_serialises_models_without_a_registry(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request("/pets").respond_with_data("", status=204)
    async with make_pipeline(one(endpoint_dict("create", "/pets", method="POST"))) as pipeline:
        assert await pipeline.call("create", [Pet(id=1, name="a")]) is None
    assert orjson.loads(httpserver.log[0][0].get_data()) == [{"id": 1, "name": "a"}]


async def test_raw_bodies_go_out_as_they_are(httpserver: HTTPServer, make_pipeline: Any) -> None:
    httpserver.expect_request("/blob").respond_with_data(b"\x00\x01", status=200)
    ep = endpoint_dict(
        "blob", "/blob", method="PUT", request_encoding="raw", response_encoding="raw"
    )
    async with make_pipeline(one(ep)) as pipeline:
        assert await pipeline.call("blob", b"\xff\xfe") == b"\x00\x01"
        assert await pipeline.call("blob", "text") == b"\x00\x01"
        with pytest.raises(TypeError, match="raw request body must be bytes or str"):
            await pipeline.call("blob", 12)
    first, second = (request for request, _ in httpserver.log)
    assert (first.get_data(), first.headers["Content-Type"]) == (
        b"\xff\xfe",
        "application/octet-stream",
    )
    assert second.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert first.headers["Accept"] == "*/*"


async def test_multipart_uploads_files_and_fields(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request("/upload").respond_with_json({"stored": True})
    ep = endpoint_dict("upload", "/upload", method="POST", request_encoding="multipart")
    payload = {
        "caption": "a dog",
        "meta": {"size": 3},
        "photo": ("rex.png", b"PNG", "image/png"),
        "raw": b"RAW",
        "notes": ("notes.txt", b"hi"),
    }
    async with make_pipeline(one(ep)) as pipeline:
        assert await pipeline.call("upload", payload) == {"stored": True}
        with pytest.raises(TypeError, match="multipart payload must be a mapping"):
            await pipeline.call("upload", [1])
    request = httpserver.log[0][0]
    assert request.form["caption"] == "a dog"
    assert orjson.loads(request.form["meta"]) == {"size": 3}
    photo = request.files["photo"]
    assert (photo.filename, photo.mimetype, photo.read()) == ("rex.png", "image/png", b"PNG")
    assert request.files["raw"].read() == b"RAW"
    assert request.files["notes"].mimetype == "application/octet-stream"


class FakeProtoRegistry:
    """A registry that 'encodes protobuf' by tagging bytes, enough to check the wiring."""

    def knows(self, type_name: str) -> bool:
        return type_name == "Msg"

    def encode(self, type_name: str, value: object, encoding: str) -> bytes:
        return f"{type_name}:{encoding}:{value}".encode()

    def decode(self, type_name: str, content: Any, encoding: str) -> Any:
        return (type_name, encoding, content)


async def test_protobuf_goes_through_the_registry(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request("/p").respond_with_data(b"PB")
    ep = endpoint_dict(
        "p",
        "/p",
        method="POST",
        request="Msg",
        response="Msg",
        request_encoding="protobuf",
        response_encoding="protobuf",
    )
    async with make_pipeline(one(ep), registry=FakeProtoRegistry()) as pipeline:
        assert await pipeline.call("p", 5) == ("Msg", "protobuf", b"PB")
        assert await pipeline.call("p", b"ready") == ("Msg", "protobuf", b"PB")
    first, second = (request for request, _ in httpserver.log)
    assert first.get_data() == b"Msg:protobuf:5"
    assert second.get_data() == b"ready"
    assert first.headers["Content-Type"] == "application/x-protobuf"
    assert first.headers["Accept"] == "application/x-protobuf"


async def test_protobuf_without_registry_needs_bytes(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request("/p").respond_with_data(b"PB")
    ep = endpoint_dict(
        "p", "/p", method="POST", request_encoding="protobuf", response_encoding="protobuf"
    )
    async with make_pipeline(one(ep)) as pipeline:
        with pytest.raises(ValueError, match="protobuf request needs bytes"):
            await pipeline.call("p", {"a": 1})
        assert await pipeline.call("p", b"x") == b"PB"


async def test_send_once_returns_error_answers_without_raising(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request("/x").respond_with_json({"busy": 1}, status=503)
    async with make_pipeline(manifest_dict(endpoint_dict("x", "/x"))) as pipeline:
        response = await pipeline.send_once("x", timeout=5)
    assert response.status == 503
    assert response.json() == {"busy": 1}
    assert response.headers["content-type"] == "application/json"
    assert len(httpserver.log) == 1


async def test_non_json_body_on_a_json_endpoint_is_a_validation_error(
    httpserver: HTTPServer, make_pipeline: Any
) -> None:
    httpserver.expect_request("/x").respond_with_data("<html>")
    async with make_pipeline(one(endpoint_dict("x", "/x"))) as pipeline:
        with pytest.raises(APIResponseValidationError, match="expected a JSON body"):
            await pipeline.call("x")


def test_pipeline_needs_a_base_url() -> None:
    manifest = load_manifest(one(endpoint_dict("x", "/x")))
    with pytest.raises(ValueError, match=r"pass Context\(base_url="):
        Pipeline(manifest, Context())
    assert Pipeline(manifest.model_copy(update={"base_url": "http://h"})).base_url == "http://h"


def test_manifest_types_must_resolve_in_the_registry() -> None:
    manifest = load_manifest(one(endpoint_dict("x", "/x"), types=["Pet", "Owner"]))
    registry = PydanticRegistry({"Pet": Pet})
    with pytest.raises(ValueError, match=r"cannot resolve: \['Owner'\]"):
        Pipeline(manifest, Context(base_url="http://h", registry=registry))
    with pytest.raises(ValueError, match=r"cannot resolve: \['Pet', 'Owner'\]"):
        Pipeline(manifest, Context(base_url="http://h"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout_s": 0}, "timeout_s must be a finite number"),
        ({"timeout_s": float("inf")}, "timeout_s must be a finite number"),
        ({"base_url": "ftp://x"}, "base_url must start with http"),
    ],
)
def test_context_rejects_bad_settings(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Context(**options)


async def test_bad_call_timeout_is_rejected(make_pipeline: Any) -> None:
    async with make_pipeline(one(endpoint_dict("x", "/x"))) as pipeline:
        with pytest.raises(ValueError, match="timeout must be a finite number"):
            await pipeline.call("x", timeout=float("nan"))
