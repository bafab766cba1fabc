"""The transport port: send one HTTP request, get one raw answer. No retry, no classification."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from pristine.errors import APIResponseValidationError

if TYPE_CHECKING:
    from pristine.manifest import PoolPolicy

__all__ = ["RawRequest", "RawResponse", "StreamedResponse", "Transport", "TransportFactory"]


@dataclass(frozen=True, slots=True)
class RawRequest:
    """One fully built HTTP request: the body is already serialised and compressed."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class RawResponse:
    """One HTTP attempt's answer, not yet classified. Header keys are lower-case."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body parsed as JSON; a body that is not JSON is the server's fault, not ours."""
        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError as error:
            preview = self.content[:200].decode("utf-8", "replace")
            raise APIResponseValidationError(
                f"expected a JSON body (HTTP {self.status}), got {preview!r}: {error}",
                body=preview,
            ) from error


@dataclass(frozen=True, slots=True)
class StreamedResponse:
    """Status and headers of a response whose body arrives as chunks (e.g. SSE)."""

    status: int
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]


class Transport(Protocol):
    """Moves bytes. Adapters translate their library's errors to `APIConnectionError`."""

    async def send(self, request: RawRequest) -> RawResponse:
        """Send and read the whole body (still Content-Encoded: decoding is a pipeline stage)."""
        ...

    def stream(self, request: RawRequest) -> AbstractAsyncContextManager[StreamedResponse]:
        """Send and hand back the body as it arrives; closing the context ends the stream."""
        ...

    async def aclose(self) -> None: ...


TransportFactory = Callable[[str, "PoolPolicy"], Transport]
"""Builds the transport of one pool from its name and policy (tests swap it)."""
