"""What every route needs, opened when the server starts and closed when it stops.

The runtime lives in Starlette's lifespan state (`request.state.runtime`): the store, the
future registry, the request queue (whose worker threads run torch), the workbench and the
signer of download URLs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request

from pristine.ports.clock import Clock, SystemClock
from tinkex.local.app.provenance import SequenceRecords
from tinkex.local.app.signing import UrlSigner
from tinkex.local.app.workbench import Workbench
from tinkex.local.config import ServerConfig
from tinkex.local.futures import FutureRegistry
from tinkex.local.queue import RequestQueue
from tinkex.local.store import Store

__all__ = [
    "SWEEP_INTERVAL_S",
    "Lifespan",
    "Runtime",
    "lifespan_for",
    "owner_of_request",
    "runtime_of",
    "sweep_forever",
]

SWEEP_INTERVAL_S = 60.0


@dataclass(frozen=True)
class Runtime:
    """The server's long-lived objects, shared by every request."""

    config: ServerConfig
    clock: Clock
    store: Store
    registry: FutureRegistry
    queue: RequestQueue
    workbench: Workbench
    signer: UrlSigner = field(default_factory=UrlSigner)
    sequences: SequenceRecords = field(default_factory=SequenceRecords)
    """Samples recorded with `record_stability_info`, for `stable_reinforce`."""


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.state.runtime
    return runtime


def owner_of_request(request: Request) -> str:
    owner: str = request.state.owner
    return owner


Lifespan = Callable[[Starlette], AbstractAsyncContextManager[dict[str, Runtime]]]


def lifespan_for(config: ServerConfig) -> Lifespan:
    """A Starlette lifespan that opens the store and queue and always closes them."""
    clock = SystemClock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Runtime]]:
        store = Store.open(config.data_dir, clock=clock)
        try:
            registry = FutureRegistry(
                clock=clock, journal=store.futures, retention_s=config.future_retention_s
            )
            queue = RequestQueue(
                registry,
                clock=clock,
                max_concurrent_samples=config.max_concurrent_samples,
                gap_timeout_s=config.gap_timeout_s,
                max_queued=config.max_queued,
            )
            async with queue, anyio.create_task_group() as housekeeping:
                housekeeping.start_soon(sweep_forever, store, registry, clock)
                workbench = Workbench(config.models, store, config.model_aliases)
                yield {"runtime": Runtime(config, clock, store, registry, queue, workbench)}
                housekeeping.cancel_scope.cancel()
        finally:
            store.close()

    return lifespan


async def sweep_forever(store: Store, registry: FutureRegistry, clock: Clock) -> None:
    """Delete checkpoints past their TTL and results past their retention, once a minute."""
    while True:
        await anyio.to_thread.run_sync(store.checkpoints.sweep_expired, clock.wall())
        registry.prune()
        await clock.sleep(SWEEP_INTERVAL_S)
