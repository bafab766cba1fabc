"""`Context`: everything a pipeline needs that is not in the manifest (who, where, how)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from pristine.adapters.auth import NoAuth
from pristine.adapters.transports import default_transport_factory
from pristine.manifest import RetryPolicy
from pristine.ports.auth import Auth
from pristine.ports.clock import Clock, SystemClock
from pristine.ports.registry import TypeRegistry
from pristine.ports.transport import TransportFactory
from pristine.telemetry import NullSink, TelemetrySink

__all__ = ["Context"]

USER_AGENT = "pristine/0.1.0"


@dataclass(frozen=True, kw_only=True)
class Context:
    """Runtime configuration of one client. Holds no mutable state, so it can be shared.

    `timeout_s` overrides the manifest's default timeout (itself 60 s unless the manifest says
    otherwise); `retry_policies` replace manifest policies of the same name; `secrets` are
    extra values to mask in errors and telemetry, on top of those the auth adapter reports.
    """

    base_url: str | None = None
    auth: Auth = field(default_factory=NoAuth)
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    retry_policies: Mapping[str, RetryPolicy] = field(default_factory=dict)
    telemetry: TelemetrySink = field(default_factory=NullSink)
    clock: Clock = field(default_factory=SystemClock)
    registry: TypeRegistry | None = None
    transport_factory: TransportFactory = default_transport_factory
    user_agent: str = USER_AGENT
    secrets: tuple[str, ...] = ()
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.timeout_s is not None and not (
            math.isfinite(self.timeout_s) and self.timeout_s > 0
        ):
            raise ValueError(
                f"Context.timeout_s must be a finite number of seconds > 0, got {self.timeout_s!r}"
            )
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"Context.base_url must start with http:// or https://, got {self.base_url!r}"
            )

    def all_secrets(self) -> tuple[str, ...]:
        """Every value to mask: configured secrets plus the auth adapter's credentials."""
        return (*self.secrets, *self.auth.secrets())
