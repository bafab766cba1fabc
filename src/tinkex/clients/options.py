"""`RequestOptions`: the per-request overrides the official SDK's raw client accepts.

tinkex has no raw client; the type exists so that code annotated with `tinker.RequestOptions`
keeps importing. Timeouts are seconds (`tinkex.Timeout` is httpx's, as in the official SDK).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

__all__ = ["RequestOptions"]


class RequestOptions(TypedDict, total=False):
    """Per-request headers, retries, timeout, query, extra JSON body keys, idempotency key."""

    headers: Mapping[str, str]
    max_retries: int
    timeout: float | None
    params: Mapping[str, object]
    extra_json: Mapping[str, Any]
    idempotency_key: str
    follow_redirects: bool
