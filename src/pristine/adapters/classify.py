"""Classification of one attempt's outcome: error class, retryable or not, breaker outcome.

One function per kind of outcome (an HTTP answer, a transport failure); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pristine.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    RequestInfo,
    redact,
    redact_headers,
    redact_value,
    status_error_class,
)
from pristine.manifest import RetryPolicy
from pristine.ports.transport import RawResponse

from .retry import parse_retry_after

__all__ = [
    "BreakerOutcome",
    "Failure",
    "breaker_outcome",
    "classify",
    "classify_error",
    "status_error",
]

BreakerOutcome = Literal["success", "failure", "ignore"]
_REQUEST_ID_HEADERS = ("x-request-id", "request-id")
_MESSAGE_KEYS = ("message", "detail", "error")


@dataclass(frozen=True, slots=True)
class Failure:
    """The verdict on a failed attempt: the error to raise and whether to try again."""

    error: APIStatusError | APIConnectionError
    retryable: bool
    retry_after_s: float | None = None
    rate_limited: bool = False


def breaker_outcome(status: int | None) -> BreakerOutcome:
    """5xx and transport failures (None) count against the breaker; 4xx say nothing about it."""
    if status is None or status >= 500:
        return "failure"
    return "success" if status < 400 else "ignore"


def status_error(
    response: RawResponse, request: RequestInfo, *, now_wall: float, secrets: tuple[str, ...] = ()
) -> APIStatusError:
    """The error for a 4xx/5xx answer, with the server's message, request id and Retry-After."""
    retry_after = parse_retry_after(response.headers, now_wall)
    request_id = next(
        (response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers), None
    )
    return status_error_class(response.status)(
        redact(_message(response, request), secrets),
        status_code=response.status,
        headers=redact_headers(response.headers, secrets),
        body=redact_value(_body(response), secrets),
        request=request,
        request_id=request_id,
        retry_after_ms=None if retry_after is None else round(retry_after * 1000),
    )


def classify(
    response: RawResponse,
    policy: RetryPolicy,
    request: RequestInfo,
    *,
    now_wall: float,
    secrets: tuple[str, ...] = (),
) -> Failure:
    """The error of a 4xx/5xx answer and whether it is worth retrying (successes never get
    here: describing the request masks its URL, wasted work on every good answer)."""
    error = status_error(response, request, now_wall=now_wall, secrets=secrets)
    should_retry = response.headers.get("x-should-retry", "").lower()
    if should_retry in {"true", "false"}:
        retryable = should_retry == "true"
    else:
        retryable = response.status in policy.retry_on_status
    retry_after = None if error.retry_after_ms is None else error.retry_after_ms / 1000
    return Failure(error, retryable, retry_after, rate_limited=response.status == 429)


def classify_error(error: APIConnectionError, policy: RetryPolicy) -> Failure:
    """A transport failure: retryable when the policy retries connection errors."""
    return Failure(error, retryable=policy.retry_on_connection_errors)


def _body(response: RawResponse) -> object:
    try:
        return response.json()
    except APIResponseValidationError:
        return response.content.decode("utf-8", "replace")


def _message(response: RawResponse, request: RequestInfo) -> str:
    body = _body(response)
    detail: object = body
    if isinstance(body, dict):
        detail = next((body[k] for k in _MESSAGE_KEYS if k in body), body)
    text = str(detail)
    if len(text) > 500:
        text = text[:500] + "..."
    return f"HTTP {response.status} from {request.endpoint_id} ({request}): {text}"
