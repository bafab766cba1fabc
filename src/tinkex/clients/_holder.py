"""`ClientHolder`: the core every Tinker client of one `ServiceClient` shares.

It owns the pristine `Pipeline` (the Tinker manifest, credentials, retries, timeouts), the
private event-loop thread the clients' coroutines run on, the server session (client config,
`create_session`, a background heartbeat) and the per-session counters the service expects
(`model_seq_id` for training clients, `sampling_session_seq_id` for sampling sessions).

Stable API for the clients (`SamplingHolder`/`RestHolder` in sampling.py/rest.py):
`pipeline`, `api_key`, `base_url`, `run_coroutine_threadsafe(coro) -> APIFuture`,
`get_client_config()`, `get_session_id()`, `await ensure_session()`,
`await create_sampling_session(model_path=, base_model=)`, `next_model_seq_id()`,
`next_sampling_session_seq_id()`, `await wait_future(...)`, `get_shadow_holder(...)`,
`sessionless(...)`, `close()`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import warnings
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Self, TypeVar

import anyio

from pristine.adapters.auth import ApiKeyHeader
from pristine.adapters.registry import PydanticRegistry
from pristine.context import Context
from pristine.futures import FuturePolicy, QueueState, poll_future
from pristine.pipeline import Pipeline
from pristine.ports.clock import Clock, SystemClock
from pristine.ports.registry import Encoding
from pristine.ports.transport import RawResponse, TransportFactory
from pristine.session import Heartbeat
from pristine.sync import LoopThread
from tinkex import types
from tinkex.api_manifest import load_tinker_manifest
from tinkex.clients.credentials import resolve_api_key, resolve_base_url
from tinkex.clients.future import APIFuture
from tinkex.proto.responses import PROTO_RESPONSE_DECODERS, decode_proto_response
from tinkex.types._base import WireModel

__all__ = ["SDK_VERSION", "ClientHolder", "WireRegistry"]

T = TypeVar("T")
R = TypeVar("R")

SDK_VERSION = "0.38.0"
"""The official SDK version tinkex speaks; the service gates features on it."""

PROTOBUF = "application/x-protobuf"
_logger = logging.getLogger("tinkex")


class WireRegistry(PydanticRegistry):
    """Encodes request models exactly as the wire wants them (`to_json_bytes`)."""

    def encode(self, type_name: str, value: object, encoding: Encoding) -> bytes:
        model = self.model(type_name)
        instance = value if isinstance(value, model) else model.model_validate(value)
        if isinstance(instance, WireModel):
            return instance.to_json_bytes()
        return super().encode(type_name, instance, encoding)


class ClientHolder:
    """Pipeline + loop thread + session + heartbeat + seq-id counters of one service client."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        session_id: str | None = None,
        user_metadata: Mapping[str, str] | None = None,
        project_id: str | None = None,
        display_name: str | None = None,
        default_headers: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        transport_factory: TransportFactory | None = None,
        heartbeat_interval_s: float = 10.0,
        with_session: bool = True,
    ) -> None:
        self._api_key = resolve_api_key(api_key)
        self._base_url = resolve_base_url(base_url)
        manifest = load_tinker_manifest()
        registry = WireRegistry({name: getattr(types, name) for name in manifest.types})
        extra: dict[str, Any] = {}
        if transport_factory is not None:
            extra["transport_factory"] = transport_factory
        self._context = Context(
            base_url=self._base_url,
            auth=ApiKeyHeader("X-API-Key", self._api_key),
            headers=dict(default_headers or {}),
            registry=registry,
            clock=clock or SystemClock(),
            **extra,
        )
        self._pipeline = Pipeline(manifest, self._context)
        self._loop = LoopThread(name="tinkex-loop")
        self._session_id = session_id
        self._with_session = with_session
        self._session_args = (dict(user_metadata or {}), project_id, display_name)
        self._heartbeat_interval_s = heartbeat_interval_s
        self._config = types.ClientConfigResponse()
        self._config_loaded = False
        self._session_lock: anyio.Lock | None = None
        self._stop_heartbeat: anyio.Event | None = None
        self._heartbeat_done: Any = None
        self._model_seq_ids = itertools.count()
        self._sampling_seq_ids = itertools.count()
        self._counter_lock = threading.Lock()
        self._closed = False

    # -- construction variants ----------------------------------------------------------------

    @classmethod
    def sessionless(cls, *, base_url: str | None = None, api_key: str | None = None) -> Self:
        """A core for REST calls only: no session is created and no heartbeat runs."""
        return cls(base_url=base_url, api_key=api_key, with_session=False)

    @classmethod
    def get_shadow_holder(
        cls, session_id: str, *, base_url: str, api_key: str | None
    ) -> ClientHolder:
        """A core joined to an existing session (for clients unpickled in another process)."""
        return cls(base_url=base_url, api_key=api_key, session_id=session_id)

    # -- what the clients use -----------------------------------------------------------------

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline

    @property
    def api_key(self) -> str | None:
        return self._api_key

    @property
    def base_url(self) -> str:
        return self._base_url

    def run_coroutine_threadsafe(self, coro: Coroutine[Any, Any, T]) -> APIFuture[T]:
        """Run `coro` on the private loop thread; returns at once with its `APIFuture`."""
        if self._closed:
            coro.close()
            raise RuntimeError("this client is closed; create a new ServiceClient")
        return APIFuture[T]().chain(self._loop.submit(coro))

    def run_sync(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` and wait for it; warns when called from inside a running event loop
        (the caller's loop is blocked meanwhile: use the `_async` twin there)."""
        if _in_running_loop():
            warnings.warn(
                "a blocking Tinker client method was called from inside a running event loop, "
                "which blocks that loop until it returns; use the method's `_async` twin",
                RuntimeWarning,
                stacklevel=3,
            )
        return self.run_coroutine_threadsafe(coro).result(timeout)

    def get_client_config(self) -> types.ClientConfigResponse:
        """The server's feature flags (defaults until the session has started)."""
        return self._config

    def get_session_id(self) -> str:
        """The session id; raises when the session has not been created yet."""
        if self._session_id is None:
            raise RuntimeError(
                "the Tinker session has not been created yet; call a ServiceClient factory "
                "method (it creates the session) before this"
            )
        return self._session_id

    def next_model_seq_id(self) -> int:
        """The next `model_seq_id` for a training client of this session."""
        with self._counter_lock:
            return next(self._model_seq_ids)

    def next_sampling_session_seq_id(self) -> int:
        """The next `sampling_session_seq_id` of this session."""
        with self._counter_lock:
            return next(self._sampling_seq_ids)

    async def ensure_session(self) -> str:
        """Fetch the client config and create the session (once), start the heartbeat."""
        if self._session_lock is None:
            self._session_lock = anyio.Lock()
        async with self._session_lock:
            if not self._config_loaded:
                self._config = await self._pipeline.call(
                    "client_config", types.ClientConfigRequest(sdk_version=SDK_VERSION)
                )
                self._config_loaded = True
            if self._session_id is None:
                self._session_id = await self._create_session()
            if self._with_session and self._stop_heartbeat is None:
                self._stop_heartbeat = anyio.Event()
                self._heartbeat_done = asyncio.ensure_future(self._keep_alive(self._session_id))
            return self._session_id

    async def create_sampling_session(
        self, *, model_path: str | None, base_model: str | None
    ) -> str:
        """Open a sampling session in this session; its `sampling_session_id`."""
        session_id = await self.ensure_session()
        request = types.CreateSamplingSessionRequest(
            session_id=session_id,
            sampling_session_seq_id=self.next_sampling_session_seq_id(),
            base_model=base_model,
            model_path=model_path,
        )
        response: types.CreateSamplingSessionResponse = await self._pipeline.call(
            "create_sampling_session", request
        )
        return response.sampling_session_id

    async def wait_future(
        self,
        handle: types.UntypedAPIFuture,
        result_type: type[R],
        *,
        endpoint_id: str,
        request_type: str,
        on_queue_state: Callable[[QueueState], None] | None = None,
    ) -> R:
        """Poll the future the service answered with until its result, decoded as
        `result_type` (protobuf when the service sends it, JSON otherwise)."""
        accept = PROTOBUF if result_type in PROTO_RESPONSE_DECODERS else "application/json"

        async def poll_once(attempt: int) -> RawResponse:
            return await self._pipeline.send_once(
                "retrieve_future",
                types.FutureRetrieveRequest(request_id=handle.request_id),
                headers={"Accept": accept, "X-Tinker-Request-Type": request_type},
            )

        result = await poll_future(
            poll_once,
            request_id=handle.request_id,
            policy=FuturePolicy(),
            clock=self._context.clock,
            on_queue_state=on_queue_state,
            telemetry=self._context.telemetry,
            endpoint_id=endpoint_id,
            rng=self._context.rng,
        )
        content_type = result.headers.get("content-type", "")
        if PROTOBUF in content_type:
            return decode_proto_response(
                result.content,
                result_type,
                content_encoding=result.headers.get("content-encoding"),
            )
        validate: Callable[[bytes], R] = result_type.model_validate_json  # type: ignore[attr-defined]
        return validate(result.content)

    def close(self) -> None:
        """Stop the heartbeat, close the connections and the loop thread (idempotent)."""
        if self._closed:
            return
        self._loop.run(self.aclose())
        self.stop_loop()

    async def aclose(self) -> None:
        """Stop the heartbeat and close the connections (on the loop thread)."""
        if self._stop_heartbeat is not None:
            self._stop_heartbeat.set()
            await self._heartbeat_done
            self._stop_heartbeat = None
        await self._pipeline.aclose()

    def stop_loop(self) -> None:
        """Refuse new work and stop the loop thread; call it from any other thread."""
        self._closed = True
        self._loop.close()

    # -- internals ----------------------------------------------------------------------------

    async def _create_session(self) -> str:
        user_metadata, project_id, display_name = self._session_args
        tags = os.environ.get("TINKER_TAGS")
        request = types.CreateSessionRequest(
            tags=sorted(set(tags.split(","))) if tags else [],
            user_metadata=user_metadata,
            sdk_version=SDK_VERSION,
            project_id=project_id,
            display_name=display_name,
        )
        response: types.CreateSessionResponse = await self._pipeline.call("create_session", request)
        for message, log in (
            (response.info_message, _logger.info),
            (response.warning_message, _logger.warning),
            (response.error_message, _logger.error),
        ):
            if message:
                log(message)
        return response.session_id

    async def _keep_alive(self, session_id: str) -> None:
        async def beat() -> None:
            await self._pipeline.call(
                "session_heartbeat", types.SessionHeartbeatRequest(session_id=session_id)
            )

        assert self._stop_heartbeat is not None
        heartbeat = Heartbeat(
            beat, interval_s=self._heartbeat_interval_s, clock=self._context.clock
        )
        async with heartbeat:
            await self._stop_heartbeat.wait()


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
