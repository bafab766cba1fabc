"""Helpers of the reliability suite, imported by its tests as ``reliability_kit``.

`TINKEX_SOAK=1` (what `make soak` sets) turns every scaled test into its long version.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from pristine.context import Context
from pristine.manifest import PoolPolicy
from pristine.ports.transport import RawRequest, RawResponse, StreamedResponse, Transport
from tinkex import types

SOAK = os.environ.get("TINKEX_SOAK", "") not in ("", "0")
API_KEY = "tml-reliability-test-key"


def scaled(normal: int, soak: int) -> int:
    """The size of a test: `soak` under `make soak`, `normal` in the everyday suite."""
    return soak if SOAK else normal


@dataclasses.dataclass(frozen=True)
class Served:
    """A running server: where it answers and where it keeps its data."""

    url: str
    data_dir: Path


class CappedTimeout:
    """A transport whose per-attempt timeout is at most `cap_s` (the manifest says 45-60 s),
    so that a response held past the deadline costs a test seconds, not minutes."""

    def __init__(self, inner: Transport, cap_s: float) -> None:
        self._inner = inner
        self._cap_s = cap_s

    def _capped(self, request: RawRequest) -> RawRequest:
        return dataclasses.replace(request, timeout_s=min(request.timeout_s, self._cap_s))

    async def send(self, request: RawRequest) -> RawResponse:
        return await self._inner.send(self._capped(request))

    def stream(self, request: RawRequest) -> AbstractAsyncContextManager[StreamedResponse]:
        return self._inner.stream(self._capped(request))

    async def aclose(self) -> None:
        await self._inner.aclose()


def capped_factory(cap_s: float) -> Callable[[str, PoolPolicy], Transport]:
    """A transport factory whose transports never wait longer than `cap_s` per attempt."""

    def build(name: str, pool: PoolPolicy) -> Transport:
        return CappedTimeout(Context().transport_factory(name, pool), cap_s)

    return build


def sl_batch(step: int, length: int = 8) -> list[types.Datum]:
    """One next-token datum that differs per step (tokens inside the tiny model's vocabulary)."""
    tokens = [(7 * step + 3 * i) % 200 + 1 for i in range(length)]
    return [
        types.Datum(
            model_input=types.ModelInput.from_ints(tokens[:-1]),
            loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (length - 1)},
        )
    ]
