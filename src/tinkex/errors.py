"""The official SDK's exception names, mapped onto pristine's error hierarchy.

`except tinker.NotFoundError` in existing code catches what tinkex raises, because the names
below are pristine's own classes (the root `TinkerError` is `PristineError`). Only
`BillingError` (HTTP 402) has no pristine class of its own: the pipeline raises a plain
`APIStatusError` with `status_code == 402`, so catch `APIStatusError` and test the status
until pristine maps 402 to a class of its own.
"""

from __future__ import annotations

from pristine.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PristineError,
    RateLimitError,
    UnprocessableEntityError,
)
from pristine.futures import RequestFailedError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestFailedError",
    "TinkerError",
    "UnprocessableEntityError",
]

TinkerError = PristineError
"""The root of every error the SDK raises."""


class BillingError(APIStatusError):
    """HTTP 402: the account has a billing issue (e.g. billing is not set up)."""
