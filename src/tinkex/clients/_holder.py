"""`ClientHolder`: the core every Tinker client of one `ServiceClient` shares.

It owns the pristine `Pipeline` (the Tinker manifest, credentials, retries, timeouts), the
private event-loop thread the clients' coroutines run on, the server session (client config,
`create_session`, a background heartbeat, the telemetry reporter when enabled) and the
per-session counters the service expects (`model_seq_id` for training clients,
`sampling_session_seq_id` for sampling sessions).

Stable API for the clients (`SamplingHolder`/`RestHolder` in sampling.py/rest.py):
`pipeline`, `loop`, `api_key`, `base_url`, `session_id`, `telemetry`,
`run_coroutine_threadsafe(coro) -> APIFuture`, `run_sync(coro)`, `get_client_config()`,
`get_session_id()`, `await ensure_session()` (alias `await get_session_id_async()`),
`await create_sampling_session(model_path=, base_model=)`, `next_model_seq_id()`,
`next_sampling_session_seq_id()`, `await wait_future(...)`, `get_shadow_holder(...)`,
`sessionless(...)`, `close()`, `await aclose()`; for custom losses and training calls
`next_custom_loss_seq_id()`, `register_custom_loss(key, name)`,
`await call_with_retries(endpoint_id, payload)` and `get_client_dynamic_config()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Self, TypeVar

import anyio

from pristine.adapters.auth import ApiKeyHeader
from pristine.context import Context
from pristine.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    NotFoundError,
    PaymentRequiredError,
)
from pristine.futures import QueueState, poll_future
from pristine.pipeline import Pipeline
from pristine.ports.clock import Clock, SystemClock
from pristine.ports.transport import RawResponse, TransportFactory
from pristine.session import Heartbeat
from pristine.sync import LoopBoundPipeline, LoopThread
from tinkex import types
from tinkex.api_manifest import load_tinker_manifest
from tinkex.clients._registry import WireRegistry, tinker_registry
from tinkex.clients.billing import FUTURE_POLICY, BillingPause
from tinkex.clients.credentials import resolve_api_key, resolve_base_url
from tinkex.clients.future import LOOP_THREAD_NAME, APIFuture
from tinkex.clients.telemetry import TelemetryReporter
from tinkex.proto.responses import PROTO_RESPONSE_DECODERS, decode_proto_response

__all__ = ["SDK_VERSION", "ClientHolder", "WireRegistry"]  # WireRegistry: re-exported for tests

T = TypeVar("T")
R = TypeVar("R")

SDK_VERSION = "0.38.0"
"""The official SDK version tinkex speaks; the service gates features on it."""

PROTOBUF = "application/x-protobuf"
MIN_DYNAMIC_REFRESH_S = 10.0
HOLDER_RETRY_S = 300.0
"""How long a call keeps being retried after transient failures (the official holder's limit):
a lost connection must not fail a save, whose endpoint has no HTTP-level retries."""
_logger = logging.getLogger("tinkex")


_SHADOWS: dict[tuple[str, str, str | None], ClientHolder] = {}
_SHADOWS_LOCK = threading.Lock()


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
        telemetry: bool = False,
    ) -> None:
        self._api_key = resolve_api_key(api_key)
        self._base_url = resolve_base_url(base_url)
        manifest = load_tinker_manifest()
        registry = tinker_registry(manifest)
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
        self._loop = LoopThread(name=LOOP_THREAD_NAME)
        # Every request runs on the loop thread, whichever loop awaits it: connection pools
        # belong to the loop that opened them.
        self._bound = LoopBoundPipeline(self._pipeline, self._loop)
        self._session_id = session_id
        self._with_session = with_session
        self._session_args = (dict(user_metadata or {}), project_id, display_name)
        self._heartbeat_interval_s = heartbeat_interval_s
        self._config = types.ClientConfigResponse()
        self._config_loaded = False
        self._dynamic_config = types.ClientDynamicConfigResponse()
        self._dynamic_config_task: asyncio.Future[None] | None = None
        self._session_lock: anyio.Lock | None = None
        self._stop_heartbeat: anyio.Event | None = None
        self._heartbeat_done: Any = None
        self._model_seq_ids = itertools.count()
        self._sampling_seq_ids = itertools.count()
        self._custom_loss_seq_ids = itertools.count()
        self._custom_loss_keys: dict[str, str] = {}
        self._counter_lock = threading.Lock()
        self._telemetry_on = telemetry
        self._telemetry: TelemetryReporter | None = None
        self._telemetry_task: asyncio.Future[None] | None = None
        self._billing = BillingPause(
            self._context.clock, lambda: self._config.billing_exception_max_pause_duration_sec
        )
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
        """A core joined to an existing session (for clients unpickled in another process).

        One per (session, base URL, key) and process, so that unpickling many clients does not
        start many loop threads; a closed one is replaced.
        """
        key = (session_id, base_url, api_key)
        with _SHADOWS_LOCK:
            shadow = _SHADOWS.get(key)
            if shadow is None or shadow._closed:
                shadow = _SHADOWS[key] = cls(
                    base_url=base_url, api_key=api_key, session_id=session_id
                )
            return shadow

    # -- what the clients use -----------------------------------------------------------------

    @property
    def pipeline(self) -> LoopBoundPipeline:
        return self._bound

    @property
    def loop(self) -> LoopThread:
        """The private event-loop thread every coroutine of this core runs on."""
        return self._loop

    @property
    def telemetry(self) -> TelemetryReporter | None:
        """The session's telemetry reporter, once the session exists and when enabled."""
        return self._telemetry

    @property
    def api_key(self) -> str | None:
        return self._api_key

    @property
    def billing(self) -> BillingPause:
        """The session's billing (402) incident, shared by submissions, sampling and polls."""
        return self._billing

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
        """Run `coro` and wait for it (warns from inside a running event loop, as
        `APIFuture.result()` does)."""
        return self.run_coroutine_threadsafe(coro).result(timeout)

    def get_client_config(self) -> types.ClientConfigResponse:
        """The server's feature flags (defaults until the session has started)."""
        return self._config

    def get_client_dynamic_config(self) -> types.ClientDynamicConfigResponse:
        """The server's refreshable flags: defaults until the session has started, then
        re-fetched every `refresh_interval_sec` (at least 10 s), keeping the last good
        values when a refresh fails."""
        return self._dynamic_config

    @property
    def session_id(self) -> str | None:
        """The session id if the session exists already (never contacts the server)."""
        return self._session_id

    def get_session_id(self) -> str:
        """The session id, creating the session on first use (blocks; from a coroutine on
        the loop thread use `await get_session_id_async()`)."""
        if self._session_id is not None:
            return self._session_id
        if not self._with_session:
            raise RuntimeError(
                "this client core is sessionless (REST calls only) and has no Tinker session; "
                "use a ServiceClient to open one"
            )
        return self._loop.run(self.ensure_session())

    def next_model_seq_id(self) -> int:
        """The next `model_seq_id` for a training client of this session."""
        with self._counter_lock:
            return next(self._model_seq_ids)

    def next_sampling_session_seq_id(self) -> int:
        """The next `sampling_session_seq_id` of this session."""
        with self._counter_lock:
            return next(self._sampling_seq_ids)

    def next_custom_loss_seq_id(self) -> int:
        """The next `custom_loss_seq_id` of this session."""
        with self._counter_lock:
            return next(self._custom_loss_seq_ids)

    def register_custom_loss(self, key: str, name: str) -> None:
        """Remember a traced loss by its key; creating the same loss twice is refused."""
        with self._counter_lock:
            existing = self._custom_loss_keys.get(key)
            if existing is None:
                self._custom_loss_keys[key] = name
                return
        raise ValueError(
            f"create_custom_loss: this session already created {existing!r} from the same "
            "traced loss; reuse its LossHandle"
        )

    async def ensure_session(self) -> str:
        """Fetch the client config and the dynamic config, create the session (once), start
        the heartbeat and the dynamic-config refresh."""
        if self._session_lock is None:
            self._session_lock = anyio.Lock()
        async with self._session_lock:
            if not self._config_loaded:
                self._config = await self._bound.call(
                    "client_config", types.ClientConfigRequest(sdk_version=SDK_VERSION)
                )
                self._dynamic_config = await self._fetch_dynamic_config() or self._dynamic_config
                self._config_loaded = True
            if self._session_id is None:
                self._session_id = await self._create_session()
            if self._with_session and self._dynamic_config_task is None:
                self._dynamic_config_task = asyncio.ensure_future(self._refresh_dynamic_config())
            if self._with_session and self._stop_heartbeat is None:
                self._stop_heartbeat = anyio.Event()
                self._heartbeat_done = asyncio.ensure_future(self._keep_alive(self._session_id))
            if self._telemetry_on and self._telemetry is None:
                self._telemetry = TelemetryReporter(self._pipeline, session_id=self._session_id)
                self._telemetry_task = asyncio.ensure_future(self._telemetry.run())
            return self._session_id

    async def get_session_id_async(self) -> str:
        """The session id, creating the session (and starting its heartbeat) on first use."""
        return await self.ensure_session()

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
        response: types.CreateSamplingSessionResponse = await self._bound.call(
            "create_sampling_session", request
        )
        return response.sampling_session_id

    async def call_with_retries(
        self, endpoint_id: str, payload: object = None, *, headers: Mapping[str, str] | None = None
    ) -> Any:
        """`pipeline.call`, paused and repeated (same idempotency key) while the service
        answers 402, up to the billing pause limit (see `tinkex.clients.billing`), and after
        transient failures (backoff 1, 2, 4 ... 30 s) for up to `HOLDER_RETRY_S`."""
        idempotency_key = str(uuid.uuid4())
        clock = self._context.clock
        started, attempt = clock.monotonic(), 0
        while True:
            try:
                return await self._bound.call(
                    endpoint_id, payload, headers=headers, idempotency_key=idempotency_key
                )
            except PaymentRequiredError as error:
                await self._billing.wait(error, endpoint_id)
            except (APIConnectionError, APIStatusError) as error:
                left = started + HOLDER_RETRY_S - clock.monotonic()
                if not _transient(error) or left <= 0:
                    raise
                await clock.sleep(min(2.0**attempt, 30.0, left))
                attempt += 1

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
            return await self._bound.send_once(
                "retrieve_future",
                types.FutureRetrieveRequest(request_id=handle.request_id),
                headers={"Accept": accept, "X-Tinker-Request-Type": request_type},
            )

        result = await poll_future(
            poll_once,
            request_id=handle.request_id,
            policy=FUTURE_POLICY,
            clock=self._context.clock,
            on_queue_state=on_queue_state,
            on_pause=self._billing.on_pause(endpoint_id),
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
        """Stop the heartbeat, send the last telemetry, close the connections (on the loop)."""
        if self._dynamic_config_task is not None:
            self._dynamic_config_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dynamic_config_task
        if self._telemetry_task is not None:
            self._telemetry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._telemetry_task
            self._telemetry_task = None
        if self._telemetry is not None:
            await self._telemetry.aclose()
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
        response: types.CreateSessionResponse = await self._bound.call("create_session", request)
        for message, log in (
            (response.info_message, _logger.info),
            (response.warning_message, _logger.warning),
            (response.error_message, _logger.error),
        ):
            if message:
                log(message)
        return response.session_id

    async def _fetch_dynamic_config(self) -> types.ClientDynamicConfigResponse | None:
        """The server's dynamic flags; defaults from a server without the endpoint (404),
        None when the fetch failed (the caller keeps what it has)."""
        try:
            fetched: types.ClientDynamicConfigResponse = await self._bound.call(
                "client_dynamic_config", types.ClientConfigRequest(sdk_version=SDK_VERSION)
            )
        except NotFoundError:
            return types.ClientDynamicConfigResponse()
        except APIError as error:
            _logger.debug("dynamic client config fetch failed, keeping the last: %s", error)
            return None
        return fetched

    async def _refresh_dynamic_config(self) -> None:
        while True:
            interval = max(self._dynamic_config.refresh_interval_sec, MIN_DYNAMIC_REFRESH_S)
            await self._context.clock.sleep(interval)
            self._dynamic_config = await self._fetch_dynamic_config() or self._dynamic_config

    async def _keep_alive(self, session_id: str) -> None:
        async def beat() -> None:
            await self._bound.call(
                "session_heartbeat", types.SessionHeartbeatRequest(session_id=session_id)
            )

        assert self._stop_heartbeat is not None
        heartbeat = Heartbeat(
            beat, interval_s=self._heartbeat_interval_s, clock=self._context.clock
        )
        async with heartbeat:
            await self._stop_heartbeat.wait()


def _transient(error: APIConnectionError | APIStatusError) -> bool:
    """Worth another holder-level attempt: a lost connection, 408/409/429 or a 5xx."""
    if isinstance(error, APIConnectionError):
        return True
    return error.status_code in (408, 409, 429) or 500 <= error.status_code < 600
