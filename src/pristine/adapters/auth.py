"""Auth adapters: API key header, bearer token, a custom callable, or nothing."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping

__all__ = ["ApiKeyHeader", "BearerToken", "CustomAuth", "NoAuth"]

TokenSource = str | Callable[[], str | Awaitable[str]]


async def _resolve(value: str | Awaitable[str]) -> str:
    return await value if inspect.isawaitable(value) else value


class NoAuth:
    """No credentials (public APIs, local servers)."""

    async def headers(self) -> Mapping[str, str]:
        return {}

    def secrets(self) -> tuple[str, ...]:
        return ()


class ApiKeyHeader:
    """The key in a named header, e.g. `X-API-Key: tml-...`."""

    def __init__(self, name: str, key: str) -> None:
        if not name or not key:
            raise ValueError("ApiKeyHeader needs a header name and a non-empty key")
        self._name = name
        self._key = key

    async def headers(self) -> Mapping[str, str]:
        return {self._name: self._key}

    def secrets(self) -> tuple[str, ...]:
        return (self._key,)

    def __repr__(self) -> str:
        return f"ApiKeyHeader({self._name!r}, key=***)"


class BearerToken:
    """`Authorization: Bearer <token>`; a callable token is asked on every attempt (refresh)."""

    def __init__(self, token: TokenSource) -> None:
        self._token = token
        self._seen: tuple[str, ...] = (token,) if isinstance(token, str) else ()

    async def headers(self) -> Mapping[str, str]:
        token = self._token if isinstance(self._token, str) else await _resolve(self._token())
        if token not in self._seen:
            self._seen = (*self._seen, token)
        return {"Authorization": f"Bearer {token}"}

    def secrets(self) -> tuple[str, ...]:
        return self._seen

    def __repr__(self) -> str:
        return "BearerToken(***)"


class CustomAuth:
    """Any header-producing callable, sync or async; list its secret values for redaction."""

    def __init__(
        self,
        build: Callable[[], Mapping[str, str] | Awaitable[Mapping[str, str]]],
        *,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._build = build
        self._secrets = secrets

    async def headers(self) -> Mapping[str, str]:
        result = self._build()
        return await result if inspect.isawaitable(result) else result

    def secrets(self) -> tuple[str, ...]:
        return self._secrets
