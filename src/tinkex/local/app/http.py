"""Request parsing and error answers shared by every route.

Why one module: every route must turn bad input into a 4xx whose JSON body names the field
(`{"detail": ..., "field": ...}`; the official CLI reads `detail`), never a 500, and must
refuse bodies over the configured size with 413 before reading them whole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import pydantic
from starlette.requests import Request
from starlette.responses import Response

from tinkex.local.queue import QueueFull
from tinkex.local.store import NotFoundError
from tinkex.local.store import UserInputError as StoreInputError

__all__ = [
    "ApiError",
    "Endpoint",
    "guarded",
    "json_response",
    "parse_body",
    "parse_json",
    "read_body",
]

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
Endpoint = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """An HTTP error answer: status, a message saying what to fix, the field at fault."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field

    def response(self) -> Response:
        body: dict[str, Any] = {"detail": self.detail}
        if self.field is not None:
            body["field"] = self.field
        headers = {"x-should-retry": "false"} if 400 <= self.status < 500 else None
        if self.status == 429:
            headers = {"retry-after": "1"}
        return json_response(body, status=self.status, headers=headers)


def json_response(
    body: object, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON answer encoded with orjson (pydantic models as their wire dicts)."""
    if isinstance(body, pydantic.BaseModel):
        body = body.model_dump(mode="json", exclude_none=True)
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) anything over `limit` bytes, declared or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes, model: type[ModelT]) -> ModelT:
    """Validate a JSON body as `model`; 400 naming the first bad field otherwise."""
    try:
        return model.model_validate_json(body or b"{}")
    except pydantic.ValidationError as exc:
        raise validation_error(exc, model.__name__) from None


async def parse_body(request: Request, model: type[ModelT], limit: int) -> ModelT:
    """Read and validate a JSON request body."""
    return parse_json(await read_body(request, limit), model)


def validation_error(exc: pydantic.ValidationError, what: str) -> ApiError:
    first = exc.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"] if not _union_tag(part)) or None
    if first["type"] == "json_invalid":
        return ApiError(400, f"request body is not valid JSON: {first['msg']}; send a {what}")
    return ApiError(
        400,
        f"{location or 'body'}: {first['msg']} ({exc.error_count()} problem(s) in the {what})",
        location,
    )


def _union_tag(part: str | int) -> bool:
    """pydantic names the union member it tried (`AdamParams`, `function-after[...]`) in
    error locations; wire field names are snake_case, so those parts are dropped."""
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def guarded(endpoint: Endpoint) -> Endpoint:
    """Map the errors routes raise to answers: bad input 400, unknown ids 404, a full queue
    429; anything unexpected stays a 500 (Starlette's handler)."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ApiError as exc:
            return exc.response()
        except StoreInputError as exc:
            return ApiError(400, str(exc), exc.field).response()
        except NotFoundError as exc:
            return ApiError(404, str(exc), exc.kind).response()
        except QueueFull as exc:
            return ApiError(429, str(exc)).response()
        except ValueError as exc:
            return ApiError(400, str(exc)).response()

    run.__name__ = endpoint.__name__
    run.__doc__ = endpoint.__doc__
    return run


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, f"request body exceeds the server's limit of {limit} bytes; send smaller chunks"
    )
