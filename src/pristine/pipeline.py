"""`Pipeline`: runs any manifest endpoint through the same stages, on one async code path.

Read top to bottom, a call goes:

    prepare_call (URL, body, compression, headers, idempotency key: once per call)
    retry loop:
        _attempt: auth headers -> pool admission (window, slots, bytes, breaker)
                  -> transport -> breaker outcome -> decode Content-Encoding
        classify  (error class, retryable, Retry-After, 429 -> shared backoff window)
        decide    (pure: delay with backoff/jitter, or give up: attempts, deadline)
    _decode_body  (json / raw / protobuf, validated through the type registry)

with telemetry events `request_start`, `request_retry`, `request_stop` and `request_error`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from types import TracebackType
from typing import Any

from pristine.adapters.classify import Failure, classify, classify_error, status_error
from pristine.adapters.compression import decode_body, decoder_for
from pristine.adapters.retry import RetryDecision, RetryState, decide
from pristine.context import Context
from pristine.errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    PristineError,
    RequestInfo,
    redact,
)
from pristine.futures import FuturePolicy, QueueState, poll_future
from pristine.manifest import Endpoint, Manifest, RetryPolicy
from pristine.pools import Pool, Pools
from pristine.ports.transport import RawRequest, RawResponse
from pristine.request_builder import CallArgs, PreparedCall, prepare_call
from pristine.streaming import SSEEvent, aiter_sse
from pristine.telemetry import NullSink, TelemetryEvent

__all__ = ["Pipeline"]


class Pipeline:
    """Calls the endpoints of one manifest. Use as `async with Pipeline(m, ctx) as api:`."""

    def __init__(self, manifest: Manifest, context: Context | None = None) -> None:
        self.manifest = manifest
        self.context = context or Context()
        base_url = self.context.base_url or manifest.base_url
        if not base_url:
            raise ValueError(
                f"no base_url: manifest {manifest.name!r} has none, so pass "
                "Context(base_url='https://...')"
            )
        self.base_url = base_url
        self._check_types()
        self._pools = Pools(self.context)

    def _check_types(self) -> None:
        """The manifest's `types` hook: every listed type must resolve in the registry."""
        registry = self.context.registry
        if not self.manifest.types:
            return
        missing = [t for t in self.manifest.types if registry is None or not registry.knows(t)]
        if missing:
            raise ValueError(
                f"manifest {self.manifest.name!r} lists types the Context's registry cannot "
                f"resolve: {missing}; register them (e.g. PydanticRegistry.register)"
            )

    # -- public API ---------------------------------------------------------------------------

    async def call(
        self,
        endpoint_id: str,
        payload: object = None,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- per-attempt HTTP timeout, not a scope
        idempotency_key: str | None = None,
    ) -> Any:
        """Call an endpoint with retries; return its decoded (and validated) body."""
        args = CallArgs(payload, path_params, query, headers, timeout, idempotency_key)
        call = self._prepare(endpoint_id, args)
        response = await self._send_with_retries(call)
        return self._decode_body(call.endpoint, response)

    async def send_once(
        self,
        endpoint_id: str,
        payload: object = None,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- per-attempt HTTP timeout, not a scope
    ) -> RawResponse:
        """One attempt, no retry, no raise on HTTP status (future polling decides itself).

        Raises `APIConnectionError`/`APITimeoutError` when no answer arrives at all.
        """
        call = self._prepare(endpoint_id, CallArgs(payload, path_params, query, headers, timeout))
        return await self._attempt(call, call.timeout_s)

    async def call_future(
        self,
        endpoint_id: str,
        payload: object = None,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- per-attempt HTTP timeout, not a scope
        idempotency_key: str | None = None,
        policy: FuturePolicy | None = None,
        on_queue_state: Callable[[QueueState], None] | None = None,
    ) -> Any:
        """Submit a `future:` endpoint, poll its poll endpoint until done, return the result.

        The endpoint's `response` type describes the final result, not the submit answer.
        """
        args = CallArgs(payload, path_params, query, headers, timeout, idempotency_key)
        call = self._prepare(endpoint_id, args)
        spec = call.endpoint.future
        if spec is None:
            raise ValueError(f"endpoint {endpoint_id!r} has no `future:` spec; use call() instead")
        handle = (await self._send_with_retries(call)).json()
        request_id = handle.get(spec.request_id_field) if isinstance(handle, dict) else None
        if not isinstance(request_id, str):
            raise APIResponseValidationError(
                f"{endpoint_id!r} answered without a string {spec.request_id_field!r} to poll; "
                f"got {handle!r}",
                request=self._info(call),
                body=handle,
            )

        async def poll_once(attempt: int) -> RawResponse:
            body = {spec.request_id_field: request_id}
            return await self.send_once(spec.poll_endpoint, body, timeout=timeout)

        result = await poll_future(
            poll_once,
            request_id=request_id,
            policy=policy or FuturePolicy(),
            clock=self.context.clock,
            on_queue_state=on_queue_state,
            telemetry=self.context.telemetry,
            endpoint_id=endpoint_id,
            rng=self.context.rng,
        )
        return self._decode_body(call.endpoint, RawResponse(200, result.headers, result.content))

    async def stream(
        self,
        endpoint_id: str,
        payload: object = None,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- per-attempt HTTP timeout, not a scope
    ) -> AsyncGenerator[SSEEvent, None]:
        """Server-sent events of a `streaming: true` endpoint, as they arrive.

        Not retried: events already handed out cannot be taken back. An error status raises
        the same classified error as `call`.
        """
        call = self._prepare(endpoint_id, CallArgs(payload, path_params, query, headers, timeout))
        if not call.endpoint.streaming:
            raise ValueError(
                f"endpoint {endpoint_id!r} is not marked `streaming: true`; use call() instead"
            )
        pool = self._pool(call.endpoint)
        request = await self._request(call, call.timeout_s)
        async with pool.admit(len(call.content or b"")), pool.transport.stream(request) as answer:
            pool.record(answer.status)
            if answer.status >= 400:
                body = b"".join([chunk async for chunk in answer.chunks])
                raw = RawResponse(answer.status, answer.headers, decode_body(answer.headers, body))
                raise status_error(
                    raw,
                    self._info(call),
                    now_wall=self.context.clock.wall(),
                    secrets=self._secrets(),
                )
            decoder = decoder_for(answer.headers)
            async for event in aiter_sse(decoder.decompress(c) async for c in answer.chunks):
                yield event

    async def aclose(self) -> None:
        """Close every pool's connections."""
        await self._pools.aclose()

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- stages -------------------------------------------------------------------------------

    def _prepare(self, endpoint_id: str, args: CallArgs) -> PreparedCall:
        endpoint = self.manifest.endpoint(endpoint_id)
        return prepare_call(self.manifest, self.context, self.base_url, endpoint, args)

    def _pool(self, endpoint: Endpoint) -> Pool:
        return self._pools.get(
            self.manifest.pool_name(endpoint), self.manifest.pool_policy(endpoint)
        )

    def _policy(self, endpoint: Endpoint) -> RetryPolicy:
        name = endpoint.retry or self.manifest.defaults.retry
        return self.context.retry_policies.get(name) or self.manifest.retry_policy(endpoint)

    async def _send_with_retries(self, call: PreparedCall) -> RawResponse:
        """The retry loop, framed by telemetry: `request_start`, then `_stop` or `_error`."""
        clock = self.context.clock
        started = clock.monotonic()
        self._emit("request_start", call)
        try:
            response, attempts = await self._retry_loop(call, started)
        except PristineError as error:
            elapsed = clock.monotonic() - started
            self._emit(
                "request_error", call, elapsed, error=error.message, type=type(error).__name__
            )
            raise
        elapsed = clock.monotonic() - started
        self._emit("request_stop", call, elapsed, status=response.status, attempts=attempts)
        return response

    async def _retry_loop(self, call: PreparedCall, started: float) -> tuple[RawResponse, int]:
        """Attempt, classify, decide, back off; return the response and the attempts used."""
        policy = self._policy(call.endpoint)
        clock = self.context.clock
        attempts = 0
        while True:
            attempts += 1
            remaining = policy.deadline_s - (clock.monotonic() - started)
            outcome = await self._attempt_and_classify(
                call, max(0.001, min(call.timeout_s, remaining))
            )
            if isinstance(outcome, RawResponse):
                return outcome, attempts
            elapsed = clock.monotonic() - started
            state = RetryState(attempts, elapsed, outcome.retryable, outcome.retry_after_s)
            decision = decide(policy, state, self.context.rng)
            if not decision.retry:
                raise self._give_up(call, outcome, attempts, decision)
            pool = self._pool(call.endpoint)
            if outcome.rate_limited and pool.window is not None:
                pool.window.extend(decision.delay_s)  # one 429 pauses every call on the pool
            self._emit(
                "request_retry",
                call,
                attempt=attempts,
                delay_s=decision.delay_s,
                reason=outcome.error.message,
            )
            await clock.sleep(decision.delay_s)

    async def _attempt_and_classify(
        self, call: PreparedCall, timeout_s: float
    ) -> RawResponse | Failure:
        """The response of a successful attempt, or what went wrong."""
        policy = self._policy(call.endpoint)
        try:
            response = await self._attempt(call, timeout_s)
        except APIConnectionError as error:
            return classify_error(error, policy)
        if response.status < 400:
            return response
        return classify(
            response,
            policy,
            self._info(call),
            now_wall=self.context.clock.wall(),
            secrets=self._secrets(),
        )

    async def _attempt(self, call: PreparedCall, timeout_s: float) -> RawResponse:
        """One try: auth, admission, transport, breaker outcome, Content-Encoding decoding."""
        pool = self._pool(call.endpoint)
        request = await self._request(call, timeout_s)
        async with pool.admit(len(call.content or b"")):
            try:
                raw = await pool.transport.send(request)
            except APIConnectionError as error:
                pool.record(None)
                message = redact(f"{call.endpoint.id}: {error.message}", self._secrets())
                raise type(error)(message, request=self._info(call)) from error
        pool.record(raw.status)
        headers = {k: v for k, v in raw.headers.items() if k != "content-encoding"}
        return RawResponse(raw.status, headers, decode_body(raw.headers, raw.content))

    async def _request(self, call: PreparedCall, timeout_s: float) -> RawRequest:
        auth = await self.context.auth.headers()
        headers = {**call.headers, **auth}
        return RawRequest(call.method, call.url, headers, call.content, timeout_s)

    def _give_up(
        self, call: PreparedCall, failure: Failure, attempts: int, decision: RetryDecision
    ) -> APIError:
        error = failure.error
        if not failure.retryable or self._policy(call.endpoint).max_attempts == 1:
            return error  # nothing was retried, so the plain error says it all
        last = getattr(error, "status_code", None)
        last_text = f"HTTP {last}" if last else type(error).__name__
        hint = (
            "slow down (rate limited) or raise the retry policy's max_attempts/deadline_s"
            if last == 429
            else "check the server's health, or raise the retry policy's max_attempts/deadline_s"
        )
        message = (
            f"endpoint {call.endpoint.id!r} ({self._info(call)}) failed after "
            f"{attempts} attempt(s), "
            f"last: {last_text}; gave up because {decision.reason}; {hint}. "
            f"Last error: {error.message}"
        )
        return error.with_message(redact(message, self._secrets()))

    def _decode_body(self, endpoint: Endpoint, response: RawResponse) -> Any:
        registry = self.context.registry
        type_name = endpoint.response
        if endpoint.response_encoding == "raw":
            return response.content
        if endpoint.response_encoding == "protobuf":
            if registry is None or type_name is None:
                return response.content
            return registry.decode(type_name, response.content, "protobuf")
        body = response.json() if response.content else None
        if registry is not None and type_name and registry.knows(type_name):
            return registry.decode(type_name, body, "json")
        return body

    # -- telemetry ----------------------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        return self.context.all_secrets()

    def _info(self, call: PreparedCall) -> RequestInfo:
        return call.info(self._secrets())

    def _emit(
        self, name: str, call: PreparedCall, duration_s: float | None = None, **attributes: Any
    ) -> None:
        if isinstance(self.context.telemetry, NullSink):
            return  # masking the attributes costs CPU on every call; nobody would see them
        secrets = self._secrets()
        attributes = {
            "method": call.method,
            "url": self._info(call).url,
            "pool": self.manifest.pool_name(call.endpoint),
            **attributes,
        }
        safe = {k: redact(v, secrets) if isinstance(v, str) else v for k, v in attributes.items()}
        self.context.telemetry.emit(TelemetryEvent(name, call.endpoint.id, duration_s, safe))
