"""The one error hierarchy of the runtime; names mirror the official Tinker SDK.

```
PristineError
 ├── APIError                      (message, request, body)
 │    ├── APIStatusError      (status_code, headers, body, request_id, retry_after_ms, category)
 │    │    ├── BadRequestError           400
 │    │    ├── AuthenticationError       401
 │    │    ├── PaymentRequiredError      402
│    │    ├── PermissionDeniedError     403
 │    │    ├── NotFoundError             404
 │    │    ├── ConflictError             409
 │    │    ├── UnprocessableEntityError  422
 │    │    ├── RateLimitError            429
 │    │    └── InternalServerError       >= 500
 │    ├── APIConnectionError       (transport failed: DNS, refused, reset, ...)
 │    │    └── APITimeoutError
 │    └── APIResponseValidationError  (body is not what the manifest promised)
 └── CircuitOpenError              (the pool's breaker refuses calls for now)
```

Every message and `repr` goes through `redact()`, so API keys never reach logs or tracebacks,
and every error pickles (they cross the sync bridge's thread and process boundaries).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CircuitOpenError",
    "ConflictError",
    "ErrorCategory",
    "InternalServerError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PristineError",
    "RateLimitError",
    "RequestInfo",
    "UnprocessableEntityError",
    "redact",
    "redact_headers",
    "redact_value",
    "status_error_class",
]

ErrorCategory = Literal["user", "server", "unknown"]

MASK = "***"
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(tml|sk)-[A-Za-z0-9_\-]+"), rf"\1-{MASK}"),
    (re.compile(r"\b(Bearer|Basic)\s+[^\s'\",;]+", re.IGNORECASE), rf"\1 {MASK}"),
    (
        re.compile(
            r"\b(x-api-key|api[_-]?key|authorization)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;}]+",
            re.IGNORECASE,
        ),
        rf"\1\2{MASK}",
    ),
)
_SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
# Short configured secrets would mask ordinary words; real keys are much longer.
_MIN_SECRET_LEN = 4


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask API keys, bearer tokens and any of `secrets` found in `text`."""
    for secret in secrets:
        if len(secret) >= _MIN_SECRET_LEN:
            text = text.replace(secret, MASK)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: object, secrets: Iterable[str] = ()) -> object:
    """`redact` applied to every string inside a decoded JSON value (error bodies)."""
    kept = tuple(secrets)
    if isinstance(value, str):
        return redact(value, kept)
    if isinstance(value, dict):
        return {key: redact_value(item, kept) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item, kept) for item in value]
    return value


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """Copy of `headers` with credential headers masked, safe for telemetry and errors."""
    kept = tuple(secrets)
    return {
        name: MASK if name.lower() in _SENSITIVE_HEADERS else redact(value, kept)
        for name, value in headers.items()
    }


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What an error needs to know about the request: never its headers or body."""

    method: str
    url: str
    endpoint_id: str | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class PristineError(Exception):
    """Base of every error the runtime raises on purpose."""

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, which the default pickling cannot replay.
        return (_restore, (type(self), self.args, dict(self.__dict__)))

    def with_message(self, message: str) -> Self:
        """Same error (class and fields) with a new message, e.g. after retries ran out."""
        clone = _restore(type(self), (redact(message),), dict(self.__dict__))
        clone.message = redact(message)
        clone.__cause__ = self.__cause__
        return clone  # type: ignore[no-any-return]  # _restore builds a type(self) instance


class APIError(PristineError):
    """Something went wrong talking to the API; `request` says which call."""

    def __init__(
        self, message: str, *, request: RequestInfo | None = None, body: object | None = None
    ) -> None:
        super().__init__(message)
        self.request = request
        self.body = redact_value(body)


class APIStatusError(APIError):
    """The server answered with a 4xx/5xx status; see the subclass for which one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        body: object | None = None,
        request: RequestInfo | None = None,
        request_id: str | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message, request=request, body=body)
        self.status_code = status_code
        self.headers: dict[str, str] = redact_headers(headers or {})
        self.request_id = request_id
        self.retry_after_ms = retry_after_ms

    @property
    def category(self) -> ErrorCategory:
        """`user` for 4xx (fix the request), `server` for 5xx (retry or report)."""
        if 400 <= self.status_code < 500:
            return "user"
        if self.status_code >= 500:
            return "server"
        return "unknown"


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing or wrong."""


class PaymentRequiredError(APIStatusError):
    """HTTP 402: the account cannot be billed; retrying will not help until that is fixed."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the request body did not validate on the server."""


class RateLimitError(APIStatusError):
    """HTTP 429: slow down; `retry_after_ms` says for how long when the server told us."""


class InternalServerError(APIStatusError):
    """HTTP 5xx."""


class APIConnectionError(APIError):
    """No HTTP answer at all: connection refused, reset, DNS failure, protocol error."""


class APITimeoutError(APIConnectionError):
    """The call took longer than its timeout."""


class APIResponseValidationError(APIError):
    """The server answered 2xx but the body is not what the manifest's response type says."""


class CircuitOpenError(PristineError):
    """The pool's circuit breaker is open after repeated failures; calls fail fast for now."""

    def __init__(self, message: str, *, breaker: str) -> None:
        super().__init__(message)
        self.breaker = breaker


_STATUS_CLASSES: Mapping[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The most specific error class for an HTTP status."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)
