"""The error hierarchy: classes per status, redaction, pickling."""

from __future__ import annotations

import pickle

import pytest

from pristine.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    PristineError,
    RateLimitError,
    RequestInfo,
    UnprocessableEntityError,
    redact,
    redact_headers,
    status_error_class,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, PaymentRequiredError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_status_maps_to_the_most_specific_class(status: int, cls: type[APIStatusError]) -> None:
    assert status_error_class(status) is cls


def test_hierarchy_lets_callers_catch_at_their_level() -> None:
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, APIError)
    assert issubclass(RateLimitError, APIStatusError)
    assert issubclass(CircuitOpenError, PristineError)


@pytest.mark.parametrize(("status", "category"), [(404, "user"), (500, "server"), (302, "unknown")])
def test_category_follows_the_status_class(status: int, category: str) -> None:
    error = APIStatusError("x", status_code=status)
    assert error.category == category


@pytest.mark.parametrize(
    "text",
    [
        "key tml-abcdef123456 leaked",
        "Authorization: Bearer abc.def.ghi",
        "X-API-Key: hunter2secret",
        "{'api_key': 'hunter2secret'}",
        "sk-live_0123456789",
    ],
)
def test_redact_masks_known_secret_shapes(text: str) -> None:
    masked = redact(text)
    for secret in ("abcdef123456", "abc.def.ghi", "hunter2secret", "live_0123456789"):
        assert secret not in masked
    assert "***" in masked


def test_redact_masks_configured_secret_values_but_not_tiny_ones() -> None:
    assert redact("pw=correcthorse and ab", secrets=["correcthorse", "ab"]) == "pw=*** and ab"


def test_redact_headers_masks_credential_headers() -> None:
    headers = redact_headers({"Authorization": "x", "X-Api-Key": "y", "Accept": "tml-zzz"})
    assert headers == {"Authorization": "***", "X-Api-Key": "***", "Accept": "tml-***"}


def test_status_error_round_trips_through_pickle() -> None:
    error = RateLimitError(
        "slow down",
        status_code=429,
        headers={"retry-after": "1", "authorization": "Bearer zzz"},
        body={"error": "slow"},
        request=RequestInfo("POST", "http://x/y", "ep"),
        request_id="req-1",
        retry_after_ms=1000,
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimitError
    assert (copy.message, copy.status_code, copy.body) == ("slow down", 429, {"error": "slow"})
    assert copy.headers == {"retry-after": "1", "authorization": "***"}
    assert copy.request == RequestInfo("POST", "http://x/y", "ep")
    assert (copy.request_id, copy.retry_after_ms, str(copy)) == ("req-1", 1000, "slow down")


def test_every_error_class_pickles() -> None:
    errors: list[PristineError] = [
        PristineError("a"),
        APIConnectionError("b", request=RequestInfo("GET", "http://h/")),
        APITimeoutError("c"),
        CircuitOpenError("d", breaker="pool"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert copy.__dict__ == error.__dict__


def test_message_and_repr_never_show_a_key() -> None:
    error = APIError("failed with key tml-secretsecret")
    assert "secretsecret" not in str(error)
    assert "secretsecret" not in repr(error)
    assert repr(error).startswith("APIError(")


def test_with_message_keeps_class_and_fields() -> None:
    error = NotFoundError("gone", status_code=404, request_id="r")
    error.__cause__ = KeyError("k")
    clone = error.with_message("still gone, key tml-abcdefg")
    assert isinstance(clone, NotFoundError)
    assert (clone.status_code, clone.request_id) == (404, "r")
    assert str(clone) == clone.message == "still gone, key tml-***"
    assert isinstance(clone.__cause__, KeyError)


def test_request_info_prints_method_and_url() -> None:
    assert str(RequestInfo("GET", "http://h/p")) == "GET http://h/p"
