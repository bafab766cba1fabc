"""The ASGI app of `tinkex.local`: every endpoint the official Tinker client uses.

Routes are grouped by concept (service, training, sampling, futures, REST) under `/api/v1`;
`create_app(config)` assembles them behind the API-key middleware. The store, queue and
engine open in the app's lifespan, so the app is cheap to build and import.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from tinkex.local.app import (
    admin_routes,
    custom_loss_routes,
    export_routes,
    future_routes,
    rest_routes,
    sampling_routes,
    search_routes,
    service_routes,
    training_routes,
)
from tinkex.local.app.auth import ApiKeyMiddleware
from tinkex.local.app.http import ApiError
from tinkex.local.app.runtime import lifespan_for
from tinkex.local.config import ServerConfig

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"


def create_app(config: ServerConfig) -> Starlette:
    """The server app for `config`."""
    api = [
        *service_routes.routes,
        *custom_loss_routes.routes,
        *training_routes.routes,
        *sampling_routes.routes,
        *future_routes.routes,
        *rest_routes.routes,
        *export_routes.routes,
        *search_routes.routes,
        *admin_routes.routes,
    ]
    return Starlette(
        routes=[
            Mount(API_PREFIX, routes=api),
            Route("/healthz", service_routes.healthz, methods=["GET"]),
        ],
        middleware=[Middleware(ApiKeyMiddleware, api_keys=config.api_keys)],
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan_for(config),
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods answer JSON like every other error."""
    assert isinstance(exc, HTTPException)
    detail = f"{request.method} {request.url.path}: {exc.detail}"
    return ApiError(exc.status_code, detail).response()


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A bug, not bad input: 500 (the client retries it) with the error's type and text."""
    return ApiError(500, f"internal error: {type(exc).__name__}: {exc}").response()
