"""A second, non-Tinker API (tests/pristine/fixtures/petstore.yaml) driven end to end: the
runtime knows nothing about Tinker, only the manifest."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import orjson
import pytest
from pydantic import BaseModel
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pristine import Context, Pipeline, PydanticRegistry, load_manifest
from pristine.errors import CircuitOpenError, InternalServerError
from pristine.futures import QueueState
from pristine.telemetry import ListSink
from pristine.testing import FakeClock

pytestmark = pytest.mark.anyio

PETSTORE = Path(__file__).parent / "fixtures" / "petstore.yaml"


class NewPet(BaseModel):
    name: str
    tag: str | None = None


class Pet(NewPet):
    id: int


@pytest.fixture
def petstore(httpserver: HTTPServer, clock: FakeClock, sink: ListSink) -> Pipeline:
    registry = PydanticRegistry()
    registry.register(Pet)
    registry.register(NewPet)
    context = Context(
        base_url=httpserver.url_for("/"),
        registry=registry,
        clock=clock,
        telemetry=sink,
        rng=random.Random(3),
    )
    return Pipeline(load_manifest(PETSTORE), context)


async def test_json_endpoints_validate_both_ways(
    httpserver: HTTPServer, petstore: Pipeline
) -> None:
    def create(request: Request) -> Response:
        body = orjson.loads(gzip.decompress(request.get_data()))
        return Response(orjson.dumps({"id": 7, **body}), content_type="application/json")

    httpserver.expect_request("/pets", method="POST").respond_with_handler(create)
    httpserver.expect_request("/pets/7").respond_with_json({"id": 7, "name": "rex"})
    async with petstore:
        created = await petstore.call("create_pet", NewPet(name="rex", tag="dog"))
        fetched = await petstore.call("get_pet", path_params={"pet_id": 7})
    assert created == Pet(id=7, name="rex", tag="dog")
    assert fetched == Pet(id=7, name="rex")
    request = httpserver.log[0][0]
    assert request.headers["X-Client"] == "petstore-tests"
    assert request.headers["Idempotency-Key"].startswith("pristine-")


async def test_future_endpoint_is_polled_until_done(
    httpserver: HTTPServer, petstore: Pipeline
) -> None:
    httpserver.expect_request("/pets/7/adopt").respond_with_json({"request_id": "adopt-1"})
    answers = iter([{"type": "try_again", "queue_state": "paused_capacity"}, {"adopted": True}])
    httpserver.expect_request("/adoptions/status").respond_with_handler(
        lambda request: Response(orjson.dumps(next(answers)), content_type="application/json")
    )
    states: list[QueueState] = []
    async with petstore:
        result = await petstore.call_future(
            "adopt", {"by": "ann"}, path_params={"pet_id": 7}, on_queue_state=states.append
        )
    assert result == {"adopted": True}
    assert states[0].state == "paused_capacity"
    polls = [orjson.loads(r.get_data()) for r, _ in httpserver.log[1:]]
    assert polls == [{"request_id": "adopt-1"}] * 2


async def test_future_submit_without_a_request_id_is_a_clear_error(
    httpserver: HTTPServer, petstore: Pipeline
) -> None:
    from pristine.errors import APIResponseValidationError

    httpserver.expect_request("/pets/7/adopt").respond_with_json({"done": True})
    async with petstore:
        with pytest.raises(APIResponseValidationError, match="without a string 'request_id'"):
            await petstore.call_future("adopt", path_params={"pet_id": 7})
        with pytest.raises(ValueError, match="has no `future:` spec"):
            await petstore.call_future("get_pet", path_params={"pet_id": 7})


async def test_sse_endpoint_streams_events(httpserver: HTTPServer, petstore: Pipeline) -> None:
    body = 'event: born\ndata: {"id": 1}\n\ndata: {"id": 2}\n\n'
    httpserver.expect_request("/pets/events").respond_with_data(
        gzip.compress(body.encode()),
        headers={"Content-Encoding": "gzip"},
        content_type="text/event-stream",
    )
    async with petstore:
        events = [event async for event in petstore.stream("pet_events")]
    assert [(e.event, e.json()) for e in events] == [("born", {"id": 1}), ("message", {"id": 2})]
    assert httpserver.log[0][0].headers["Accept"] == "text/event-stream"


async def test_sse_error_status_raises_the_classified_error(
    httpserver: HTTPServer, petstore: Pipeline
) -> None:
    httpserver.expect_request("/pets/events").respond_with_json({"error": "down"}, status=503)
    async with petstore:
        with pytest.raises(InternalServerError, match="down"):
            async for _ in petstore.stream("pet_events"):
                pass  # pragma: no cover - the status error comes first
        with pytest.raises(ValueError, match="not marked `streaming: true`"):
            async for _ in petstore.stream("get_pet", path_params={"pet_id": 1}):
                pass  # pragma: no cover


async def test_multipart_upload_on_its_own_pool_with_a_breaker(
    httpserver: HTTPServer, petstore: Pipeline, clock: FakeClock
) -> None:
    httpserver.expect_ordered_request("/pets/7/photo").respond_with_json({"stored": 1})
    httpserver.expect_request("/pets/7/photo").respond_with_data("down", status=500)
    httpserver.expect_request("/pets/7").respond_with_json({"id": 7, "name": "rex"})
    async with petstore:
        photo = {"photo": ("rex.jpg", b"JPEG", "image/jpeg"), "caption": "good boy"}
        assert await petstore.call("upload_photo", photo, path_params={"pet_id": 7}) == {
            "stored": 1
        }
        with pytest.raises(InternalServerError):
            await petstore.call("upload_photo", photo, path_params={"pet_id": 7})
        with pytest.raises(CircuitOpenError, match="'uploads'"):
            await petstore.call("upload_photo", photo, path_params={"pet_id": 7})
        # the default pool has no breaker trouble
        assert await petstore.call("get_pet", path_params={"pet_id": 7}) == Pet(id=7, name="rex")
    upload = httpserver.log[0][0]
    assert upload.files["photo"].read() == b"JPEG"
    assert upload.form["caption"] == "good boy"
