"""tinkex: a Tinker SDK built on the pristine runtime, plus an embedded local server.

The top level mirrors `tinker`'s: the clients, the common wire types and the exception names,
so that `import tinkex as tinker` works for code written against the official SDK. Names are
loaded on first use, which keeps `import tinkex` cheap for the CLI and the local server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__title__ = "tinkex"

if TYPE_CHECKING:
    from httpx import Timeout

    from tinkex import auth, types
    from tinkex.clients.admin import AdminClient
    from tinkex.clients.experimental import ExperimentalWarning
    from tinkex.clients.future import APIFuture
    from tinkex.clients.future import BackcompatFuture as BackcompatSamplingClientFuture
    from tinkex.clients.future import BackcompatFuture as BackcompatTrainingClientFuture
    from tinkex.clients.loss_handle import LossHandle, PerDatumLossFn
    from tinkex.clients.options import RequestOptions
    from tinkex.clients.rest import RestClient
    from tinkex.clients.sampling import SamplingClient
    from tinkex.clients.service import ServiceClient
    from tinkex.clients.training import TrainingClient
    from tinkex.errors import (
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BillingError,
        ConflictError,
        InternalServerError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        RequestFailedError,
        TinkerError,
        UnprocessableEntityError,
    )
    from tinkex.types import (
        AdamOptimizerConfig,
        AdamParams,
        Checkpoint,
        CheckpointType,
        Datum,
        DimuonOptimizerConfig,
        DimuonParams,
        DmelChunk,
        EncodedTextChunk,
        ForwardBackwardOutput,
        LoraConfig,
        ModelID,
        ModelInput,
        ModelInputChunk,
        OptimParams,
        OptimStepRequest,
        OptimStepResponse,
        ParsedCheckpointTinkerPath,
        PromptProvenanceSpan,
        SampledProvenanceSpan,
        SampledSequence,
        SampleRequest,
        SampleResponse,
        SamplingParams,
        StopReason,
        TensorData,
        TensorDtype,
        TrainingRun,
    )

_CLIENTS = {
    "AdminClient": ("tinkex.clients.admin", "AdminClient"),
    "APIFuture": ("tinkex.clients.future", "APIFuture"),
    "BackcompatSamplingClientFuture": ("tinkex.clients.future", "BackcompatFuture"),
    "BackcompatTrainingClientFuture": ("tinkex.clients.future", "BackcompatFuture"),
    "RestClient": ("tinkex.clients.rest", "RestClient"),
    "SamplingClient": ("tinkex.clients.sampling", "SamplingClient"),
    "ServiceClient": ("tinkex.clients.service", "ServiceClient"),
    "TrainingClient": ("tinkex.clients.training", "TrainingClient"),
    "LossHandle": ("tinkex.clients.loss_handle", "LossHandle"),
    "PerDatumLossFn": ("tinkex.clients.loss_handle", "PerDatumLossFn"),
    "ExperimentalWarning": ("tinkex.clients.experimental", "ExperimentalWarning"),
    "RequestOptions": ("tinkex.clients.options", "RequestOptions"),
    # The official SDK's Timeout is httpx's; resolved by name so tinkex imports no httpx.
    "Timeout": ("httpx", "Timeout"),
}
_ERRORS = (
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
)
_TYPES = (
    "AdamOptimizerConfig",
    "AdamParams",
    "Checkpoint",
    "CheckpointType",
    "Datum",
    "DimuonOptimizerConfig",
    "DimuonParams",
    "DmelChunk",
    "EncodedTextChunk",
    "ForwardBackwardOutput",
    "LoraConfig",
    "ModelID",
    "ModelInput",
    "ModelInputChunk",
    "OptimParams",
    "OptimStepRequest",
    "OptimStepResponse",
    "ParsedCheckpointTinkerPath",
    "PromptProvenanceSpan",
    "SampledProvenanceSpan",
    "SampledSequence",
    "SampleRequest",
    "SampleResponse",
    "SamplingParams",
    "StopReason",
    "TensorData",
    "TensorDtype",
    "TrainingRun",
)
_LOCATIONS: dict[str, tuple[str, str]] = {
    **_CLIENTS,
    **{name: ("tinkex.errors", name) for name in _ERRORS},
    **{name: ("tinkex.types", name) for name in _TYPES},
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIFuture",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AdamOptimizerConfig",
    "AdamParams",
    "AdminClient",
    "AuthenticationError",
    "BackcompatSamplingClientFuture",
    "BackcompatTrainingClientFuture",
    "BadRequestError",
    "BillingError",
    "Checkpoint",
    "CheckpointType",
    "ConflictError",
    "Datum",
    "DimuonOptimizerConfig",
    "DimuonParams",
    "DmelChunk",
    "EncodedTextChunk",
    "ExperimentalWarning",
    "ForwardBackwardOutput",
    "InternalServerError",
    "LoraConfig",
    "LossHandle",
    "ModelID",
    "ModelInput",
    "ModelInputChunk",
    "NotFoundError",
    "OptimParams",
    "OptimStepRequest",
    "OptimStepResponse",
    "ParsedCheckpointTinkerPath",
    "PerDatumLossFn",
    "PermissionDeniedError",
    "PromptProvenanceSpan",
    "RateLimitError",
    "RequestFailedError",
    "RequestOptions",
    "RestClient",
    "SampleRequest",
    "SampleResponse",
    "SampledProvenanceSpan",
    "SampledSequence",
    "SamplingClient",
    "SamplingParams",
    "ServiceClient",
    "StopReason",
    "TensorData",
    "TensorDtype",
    "Timeout",
    "TinkerError",
    "TrainingClient",
    "TrainingRun",
    "UnprocessableEntityError",
    "__title__",
    "__version__",
    "auth",
    "types",
]


def __getattr__(name: str) -> Any:
    if name in ("auth", "types"):
        return importlib.import_module(f"tinkex.{name}")
    try:
        module_name, attribute = _LOCATIONS[name]
    except KeyError:
        raise AttributeError(f"module 'tinkex' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value
