"""The first pipeline stage: from an endpoint and call arguments to a `PreparedCall`.

Everything that is the same for every attempt of one call happens here, once: the URL, the
serialised and compressed body, the headers and the idempotency key (so the key is stable
across retries). Auth headers are not here: they are asked for on every attempt.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from pristine.adapters.compression import ACCEPT_ENCODING, codec_for
from pristine.adapters.serializers import serializer_for
from pristine.context import Context
from pristine.errors import RequestInfo, redact
from pristine.manifest import Endpoint, Manifest

__all__ = ["CallArgs", "PreparedCall", "prepare_call"]

_ACCEPT = {"json": "application/json", "protobuf": "application/x-protobuf", "raw": "*/*"}


@dataclass(frozen=True, slots=True)
class CallArgs:
    """What the caller passed for one call, besides the endpoint id."""

    payload: object = None
    path_params: Mapping[str, Any] | None = None
    query: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    timeout: float | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """One call, ready to send as many times as the retry policy allows."""

    endpoint: Endpoint
    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes | None
    timeout_s: float

    def info(self, secrets: tuple[str, ...]) -> RequestInfo:
        """What errors may show of this call, masked with the secrets known by now."""
        return RequestInfo(self.method, redact(self.url, secrets), endpoint_id=self.endpoint.id)


def prepare_call(
    manifest: Manifest, context: Context, base_url: str, endpoint: Endpoint, args: CallArgs
) -> PreparedCall:
    """Build URL, body and headers; bad arguments raise naming the field and the fix."""
    url = base_url.rstrip("/") + _fill_path(endpoint, args.path_params or {})
    query = _query({**endpoint.query, **(args.query or {})})
    if query:
        url += "?" + query
    headers = {
        "User-Agent": context.user_agent,
        "Accept": endpoint.accept or _ACCEPT[endpoint.response_encoding],
        "Accept-Encoding": ACCEPT_ENCODING,
        **context.headers,
        **manifest.headers(endpoint),
    }
    content = None
    if args.payload is not None:
        body = serializer_for(endpoint.request_encoding, context.registry).encode(
            args.payload, endpoint.request
        )
        content = body.content
        headers["Content-Type"] = body.content_type
        if endpoint.compress_request != "none":
            content = codec_for(endpoint.compress_request).compress(content)
            headers["Content-Encoding"] = endpoint.compress_request
    if endpoint.idempotency_header:
        headers[endpoint.idempotency_header] = args.idempotency_key or f"pristine-{uuid.uuid4()}"
    headers.update(args.headers or {})
    return PreparedCall(
        endpoint,
        endpoint.method,
        url,
        headers,
        content,
        _timeout(manifest, context, endpoint, args),
    )


def _fill_path(endpoint: Endpoint, params: Mapping[str, Any]) -> str:
    expected = endpoint.path_params
    missing = [name for name in expected if params.get(name) is None]
    if missing:
        raise ValueError(
            f"endpoint {endpoint.id!r} ({endpoint.path}) needs path_params {missing}; "
            f"pass path_params={{{', '.join(repr(m) + ': ...' for m in missing)}}}"
        )
    unknown = sorted(set(params) - set(expected))
    if unknown:
        raise ValueError(
            f"endpoint {endpoint.id!r} ({endpoint.path}) has no path params {unknown}; "
            f"it takes {list(expected)}"
        )
    path = endpoint.path
    for name in expected:
        path = path.replace("{" + name + "}", quote(str(params[name]), safe=""))
    return path


def _query(params: Mapping[str, Any]) -> str:
    pairs = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(key, _query_value(v)) for v in values if v is not None]
    return urlencode(pairs)


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _timeout(manifest: Manifest, context: Context, endpoint: Endpoint, args: CallArgs) -> float:
    """Call argument, else endpoint, else context, else manifest default."""
    timeout = args.timeout or endpoint.timeout_s or context.timeout_s or manifest.defaults.timeout_s
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
    return timeout
