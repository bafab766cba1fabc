"""An API described as data: endpoints, retry policies and connection pools.

`load_manifest(source)` validates a whole manifest at once and reports EVERY problem with its
field path (`endpoints[3].path: ...`) in one `ManifestError`, so a manifest author fixes them in
one pass instead of one per run.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "CircuitBreakerPolicy",
    "Defaults",
    "Endpoint",
    "FutureSpec",
    "Manifest",
    "ManifestError",
    "ManifestIssue",
    "PoolPolicy",
    "RetryPolicy",
    "load_manifest",
]

DEFAULT_POOL = "default"
DEFAULT_RETRY = "default"
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
RequestEncoding = Literal["json", "protobuf", "raw", "multipart"]
ResponseEncoding = Literal["json", "protobuf", "raw"]
Compression = Literal["none", "gzip", "zstd"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FOREIGN_PARAM = re.compile(r"(?:^|/):[A-Za-z_]\w*|<[^>/]+>")


class _Model(BaseModel):
    """Strict, immutable base: an unknown key is a typo, so it is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(_Model):
    """How one call retries: attempts, exponential backoff with jitter, and an overall deadline."""

    max_attempts: int = Field(3, ge=1, description="total tries, including the first")
    base_delay_s: float = Field(0.5, ge=0)
    max_delay_s: float = Field(10.0, ge=0)
    jitter: float = Field(0.25, ge=0, le=1, description="fraction of the delay randomised")
    deadline_s: float = Field(300.0, gt=0, description="overall budget across attempts")
    retry_on_status: tuple[int, ...] = (408, 409, 429, 500, 502, 503, 504)
    retry_on_connection_errors: bool = True
    respect_retry_after: bool = True
    max_retry_after_s: float = Field(60.0, ge=0)


class CircuitBreakerPolicy(_Model):
    """Open after `failure_threshold` consecutive failures; probe again after the reset timeout."""

    failure_threshold: int = Field(5, ge=1)
    reset_timeout_s: float = Field(30.0, gt=0)


class PoolPolicy(_Model):
    """One connection pool and the admission control shared by every call routed to it."""

    max_connections: int = Field(100, ge=1)
    max_keepalive_connections: int = Field(20, ge=0)
    http2: bool = False
    concurrency: int | None = Field(None, ge=1, description="max calls in flight, null = no cap")
    bytes_budget: int | None = Field(None, ge=1, description="request bytes in flight")
    circuit_breaker: CircuitBreakerPolicy | None = None
    share_rate_limit_window: bool = Field(
        True, description="one 429 pauses every call on this pool, not just the one that got it"
    )


class FutureSpec(_Model):
    """The endpoint answers with a request id that is polled on `poll_endpoint` until done."""

    poll_endpoint: str
    request_id_field: str = "request_id"


class Defaults(_Model):
    """Values every endpoint inherits unless it sets its own."""

    timeout_s: float = Field(60.0, gt=0)
    retry: str = DEFAULT_RETRY
    headers: dict[str, str] = Field(default_factory=dict)
    pool: str = DEFAULT_POOL


class Endpoint(_Model):
    """One operation of the API. Unset `timeout_s`/`retry`/`pool` come from `Defaults`."""

    id: str = Field(min_length=1)
    method: HttpMethod
    path: str
    resource: str | None = None
    description: str | None = None
    request: str | None = None
    response: str | None = None
    request_encoding: RequestEncoding = "json"
    response_encoding: ResponseEncoding = "json"
    accept: str | None = None
    compress_request: Compression = "none"
    future: FutureSpec | None = None
    streaming: bool = False
    timeout_s: float | None = Field(None, gt=0)
    retry: str | None = None
    idempotency_header: str | None = None
    pool: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    deprecated: bool = False
    tags: tuple[str, ...] = ()

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _check_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        foreign = _FOREIGN_PARAM.search(path)
        if foreign:
            found = foreign.group(0).lstrip("/")
            raise ValueError(f"path params must use {{param}} syntax, got {found!r}")
        return path

    @cached_property
    def path_params(self) -> tuple[str, ...]:
        """Names of the `{param}` placeholders, in order (parsed once: read on every call)."""
        return tuple(_PARAM.findall(self.path))


class Manifest(_Model):
    """A whole API. Build it with `load_manifest`, which checks cross references too."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str | None = None
    base_url: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    retry_policies: dict[str, RetryPolicy] = Field(default_factory=dict)
    pools: dict[str, PoolPolicy] = Field(default_factory=dict)
    types: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...]

    def endpoint(self, endpoint_id: str) -> Endpoint:
        """The endpoint with this id; the error lists the ids that do exist."""
        endpoint = self._by_id.get(endpoint_id)
        if endpoint is not None:
            return endpoint
        known = ", ".join(e.id for e in self.endpoints)
        raise KeyError(f"unknown endpoint id {endpoint_id!r}; this manifest has: {known}")

    @cached_property
    def _by_id(self) -> dict[str, Endpoint]:
        """Endpoints by id, built once: every call looks its endpoint up."""
        return {endpoint.id: endpoint for endpoint in self.endpoints}

    def retry_policy(self, endpoint: Endpoint) -> RetryPolicy:
        """The endpoint's policy, else the default; an undeclared default is RetryPolicy()."""
        name = endpoint.retry or self.defaults.retry
        return self.retry_policies.get(name, RetryPolicy())

    def pool_name(self, endpoint: Endpoint) -> str:
        return endpoint.pool or self.defaults.pool

    def pool_policy(self, endpoint: Endpoint) -> PoolPolicy:
        return self.pools.get(self.pool_name(endpoint), PoolPolicy())

    def timeout_s(self, endpoint: Endpoint) -> float:
        return endpoint.timeout_s or self.defaults.timeout_s

    def headers(self, endpoint: Endpoint) -> dict[str, str]:
        """Default headers merged with the endpoint's, the endpoint winning."""
        return {**self.defaults.headers, **endpoint.headers}


@dataclass(frozen=True, slots=True)
class ManifestIssue:
    """One problem: where (`endpoints[3].path`) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ManifestError(ValueError):
    """The manifest is invalid; `issues` lists every problem found, not only the first."""

    def __init__(self, issues: list[ManifestIssue], source: str = "manifest") -> None:
        self.issues = issues
        self.source = source
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"{source} has {len(issues)} problem(s):\n{lines}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.issues, self.source))


def load_manifest(source: str | Path | Mapping[str, Any]) -> Manifest:
    """Validate a manifest given as a mapping or a `.yaml`/`.yml`/`.json` file path."""
    label = "manifest"
    if isinstance(source, Mapping):
        data: object = source
    else:
        label = str(source)
        data = _read_file(Path(source))
    if not isinstance(data, Mapping):
        raise ManifestError([ManifestIssue("", "a manifest must be a mapping at the top")], label)
    issues: list[ManifestIssue] = []
    manifest: Manifest | None = None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as error:
        issues.extend(_issues_from_pydantic(error))
    issues.extend(_reference_issues(data))
    if issues or manifest is None:
        raise ManifestError(issues, label)
    return manifest


def _read_file(path: Path) -> object:
    suffix = path.suffix.lower()
    if suffix not in {".yaml", ".yml", ".json"}:
        raise ManifestError(
            [ManifestIssue("", f"unsupported file type {suffix!r}; use .yaml, .yml or .json")],
            str(path),
        )
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ManifestError([ManifestIssue("", f"cannot parse: {error}")], str(path)) from error


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _issues_from_pydantic(error: ValidationError) -> list[ManifestIssue]:
    issues = []
    for detail in error.errors():
        loc = detail["loc"]
        if detail["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}; remove it or check its spelling"
        else:
            message = detail["msg"].removeprefix("Value error, ")
        issues.append(ManifestIssue(_format_loc(loc), message))
    return issues


def _reference_issues(data: Mapping[str, Any]) -> list[ManifestIssue]:
    """Cross-reference checks on the raw data, so they run even when fields are invalid."""
    endpoints = data.get("endpoints")
    if not isinstance(endpoints, list):
        return []
    entries = [(i, e) for i, e in enumerate(endpoints) if isinstance(e, Mapping)]
    # The implicit "default" retry policy and pool need no declaration.
    policies = _names(data.get("retry_policies")) | {DEFAULT_RETRY}
    pools = _names(data.get("pools")) | {DEFAULT_POOL}
    ids = Counter(e.get("id") for _, e in entries)
    issues = []
    defaults = data.get("defaults")
    if isinstance(defaults, Mapping):
        issues += _check_ref(defaults.get("retry"), policies, "defaults.retry", "retry_policies")
        issues += _check_ref(defaults.get("pool"), pools, "defaults.pool", "pools")
    for index, entry in entries:
        where = f"endpoints[{index}]"
        endpoint_id = entry.get("id")
        if isinstance(endpoint_id, str) and ids[endpoint_id] > 1:
            issues.append(
                ManifestIssue(f"{where}.id", f"duplicate endpoint id {endpoint_id!r}; ids are keys")
            )
        issues += _check_ref(entry.get("retry"), policies, f"{where}.retry", "retry_policies")
        issues += _check_ref(entry.get("pool"), pools, f"{where}.pool", "pools")
        future = entry.get("future")
        if isinstance(future, Mapping):
            known_ids = {i for i in ids if isinstance(i, str)}
            poll = future.get("poll_endpoint")
            issues += _check_ref(poll, known_ids, f"{where}.future.poll_endpoint", "endpoints")
    return issues


def _names(section: object) -> set[str]:
    return set(section) if isinstance(section, Mapping) else set()


def _check_ref(name: object, known: set[str], where: str, section: str) -> list[ManifestIssue]:
    if not isinstance(name, str) or name in known:
        return []
    choices = ", ".join(sorted(known)) or "none declared"
    return [ManifestIssue(where, f"{name!r} is not defined in {section} (known: {choices})")]
