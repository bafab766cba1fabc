"""The official exception names exist, form the official hierarchy, and catch what the
pipeline raises."""

from __future__ import annotations

import pytest
import tinker
from pytest_httpserver import HTTPServer

import tinkex
from pristine.errors import PristineError
from tinkex import errors
from tinkex.clients._holder import ClientHolder
from tinkex.clients.rest import RestClient

OFFICIAL_NAMES = [
    "TinkerError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "APIConnectionError",
    "APIResponseValidationError",
    "RequestFailedError",
    "BadRequestError",
    "AuthenticationError",
    "BillingError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
]


@pytest.mark.parametrize("name", OFFICIAL_NAMES)
def test_every_official_name_is_exported(name: str) -> None:
    assert hasattr(tinker, name)
    assert getattr(tinkex, name) is getattr(errors, name)
    assert issubclass(getattr(tinkex, name), tinkex.TinkerError)


def test_hierarchy_matches_the_official_one() -> None:
    assert errors.TinkerError is PristineError
    for name in ("BadRequestError", "NotFoundError", "RateLimitError", "BillingError"):
        assert issubclass(getattr(errors, name), errors.APIStatusError)
    assert issubclass(errors.APITimeoutError, errors.APIConnectionError)
    assert issubclass(errors.APIStatusError, errors.APIError)


def test_a_pipeline_404_is_caught_by_the_official_name(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/training_runs/run-x").respond_with_json(
        {"detail": "no such run"}, status=404
    )
    holder = ClientHolder.sessionless(base_url=httpserver.url_for("/"), api_key="tml-test")
    try:
        with pytest.raises(tinkex.NotFoundError) as caught:
            RestClient(holder).get_training_run("run-x").result(10)
    finally:
        holder.close()
    assert caught.value.status_code == 404


def test_a_pipeline_402_is_a_billing_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/training_runs/run-x").respond_with_json(
        {"detail": "billing is not set up"}, status=402
    )
    holder = ClientHolder.sessionless(base_url=httpserver.url_for("/"), api_key="tml-test")
    try:
        with pytest.raises(tinkex.BillingError) as caught:
            RestClient(holder).get_training_run("run-x").result(10)
    finally:
        holder.close()
    assert caught.value.status_code == 402
