"""Service-level answers: feature flags, capabilities, health and identity."""

from __future__ import annotations

from typing import Literal

from ._base import RequestModel, ResponseModel

__all__ = [
    "ApiKeyDetails",
    "ApiKeyOrgDetails",
    "ApiKeyUserDetails",
    "AuthTokenResponse",
    "ClientConfigRequest",
    "ClientConfigResponse",
    "ClientDynamicConfigResponse",
    "GetServerCapabilitiesResponse",
    "HealthResponse",
    "SelfApiKeyResponse",
    "SupportedModel",
    "WhoamiResponse",
]


class ClientConfigRequest(RequestModel):
    """Ask for the feature flags that apply to this SDK version."""

    sdk_version: str


class ClientConfigResponse(ResponseModel):
    """Feature flags fetched once per client; unknown flags are ignored."""

    pjwt_auth_enabled: bool = False
    credential_default_source: str = "api_key"
    sample_dispatch_bytes_semaphore_size: int = 10 * 1024 * 1024
    inflight_response_bytes_semaphore_size: int = 50 * 1024 * 1024
    parallel_fwdbwd_chunks: bool = True
    proto_compress_fwdbwd: bool = False
    """zstd-compress the protobuf forward/backward body."""
    fwdbwd_max_chunk_len: int = 1024
    """Most datums per forward/backward chunk request."""
    fwdbwd_max_chunk_bytes_count: int = 5_000_000
    """Most estimated (pre-compression) bytes per forward/backward chunk request."""
    fwdbwd_dispatch_bytes_semaphore_size: int = 50 * 1000 * 1000
    """Most estimated forward/backward bytes being dispatched at once."""
    billing_exception_max_pause_duration_sec: int = 60 * 60
    sample_no_retries: bool = False
    sample_enable_stuck_detection: bool = True
    sample_max_concurrent_requests: int = 2000
    use_pyqwest_transport: bool = True
    sample_use_retrieve_futures: bool = False
    """Poll a sampling session's completions with one long-poll instead of per request."""
    custom_loss_server_side: bool = False
    sample_join_sampling_session: bool = False


class ClientDynamicConfigResponse(ResponseModel):
    """Flags a live client re-fetches every ``refresh_interval_sec``."""

    refresh_interval_sec: int = 300
    sample_cancel_enabled: bool = False
    sample_cancel_max_batch_size: int = 64


class SupportedModel(ResponseModel):
    """A model the server can train or sample."""

    model_name: str | None = None
    max_context_length: int | None = None
    trainable: bool | None = None
    sampleable: bool | None = None


class GetServerCapabilitiesResponse(ResponseModel):
    """The models the server supports."""

    supported_models: list[SupportedModel]


class HealthResponse(ResponseModel):
    """The server is up."""

    status: Literal["ok"]


class AuthTokenResponse(ResponseModel):
    """A short-lived JWT exchanged for the API key."""

    jwt: str


class ApiKeyOrgDetails(ResponseModel):
    """The organization an API key was minted under."""

    name: str


class ApiKeyUserDetails(ResponseModel):
    """The user an API key was minted for."""

    email: str


class ApiKeyDetails(ResponseModel):
    """Who an API key belongs to."""

    org_details: ApiKeyOrgDetails
    user_details: ApiKeyUserDetails


class SelfApiKeyResponse(ResponseModel):
    """Metadata of the API key that made the request (``tinker auth login``)."""

    key_id: int
    name: str
    note: str
    details: ApiKeyDetails


class WhoamiResponse(ResponseModel):
    """The calling principal."""

    user_urn: str
    org_urn: str
    email: str | None = None
