"""The official SDK's exception names, mapped onto pristine's error hierarchy.

`except tinker.NotFoundError` in existing code catches what tinkex raises, because the names
below are pristine's own classes (the root `TinkerError` is `PristineError`; `BillingError` is
pristine's `PaymentRequiredError`, raised for HTTP 402).
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
    PaymentRequiredError,
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


BillingError = PaymentRequiredError
"""HTTP 402: the account has a billing issue (e.g. billing is not set up)."""
