"""API-key check for every route except health and signed downloads, as pure ASGI middleware.

The official client sends `X-API-Key: <key>`; other clients may send `Authorization:
Bearer <key>`. Keys are compared with `hmac.compare_digest` against every configured key
(no early exit that leaks which key matched). With no keys configured the server is a
single-user local one and accepts any `tml-` key, the only kind the official client sends.
The request's owner (whose runs and checkpoints it sees) is put in `scope["state"]`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from tinkex.local.app.http import ApiError
from tinkex.local.config import KEY_PREFIX

__all__ = ["LOCAL_OWNER", "OPEN_PATHS", "SIGNED_PREFIX", "ApiKeyMiddleware", "owner_of"]

LOCAL_OWNER = "local"
"""The owner of everything when no keys are configured."""

OPEN_PATHS = frozenset({"/api/v1/healthz", "/healthz"})
SIGNED_PREFIX = "/api/v1/checkpoint_files/"
"""Checkpoint downloads: their URL carries a signature the route checks instead of a key."""


def owner_of(key: str, configured: bool) -> str:
    """A stable owner name for a key that never reveals the key itself."""
    if not configured:
        return LOCAL_OWNER
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]


class ApiKeyMiddleware:
    """Answer 401 unless the request carries an accepted key."""

    def __init__(self, app: ASGIApp, *, api_keys: Sequence[str]) -> None:
        self.app = app
        self._keys = [key.encode() for key in api_keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(SIGNED_PREFIX):
            await self.app(scope, receive, send)
            return
        key = _credential(scope)
        if key is None or not self._accepts(key):
            await _unauthorized(key is None)(scope, receive, send)
            return
        scope.setdefault("state", {})["owner"] = owner_of(key, bool(self._keys))
        await self.app(scope, receive, send)

    def _accepts(self, key: str) -> bool:
        if not self._keys:
            return key.startswith(KEY_PREFIX) and len(key) > len(KEY_PREFIX)
        given = key.encode()
        matched = False
        for candidate in self._keys:
            matched |= hmac.compare_digest(given, candidate)
        return matched


def _credential(scope: Scope) -> str | None:
    headers: dict[bytes, bytes] = dict(scope["headers"])
    api_key = headers.get(b"x-api-key")
    if api_key:
        return api_key.decode("latin-1").strip()
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _unauthorized(missing: bool) -> ASGIApp:
    if missing:
        detail = "missing API key: send it in the X-API-Key header (or Authorization: Bearer)"
    else:
        detail = (
            "invalid API key: use one of the keys the server was started with "
            f"(--api-key), or any '{KEY_PREFIX}...' key when it was started without keys"
        )
    response = ApiError(401, detail).response()
    response.headers["www-authenticate"] = 'Bearer realm="tinkex.local"'
    return response
