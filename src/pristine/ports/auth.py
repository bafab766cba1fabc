"""The auth port: headers that prove who is calling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["Auth"]


class Auth(Protocol):
    """Adds credentials to every attempt. Asked once per attempt, so tokens can refresh."""

    async def headers(self) -> Mapping[str, str]:
        """Headers to add to the request."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Values to mask in error messages, reprs and telemetry."""
        ...
