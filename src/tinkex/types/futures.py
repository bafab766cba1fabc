"""Futures: the handle a submitted request returns and the answers to polling it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, TypeAlias

import pydantic

from ._base import RequestModel, ResponseModel
from .ids import ModelID, RequestID
from .models import CreateModelResponse, UnloadModelResponse
from .training import ForwardBackwardOutput, OptimStepResponse
from .weights import (
    LoadWeightsResponse,
    SaveWeightsExternalResponse,
    SaveWeightsForSamplerResponse,
    SaveWeightsResponse,
)

__all__ = [
    "CancelFutureRequest",
    "FutureCompletion",
    "FutureFailed",
    "FutureFinished",
    "FutureRetrieveRequest",
    "FutureRetrieveResponse",
    "FuturesRetrieveRequest",
    "FuturesRetrieveResponse",
    "QueueState",
    "RequestErrorCategory",
    "RequestFailedResponse",
    "SamplingSessionFuturesTarget",
    "TryAgainResponse",
    "UntypedAPIFuture",
]

QueueState: TypeAlias = Literal["active", "paused_capacity", "paused_rate_limit"]


class UntypedAPIFuture(ResponseModel):
    """The handle of a submitted request; poll it by ``request_id``."""

    request_id: RequestID
    model_id: ModelID | None = None
    sample_sequence_ids: list[str] | None = None
    """Sampling only: one id per sample, in response order (becomes ``sequence_id``)."""


class TryAgainResponse(ResponseModel):
    """The request is still queued or running: poll again."""

    type: Literal["try_again"] = "try_again"
    request_id: RequestID
    queue_state: QueueState


class RequestErrorCategory(StrEnum):
    """Who caused a failed request (decides whether retrying can help)."""

    Unknown = "unknown"
    Server = "server"
    User = "user"


class RequestFailedResponse(ResponseModel):
    """The request failed for good."""

    error: str
    category: RequestErrorCategory


class FutureRetrieveRequest(RequestModel):
    """Poll one request's result."""

    request_id: RequestID
    allow_metadata_only: bool = False
    """Let the server answer with only status and size when the payload is large."""


FutureRetrieveResponse: TypeAlias = (
    TryAgainResponse
    | ForwardBackwardOutput
    | OptimStepResponse
    | SaveWeightsResponse
    | LoadWeightsResponse
    | SaveWeightsForSamplerResponse
    | SaveWeightsExternalResponse
    | CreateModelResponse
    | UnloadModelResponse
    | RequestFailedResponse
)


class CancelFutureRequest(RequestModel):
    """Stop an abandoned sampling request on the server."""

    request_id: RequestID


class SamplingSessionFuturesTarget(RequestModel):
    """Poll every request of one (possibly cloned) sampling session."""

    type: Literal["sampling_session"] = "sampling_session"
    sampling_session_id: str
    cloned_sampler_id: int = 0
    """``seq_id // 1_000_000_000`` for cloned sampling clients (0 for the original)."""


class FuturesRetrieveRequest(RequestModel):
    """Long-poll completions of a sampling session."""

    target: SamplingSessionFuturesTarget
    prev_cursor: int = 0
    timeout: float | None = None
    retrieved_request_ids: list[str] = pydantic.Field(default_factory=list)
    """Requests whose payloads were fetched, so the server may delete them."""


class FutureFinished(ResponseModel):
    """A finished request, with its payload size to reserve memory before fetching it."""

    state: Literal["finished"] = "finished"
    request_id: RequestID
    response_payload_uncompressed_size: int | None = None


class FutureFailed(ResponseModel):
    """A failed request (fetch it to read the error)."""

    state: Literal["failed"] = "failed"
    request_id: RequestID


FutureCompletion: TypeAlias = Annotated[
    FutureFinished | FutureFailed, pydantic.Field(discriminator="state")
]


class FuturesRetrieveResponse(ResponseModel):
    """Completions since ``prev_cursor`` and the cursor to pass next."""

    completions: list[FutureCompletion]
    cursor: int
