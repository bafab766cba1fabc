"""`SamplingClient`: text generation and prompt scoring on a base model or saved weights.

A sample goes: validate the arguments (here, not in a retry loop) -> the holder's dispatch
throttles (`dispatch.SampleDispatcher`: they queue, never fail) -> POST `/asample`, where a
429 or 402 pauses every sample of the session and resubmits -> poll the future (protobuf
result) with queue-state logging -> stamp the `sample_sequence_ids` of the submission onto
the sequences. The whole of it runs under `dispatch.RetryHandler` (transient failures
retried, stuck detection). Every call returns an `APIFuture`; the client pickles into other
processes (`__reduce__`) or travels as a credential-free sampler handle.
"""

from __future__ import annotations

import base64
import json
import uuid
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from dataclasses import fields as dc_fields
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio

from pristine.errors import APIResponseValidationError, APIStatusError, APITimeoutError
from pristine.futures import RequestFailedError, poll_future
from pristine.ports.transport import RawResponse
from pristine.streaming import SSEEvent
from tinkex import types
from tinkex.byte_estimate import sample_request_bytes
from tinkex.clients.billing import FUTURE_POLICY, BillingPause
from tinkex.clients.dispatch import (
    DispatchLimits,
    RetryConfig,
    RetryHandler,
    SampleDispatcher,
)
from tinkex.clients.queue_state import sampling_queue_logger
from tinkex.clients.rest import RestHolder
from tinkex.clients.streaming import SampleStream, StreamItem
from tinkex.proto.sample_response import decode_sample_response
from tinkex.tokenizer import Tokenizer, TokenizerNotFoundError, get_tokenizer

if TYPE_CHECKING:
    from tinkex.clients.future import APIFuture

__all__ = ["SamplingClient", "SamplingHolder"]

T = TypeVar("T")

CLONE_ID_SPAN = 1_000_000_000
"""Each clone of a sampling client numbers its seq_ids in its own block of this size."""
PROTOBUF = "application/x-protobuf"
STREAM_IDLE_TIMEOUT_S = 60.0
"""`sample_stream` gives up when the server sends nothing for this long."""
NO_STREAMING = frozenset({404, 405, 501})
"""Statuses of a server without `/sample_stream` (the hosted service): sample, then replay."""


class SamplingHolder(RestHolder, Protocol):
    """What a SamplingClient needs from the client core (`tinkex.clients._holder`)."""

    @property
    def api_key(self) -> str | None:
        """The credential, for unpickled copies in other processes."""
        ...

    @property
    def billing(self) -> BillingPause:
        """The session's billing (402) incident, shared with training calls."""
        ...

    def get_client_config(self) -> types.ClientConfigResponse: ...

    def get_session_id(self) -> str: ...

    async def create_sampling_session(
        self, *, model_path: str | None, base_model: str | None
    ) -> str:
        """Open a sampling session in the holder's session; its sampling_session_id."""
        ...

    @classmethod
    def get_shadow_holder(
        cls, session_id: str, *, base_url: str, api_key: str | None
    ) -> SamplingHolder:
        """A core joined to an existing session, for clients unpickled in another process."""
        ...


def _default_shadow_holder(
    session_id: str, *, base_url: str, api_key: str | None
) -> SamplingHolder:
    from tinkex.clients._holder import ClientHolder

    return ClientHolder.get_shadow_holder(session_id, base_url=base_url, api_key=api_key)


ShadowFactory = Callable[..., SamplingHolder]


@dataclass(frozen=True)
class _PickleState:
    """What a SamplingClient needs to come back to life in another process."""

    session_id: str
    sampling_session_id: str
    base_url: str
    base_model: str
    api_key: str | None = None
    record_stability_info: bool = False
    shadow_factory: ShadowFactory = field(default=_default_shadow_holder, compare=False)
    """Builds the unpickled copy's core: the holder class's `get_shadow_holder` (pickled by
    reference); a sampler handle, which is JSON, always uses the default core."""


@dataclass
class _SessionGates:
    """Throttles shared by every sampling client of one holder."""

    dispatcher: SampleDispatcher


_GATES: weakref.WeakKeyDictionary[SamplingHolder, _SessionGates] = weakref.WeakKeyDictionary()


def _gates_for(holder: SamplingHolder) -> _SessionGates:
    gates = _GATES.get(holder)
    if gates is None:
        clock = holder.pipeline.context.clock
        config = holder.get_client_config()
        limits = DispatchLimits(bytes_budget=config.sample_dispatch_bytes_semaphore_size)
        gates = _SessionGates(SampleDispatcher(clock, limits))
        _GATES[holder] = gates
    return gates


def _check_arguments(
    *,
    target_prompt_logprobs: types.TensorData | None = None,
    prompt_alt_tokens_k: int = 0,
    prompt_logprobs_last_n: int | None = None,
    include_prompt_logprobs: bool = True,
) -> None:
    """Reject arguments the server would refuse, before anything is sent."""
    if target_prompt_logprobs is not None:
        if target_prompt_logprobs.dtype != "int64":
            raise ValueError(
                "target_prompt_logprobs must be an int64 tensor of token ids, "
                f"got {target_prompt_logprobs.dtype}"
            )
        shape = target_prompt_logprobs.shape
        if shape is None or len(shape) != 2:
            raise ValueError(
                f"target_prompt_logprobs must be 2-D, [len(prompt) - 1, K], got shape {shape}"
            )
    if prompt_alt_tokens_k < 0:
        raise ValueError(f"prompt_alt_tokens_k must be 0 or greater, got {prompt_alt_tokens_k}")
    if prompt_logprobs_last_n is not None:
        if prompt_logprobs_last_n < 1:
            raise ValueError(
                f"prompt_logprobs_last_n must be 1 or greater, got {prompt_logprobs_last_n}"
            )
        if not include_prompt_logprobs:
            raise ValueError(
                "prompt_logprobs_last_n applies to prompt logprobs; set include_prompt_logprobs"
            )


def _check_response(
    response: types.SampleResponse, request: types.SampleRequest
) -> types.SampleResponse:
    """`response`, unless the server ignored a feature `request` asked for (an older server)."""
    alt_k, last_n = request.prompt_alt_tokens_k, request.prompt_logprobs_last_n
    if alt_k > 0 and response.prompt_alt_tokens is None:
        raise RuntimeError(
            f"prompt_alt_tokens_k={alt_k} was requested but the server returned "
            "no prompt_alt_tokens; it may predate this feature"
        )
    if last_n is None or response.prompt_logprobs is None:
        return response
    excluded = response.prompt_logprobs[: len(response.prompt_logprobs) - last_n]
    if any(logprob is not None for logprob in excluded):
        raise RuntimeError(
            f"prompt_logprobs_last_n={last_n} was requested but the server "
            "returned prompt logprobs before that suffix; it may predate this feature"
        )
    return response


def _attach_sequence_ids(
    response: types.SampleResponse, sequence_ids: list[str] | None
) -> types.SampleResponse:
    """Stamp the ids the submission promised onto the sequences, in order."""
    if sequence_ids is None or len(sequence_ids) != len(response.sequences):
        raise APIResponseValidationError(
            f"asample promised sample_sequence_ids {sequence_ids!r} for "
            f"{len(response.sequences)} sequences; the server must send one id per sample"
        )
    sequences = [
        sequence.model_copy(update={"sequence_id": sequence_id})
        for sequence, sequence_id in zip(response.sequences, sequence_ids, strict=True)
    ]
    return response.model_copy(update={"sequences": sequences})


def _decode_sample_result(raw: RawResponse) -> types.SampleResponse:
    """The polled result: protobuf as the official service sends it, JSON from simple servers."""
    if PROTOBUF in raw.headers.get("content-type", ""):
        return decode_sample_response(raw.content)
    return types.SampleResponse.model_validate_json(raw.content)


class SamplingClient:
    """Generate tokens and score prompts; get one from `ServiceClient.create_sampling_client()`
    or `TrainingClient.save_weights_and_get_sampling_client()`.

    Picklable: pass it to worker processes, or pass `get_sampler_handle()` and rebuild it with
    `SamplingClient.from_sampler_handle()`.
    """

    def __init__(
        self,
        holder: SamplingHolder,
        *,
        sampling_session_id: str,
        base_model: str,
        shadow: bool = False,
        retry_config: RetryConfig | None = None,
        record_stability_info: bool = False,
    ) -> None:
        self.holder = holder
        self._sampling_session_id = sampling_session_id
        self._base_model = base_model
        self._record_stability_info = record_stability_info
        config = holder.get_client_config()
        retry_config = replace(
            retry_config or RetryConfig(),
            max_connections=config.sample_max_concurrent_requests,
        )
        if not config.sample_enable_stuck_detection:
            retry_config = replace(retry_config, enable_stuck_detection=False)
        if config.sample_no_retries:
            retry_config = replace(retry_config, enable_retry_logic=False)
        clock = holder.pipeline.context.clock
        self.retry_handler = RetryHandler(retry_config, clock=clock, name=sampling_session_id)
        self._queue_logger = sampling_queue_logger(sampling_session_id, clock)
        self._clone_id: int | None = 0
        if shadow:
            # A clone numbers its seq_ids in its own block: the server allocates the block
            # when it can (join_sampling_session), else a random one avoids collisions.
            self._clone_id = (
                None
                if config.sample_join_sampling_session
                else uuid.uuid4().int % CLONE_ID_SPAN + 1
            )
        self._next_seq_id = CLONE_ID_SPAN * (self._clone_id or 0)
        self._join_lock = anyio.Lock()
        self._server_streams = True
        """False once the server answered that it has no `/sample_stream`."""

    # -- creation -----------------------------------------------------------------------------

    @staticmethod
    async def create_async(
        holder: SamplingHolder,
        *,
        model_path: str | None = None,
        base_model: str | None = None,
        sampling_session_id: str | None = None,
        retry_config: RetryConfig | None = None,
        record_stability_info: bool = False,
    ) -> SamplingClient:
        """Open a sampling session (unless `sampling_session_id` is given) and wrap it.

        Runs on the holder's loop; `ServiceClient.create_sampling_client` calls it.
        """
        if sampling_session_id is None:
            sampling_session_id = await holder.create_sampling_session(
                model_path=model_path, base_model=base_model
            )
        if base_model is None:
            sampler: types.GetSamplerResponse = await holder.pipeline.call(
                "get_sampler", path_params={"sampler_id": sampling_session_id}
            )
            base_model = sampler.base_model
        return SamplingClient(
            holder,
            sampling_session_id=sampling_session_id,
            base_model=base_model,
            retry_config=retry_config,
            record_stability_info=record_stability_info,
        )

    @staticmethod
    def create(
        holder: SamplingHolder,
        *,
        model_path: str | None = None,
        base_model: str | None = None,
        sampling_session_id: str | None = None,
        retry_config: RetryConfig | None = None,
        record_stability_info: bool = False,
    ) -> APIFuture[SamplingClient]:
        """`create_async` as an `APIFuture`."""
        return holder.run_coroutine_threadsafe(
            SamplingClient.create_async(
                holder,
                model_path=model_path,
                base_model=base_model,
                sampling_session_id=sampling_session_id,
                retry_config=retry_config,
                record_stability_info=record_stability_info,
            )
        )

    # -- sampling -----------------------------------------------------------------------------

    def sample(
        self,
        prompt: types.ModelInput,
        num_samples: int,
        sampling_params: types.SamplingParams,
        include_prompt_logprobs: bool = False,
        topk_prompt_logprobs: int = 0,
        topk_sample_logprobs: int = 0,
        target_prompt_logprobs: types.TensorData | None = None,
        prompt_alt_tokens_k: int = 0,
        prompt_logprobs_last_n: int | None = None,
    ) -> APIFuture[types.SampleResponse]:
        """Generate `num_samples` completions of `prompt`; see the official client for the
        logprob options. Returns at once; `.result()` or `await` the future."""
        request = self._sample_request(
            prompt,
            num_samples,
            sampling_params,
            include_prompt_logprobs,
            topk_prompt_logprobs,
            topk_sample_logprobs,
            target_prompt_logprobs,
            prompt_alt_tokens_k,
            prompt_logprobs_last_n,
        )

        async def attempt() -> types.SampleResponse:
            return _check_response(await self._sample_once(request), request)

        return self._submit(self.retry_handler.execute(attempt))

    async def sample_async(
        self,
        prompt: types.ModelInput,
        num_samples: int,
        sampling_params: types.SamplingParams,
        include_prompt_logprobs: bool = False,
        topk_prompt_logprobs: int = 0,
        topk_sample_logprobs: int = 0,
        target_prompt_logprobs: types.TensorData | None = None,
        prompt_alt_tokens_k: int = 0,
        prompt_logprobs_last_n: int | None = None,
    ) -> types.SampleResponse:
        """`sample`, awaited."""
        return await self.sample(
            prompt,
            num_samples,
            sampling_params,
            include_prompt_logprobs,
            topk_prompt_logprobs,
            topk_sample_logprobs,
            target_prompt_logprobs,
            prompt_alt_tokens_k,
            prompt_logprobs_last_n,
        )

    def compute_logprobs(
        self, prompt: types.ModelInput, prompt_logprobs_last_n: int | None = None
    ) -> APIFuture[list[float | None]]:
        """Log-probability of every prompt token (None where there is none, e.g. the first)."""
        _check_arguments(prompt_logprobs_last_n=prompt_logprobs_last_n)
        request = types.SampleRequest(
            sampling_session_id=self._sampling_session_id,
            num_samples=1,
            prompt=prompt,
            sampling_params=types.SamplingParams(max_tokens=1),
            prompt_logprobs=True,
            prompt_logprobs_last_n=prompt_logprobs_last_n,
            record_stability_info=self._record_stability_info,
        )

        async def attempt() -> list[float | None]:
            response = _check_response(await self._sample_once(request), request)
            return list(response.prompt_logprobs or [])

        return self._submit(self.retry_handler.execute(attempt))

    async def compute_logprobs_async(
        self, prompt: types.ModelInput, prompt_logprobs_last_n: int | None = None
    ) -> list[float | None]:
        """`compute_logprobs`, awaited."""
        return await self.compute_logprobs(prompt, prompt_logprobs_last_n)

    # -- streaming (a tinkex extension) -------------------------------------------------------

    def sample_stream(
        self,
        prompt: types.ModelInput,
        num_samples: int,
        sampling_params: types.SamplingParams,
        include_prompt_logprobs: bool = False,
        topk_prompt_logprobs: int = 0,
        topk_sample_logprobs: int = 0,
        target_prompt_logprobs: types.TensorData | None = None,
        prompt_alt_tokens_k: int = 0,
        prompt_logprobs_last_n: int | None = None,
        *,
        idle_timeout_s: float = STREAM_IDLE_TIMEOUT_S,
    ) -> SampleStream:
        """`sample` (same arguments), handed out as `SampleStreamChunk`s while the tokens are
        generated.

        Iterate it (`for`, or `async for`: see `sample_stream_async`), then read
        `stream.response` for the whole `SampleResponse`, prompt-level fields included.
        Closing it early (`with` block, `close()`) stops the generation on the server. A
        server without the streaming endpoint (the hosted service) is sampled normally and
        its result replayed as one chunk per sequence. Raises `APITimeoutError` when nothing
        arrives for `idle_timeout_s`.
        """
        if not idle_timeout_s > 0:
            raise ValueError(f"idle_timeout_s must be a positive number, got {idle_timeout_s}")
        request = self._sample_request(
            prompt,
            num_samples,
            sampling_params,
            include_prompt_logprobs,
            topk_prompt_logprobs,
            topk_sample_logprobs,
            target_prompt_logprobs,
            prompt_alt_tokens_k,
            prompt_logprobs_last_n,
        )
        try:
            context = prompt.to_ints()
        except ValueError:  # images have no text to give context
            context = []
        return SampleStream(
            self._stream_items(request, idle_timeout_s),
            loop=self.holder,
            tokenizer=self._stream_tokenizer,
            context=context,
        )

    def sample_stream_async(
        self,
        prompt: types.ModelInput,
        num_samples: int,
        sampling_params: types.SamplingParams,
        include_prompt_logprobs: bool = False,
        topk_prompt_logprobs: int = 0,
        topk_sample_logprobs: int = 0,
        target_prompt_logprobs: types.TensorData | None = None,
        prompt_alt_tokens_k: int = 0,
        prompt_logprobs_last_n: int | None = None,
        *,
        idle_timeout_s: float = STREAM_IDLE_TIMEOUT_S,
    ) -> SampleStream:
        """`sample_stream` for `async for chunk in client.sample_stream_async(...)` (and
        `async with` to close it early)."""
        return self.sample_stream(
            prompt,
            num_samples,
            sampling_params,
            include_prompt_logprobs,
            topk_prompt_logprobs,
            topk_sample_logprobs,
            target_prompt_logprobs,
            prompt_alt_tokens_k,
            prompt_logprobs_last_n,
            idle_timeout_s=idle_timeout_s,
        )

    # -- other queries ------------------------------------------------------------------------

    def get_base_model(self) -> str:
        """The sampler's base model name; known locally, so no request is made."""
        return self._base_model

    async def get_base_model_async(self) -> str:
        return self._base_model

    def get_tokenizer(self) -> Tokenizer:
        """The base model's tokenizer, from local files only (see `tinkex.tokenizer`)."""
        return get_tokenizer(self._base_model)

    @property
    def sampling_session_id(self) -> str:
        return self._sampling_session_id

    # -- crossing process boundaries ----------------------------------------------------------

    def _pickle_state(self) -> _PickleState:
        return _PickleState(
            session_id=self.holder.get_session_id(),
            sampling_session_id=self._sampling_session_id,
            base_url=self.holder.pipeline.base_url,
            api_key=self.holder.api_key,
            base_model=self._base_model,
            record_stability_info=self._record_stability_info,
            shadow_factory=type(self.holder).get_shadow_holder,
        )

    def __reduce__(self) -> tuple[Any, tuple[_PickleState]]:
        """Pickle as the session coordinates; the unpickled copy opens its own connections."""
        return (_unpickle, (self._pickle_state(),))

    def get_sampler_handle(self) -> str:
        """A credential-free string that `from_sampler_handle` turns into a new client."""
        state = self._pickle_state()
        private = ("api_key", "shadow_factory")
        fields = {f.name: getattr(state, f.name) for f in dc_fields(state) if f.name not in private}
        payload = json.dumps(fields, separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode()

    @staticmethod
    def from_sampler_handle(handle: str, *, api_key: str | None = None) -> SamplingClient:
        """A client for the sampler behind `handle`, using this process's credentials
        (or `api_key`)."""
        try:
            fields = json.loads(base64.urlsafe_b64decode(handle.encode()))
            state = _PickleState(**{**fields, "api_key": api_key})
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(
                f"not a sampler handle ({error}); pass the string from get_sampler_handle()"
            ) from error
        return _unpickle(state)

    # -- internals ----------------------------------------------------------------------------

    def _sample_request(
        self,
        prompt: types.ModelInput,
        num_samples: int,
        sampling_params: types.SamplingParams,
        include_prompt_logprobs: bool,
        topk_prompt_logprobs: int,
        topk_sample_logprobs: int,
        target_prompt_logprobs: types.TensorData | None,
        prompt_alt_tokens_k: int,
        prompt_logprobs_last_n: int | None,
    ) -> types.SampleRequest:
        """The checked request `sample` and `sample_stream` send alike."""
        _check_arguments(
            target_prompt_logprobs=target_prompt_logprobs,
            prompt_alt_tokens_k=prompt_alt_tokens_k,
            prompt_logprobs_last_n=prompt_logprobs_last_n,
            include_prompt_logprobs=include_prompt_logprobs,
        )
        if num_samples < 1:
            raise ValueError(f"num_samples must be 1 or greater, got {num_samples}")
        return types.SampleRequest(
            sampling_session_id=self._sampling_session_id,
            num_samples=num_samples,
            prompt=prompt,
            sampling_params=sampling_params,
            prompt_logprobs=include_prompt_logprobs,
            topk_prompt_logprobs=topk_prompt_logprobs,
            topk_sample_logprobs=topk_sample_logprobs,
            target_prompt_logprobs=target_prompt_logprobs,
            prompt_alt_tokens_k=prompt_alt_tokens_k,
            prompt_logprobs_last_n=prompt_logprobs_last_n,
            record_stability_info=self._record_stability_info,
        )

    def _submit(self, coro: Coroutine[Any, Any, T]) -> APIFuture[T]:
        return self.holder.run_coroutine_threadsafe(coro)

    async def _sample_once(self, request: types.SampleRequest) -> types.SampleResponse:
        """One submission through the throttles, then its polled result with sequence ids."""
        if self._clone_id is None:
            await self._join()
        gates = _gates_for(self.holder)
        estimated_bytes = sample_request_bytes(request)
        request = request.model_copy(update={"seq_id": self._next_seq_id})
        self._next_seq_id += 1
        async with gates.dispatcher.slot(estimated_bytes):
            while True:
                await gates.dispatcher.wait_for_window()
                try:
                    handle: types.UntypedAPIFuture = await self.holder.pipeline.call(
                        "asample", request
                    )
                    break
                except APIStatusError as error:
                    if error.status_code == 402:  # raises once the billing pause is spent
                        self.holder.billing.check(error, "asample")
                    elif error.status_code != 429:
                        raise
                    gates.dispatcher.back_off(estimated_bytes)
        response = await self._poll(handle.request_id)
        return _attach_sequence_ids(response, handle.sample_sequence_ids)

    async def _stream_items(
        self, request: types.SampleRequest, idle_timeout_s: float
    ) -> AsyncGenerator[StreamItem, None]:
        """Chunks then the response, from `/sample_stream` or, without it, from `sample`."""
        if self._server_streams:
            if self._clone_id is None:
                await self._join()
            streamed = request.model_copy(update={"seq_id": self._next_seq_id})
            self._next_seq_id += 1
            events = self.holder.pipeline.stream("sample_stream", streamed, timeout=idle_timeout_s)
            async with aclosing(events):
                try:
                    async for event in events:
                        item = _stream_item(event)
                        if isinstance(item, types.SampleResponse):
                            yield _check_response(item, request)
                            return
                        yield item
                except APIStatusError as error:
                    if error.status_code not in NO_STREAMING:
                        raise
                    self._server_streams = False
                except APITimeoutError as error:
                    raise error.with_message(
                        f"sample_stream: nothing arrived for {idle_timeout_s:g} s "
                        f"({error.message}); pass a larger idle_timeout_s or sample again"
                    ) from error
                else:
                    raise APIResponseValidationError(
                        "sample_stream ended without its final `done` event; sample again"
                    )
        response = await self.retry_handler.execute(lambda: self._sample_once(request))
        _check_response(response, request)
        for index, sequence in enumerate(response.sequences):
            yield types.SampleStreamChunk(
                sequence_index=index,
                tokens=sequence.tokens,
                logprobs=sequence.logprobs,
                topk_logprobs=sequence.topk_logprobs,
                stop_reason=sequence.stop_reason,
            )
        yield response

    def _stream_tokenizer(self) -> Tokenizer | None:
        """The tokenizer for text deltas, if its files are here (nothing is downloaded)."""
        try:
            return self.get_tokenizer()
        except (TokenizerNotFoundError, ValueError):
            return None

    async def _poll(self, request_id: str) -> types.SampleResponse:
        pipeline = self.holder.pipeline

        async def poll_once(attempt: int) -> RawResponse:
            return await pipeline.send_once(
                "retrieve_future",
                types.FutureRetrieveRequest(request_id=request_id),
                headers={"Accept": PROTOBUF, "X-Tinker-Request-Type": "Sample"},
            )

        result = await poll_future(
            poll_once,
            request_id=request_id,
            policy=FUTURE_POLICY,
            clock=pipeline.context.clock,
            on_queue_state=self._queue_logger,
            on_pause=self.holder.billing.on_pause("asample"),
            telemetry=pipeline.context.telemetry,
            endpoint_id="asample",
            rng=pipeline.context.rng,
        )
        return _decode_sample_result(RawResponse(200, result.headers, result.content))

    async def _join(self) -> None:
        """Have the server allocate this clone's seq_id block, once, before its first sample."""
        async with self._join_lock:
            if self._clone_id is not None:
                return
            request = types.JoinSamplingSessionRequest(
                sampling_session_id=self._sampling_session_id
            )
            response: types.JoinSamplingSessionResponse = await self.holder.pipeline.call(
                "join_sampling_session", request
            )
            self._clone_id = response.client_counter
            self._next_seq_id = CLONE_ID_SPAN * response.client_counter


def _stream_item(event: SSEEvent) -> StreamItem:
    """One `/sample_stream` event as a chunk or the final response; `error` raises."""
    if event.event == "tokens":
        return types.SampleStreamChunk.model_validate_json(event.data)
    if event.event == "done":
        return types.SampleResponse.model_validate_json(event.data)
    if event.event == "error":
        body = event.json()
        category = body.get("category")
        raise RequestFailedError(
            f"sample_stream failed on the server: {body.get('error')}",
            request_id=str(body.get("request_id", "sample_stream")),
            category=category if category in ("user", "server") else "unknown",
            body=body,
        )
    raise APIResponseValidationError(
        f"sample_stream sent an unknown event {event.event!r}; upgrade tinkex"
    )


def _unpickle(state: _PickleState) -> SamplingClient:
    holder = state.shadow_factory(state.session_id, base_url=state.base_url, api_key=state.api_key)
    return SamplingClient(
        holder,
        sampling_session_id=state.sampling_session_id,
        base_model=state.base_model,
        shadow=True,
        record_stability_info=state.record_stability_info,
    )
