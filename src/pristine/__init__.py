"""pristine: a manifest-driven HTTP API client runtime.

An API is described as data (a manifest); one pipeline runs any of its endpoints through
auth, serialisation, compression, admission, transport, retry, decoding, error
classification, future polling, SSE streaming and telemetry.

    manifest = load_manifest("petstore.yaml")
    async with Pipeline(manifest, Context(base_url="https://pets.example")) as api:
        pet = await api.call("get_pet", path_params={"pet_id": 7})
"""

from pristine.adapters.auth import ApiKeyHeader, BearerToken, CustomAuth, NoAuth
from pristine.adapters.registry import PydanticRegistry
from pristine.context import Context
from pristine.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
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
    UnprocessableEntityError,
    redact,
)
from pristine.futures import (
    FutureExpiredError,
    FuturePolicy,
    FutureTimeoutError,
    QueueState,
    RequestFailedError,
)
from pristine.manifest import (
    Endpoint,
    Manifest,
    ManifestError,
    ManifestIssue,
    PoolPolicy,
    RetryPolicy,
    load_manifest,
)
from pristine.pipeline import Pipeline
from pristine.ports.clock import Clock, SystemClock
from pristine.ports.transport import RawResponse
from pristine.streaming import SSEEvent
from pristine.sync import LoopThread, SyncPipeline
from pristine.telemetry import TelemetryEvent, TelemetrySink

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "ApiKeyHeader",
    "AuthenticationError",
    "BadRequestError",
    "BearerToken",
    "CircuitOpenError",
    "Clock",
    "ConflictError",
    "Context",
    "CustomAuth",
    "Endpoint",
    "FutureExpiredError",
    "FuturePolicy",
    "FutureTimeoutError",
    "InternalServerError",
    "LoopThread",
    "Manifest",
    "ManifestError",
    "ManifestIssue",
    "NoAuth",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "Pipeline",
    "PoolPolicy",
    "PristineError",
    "PydanticRegistry",
    "QueueState",
    "RateLimitError",
    "RawResponse",
    "RequestFailedError",
    "RetryPolicy",
    "SSEEvent",
    "SyncPipeline",
    "SystemClock",
    "TelemetryEvent",
    "TelemetrySink",
    "UnprocessableEntityError",
    "__version__",
    "load_manifest",
    "redact",
]
