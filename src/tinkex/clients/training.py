"""`TrainingClient`: forward/backward passes, optimizer steps and checkpoints of one model.

The service executes a model's requests in `seq_id` order, so every call reserves its ids
synchronously (in call order) and submits its HTTP request only when its turn comes; a
forward/backward pass larger than the service's chunk limits is split into chunks that share
one turn and are sent concurrently, and their results are recombined into one output. A
request that fails while holding a turn poisons the client: later requests fail at once with
an error naming the cause, as the service could not execute them in order anyway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from tinkex import types
from tinkex.byte_estimate import datum_bytes
from tinkex.clients.custom_loss import (
    SURROGATE_LOSS_FN,
    CustomLossFnV1,
    forward_data,
    run_custom_loss,
)
from tinkex.clients.future import APIFuture, BackcompatFuture
from tinkex.clients.loss_handle import LossHandle, check_loss_inputs, run_loss_handle
from tinkex.clients.queue_state import training_queue_logger
from tinkex.metrics import reduce_chunk_metrics
from tinkex.proto.request import encode_forward_backward_request

if TYPE_CHECKING:
    from tinkex.clients._holder import ClientHolder
    from tinkex.clients.dispatch import RetryConfig
    from tinkex.clients.sampling import SamplingClient
    from tinkex.tokenizer import Tokenizer

__all__ = ["PoisonedClientError", "TrainingClient", "combine_forward_backward_outputs"]

T = TypeVar("T")


class PoisonedClientError(RuntimeError):
    """A previous request of this TrainingClient failed; it accepts no further requests."""


@dataclass(frozen=True)
class _Chunk:
    request_id: int
    data: list[types.Datum]
    estimated_bytes: int


def combine_forward_backward_outputs(
    outputs: Sequence[types.ForwardBackwardOutput],
) -> types.ForwardBackwardOutput:
    """One output from the outputs of a pass's chunks, in chunk order (metrics reduced)."""
    return types.ForwardBackwardOutput(
        loss_fn_output_type=outputs[0].loss_fn_output_type,
        loss_fn_outputs=[item for output in outputs for item in output.loss_fn_outputs],
        metrics=reduce_chunk_metrics(outputs),
    )


class TrainingClient:
    """Train one model; get one from `ServiceClient.create_lora_training_client()`."""

    def __init__(
        self,
        holder: ClientHolder,
        model_seq_id: int,
        model_id: types.ModelID,
        *,
        info: types.GetInfoResponse,
    ) -> None:
        self.holder = holder
        self.model_id = model_id
        self._model_seq_id = model_seq_id
        self._info = info
        self._id_lock = threading.Lock()
        self._next_request_id = 0
        self._turn = 0
        # One event per awaited turn: waking only the requests whose turn came keeps 1,000
        # queued requests from all waking on every send.
        self._turn_waiters: dict[int, anyio.Event] = {}
        self._error: BaseException | None = None
        self._queue_logger = training_queue_logger(str(model_id), holder.pipeline.context.clock)

    # -- forward / backward -------------------------------------------------------------------

    def forward(
        self,
        data: list[types.Datum],
        loss_fn: types.LossFnType,
        loss_fn_config: Mapping[str, float | str] | None = None,
    ) -> APIFuture[types.ForwardBackwardOutput]:
        """Run the forward pass only (no gradients); the loss outputs per datum."""
        chunks = self._reserve_chunks(data)
        return self._submit(self._run_pass(chunks, loss_fn, loss_fn_config, forward_only=True))

    async def forward_async(
        self,
        data: list[types.Datum],
        loss_fn: types.LossFnType,
        loss_fn_config: Mapping[str, float | str] | None = None,
    ) -> APIFuture[types.ForwardBackwardOutput]:
        """`forward`, for async callers (returns the future, as the official client does)."""
        return self.forward(data, loss_fn, loss_fn_config)

    def forward_backward(
        self,
        data: list[types.Datum],
        loss_fn: types.LossFnType,
        loss_fn_config: Mapping[str, float | str] | None = None,
    ) -> APIFuture[types.ForwardBackwardOutput]:
        """Run forward and backward; gradients accumulate on the service until `optim_step`."""
        chunks = self._reserve_chunks(data)
        return self._submit(self._run_pass(chunks, loss_fn, loss_fn_config, forward_only=False))

    async def forward_backward_async(
        self,
        data: list[types.Datum],
        loss_fn: types.LossFnType,
        loss_fn_config: Mapping[str, float | str] | None = None,
    ) -> APIFuture[types.ForwardBackwardOutput]:
        """`forward_backward`, for async callers (returns the future)."""
        return self.forward_backward(data, loss_fn, loss_fn_config)

    def forward_backward_custom(
        self,
        data: list[types.Datum],
        loss_fn: CustomLossFnV1 | LossHandle,
        *,
        loss_type_input: Literal["logprobs"] | None = None,
    ) -> APIFuture[types.ForwardBackwardOutput]:
        """Train on a custom loss: a callable run here with torch on the forward pass's
        logprobs, or a `LossHandle` from `ServiceClient.create_custom_loss`, which the server
        runs when it holds the uploaded loss and this client runs otherwise.

        Client-side metrics: the loss's own metrics, `loss:sum` (the custom loss) and
        `surrogate_loss:sum` (the service's weighted cross-entropy).
        """
        if loss_type_input not in (None, "logprobs"):
            raise ValueError(f"loss_type_input must be 'logprobs' or None, got {loss_type_input!r}")
        if isinstance(loss_fn, LossHandle):
            session_id = self.holder.get_session_id()
            if loss_fn.session_id != session_id:
                raise ValueError(
                    f"LossHandle {loss_fn.name!r} belongs to session {loss_fn.session_id}, not "
                    f"to this client's session {session_id}; create it with this client's "
                    "ServiceClient"
                )
            check_loss_inputs(loss_fn, data)
            if loss_fn.loss_id is not None:
                return self.forward_backward(data, "custom", {"loss_id": loss_fn.loss_id})
            loss_fn = functools.partial(run_loss_handle, loss_fn)
        forward_chunks = self._plan_chunks(forward_data(data))
        ids = self._reserve_ids(2 * len(forward_chunks))
        count = len(forward_chunks)
        forwards = [
            _Chunk(request_id, chunk.data, chunk.estimated_bytes)
            for request_id, chunk in zip(ids[:count], forward_chunks, strict=True)
        ]
        return self._submit(self._run_custom(data, loss_fn, forwards))

    async def forward_backward_custom_async(
        self,
        data: list[types.Datum],
        loss_fn: CustomLossFnV1 | LossHandle,
        *,
        loss_type_input: Literal["logprobs"] | None = None,
    ) -> APIFuture[types.ForwardBackwardOutput]:
        """`forward_backward_custom`, for async callers (returns the future)."""
        return self.forward_backward_custom(data, loss_fn, loss_type_input=loss_type_input)

    # -- optimizer and checkpoints ------------------------------------------------------------

    def optim_step(
        self,
        optim_params: types.OptimParams | None = None,
        *,
        adam_params: types.AdamParams | None = None,
    ) -> APIFuture[types.OptimStepResponse]:
        """Apply the accumulated gradients (Adam or Dimuon parameters)."""
        if (optim_params is None) == (adam_params is None):
            raise ValueError(
                "optim_step needs exactly one of optim_params=AdamParams(...)/DimuonParams(...) "
                "or adam_params=AdamParams(...)"
            )
        params = optim_params if optim_params is not None else adam_params
        request_id = self._reserve_ids(1)[0]
        request = types.OptimStepRequest(
            optim_params=params, model_id=self.model_id, seq_id=request_id + 1
        )
        return self._submit(
            self._run_single(
                request_id, "optim_step", request, types.OptimStepResponse, "OptimStep"
            )
        )

    async def optim_step_async(
        self,
        optim_params: types.OptimParams | None = None,
        *,
        adam_params: types.AdamParams | None = None,
    ) -> APIFuture[types.OptimStepResponse]:
        """`optim_step`, for async callers (returns the future)."""
        return self.optim_step(optim_params, adam_params=adam_params)

    def save_state(
        self,
        name: str,
        ttl_seconds: int | None = None,
        overwrite: bool = False,
        user_metadata: dict[str, str] | None = None,
    ) -> APIFuture[types.SaveWeightsResponse]:
        """Save weights and optimizer state as checkpoint `name` (a `tinker://` path)."""
        request_id = self._reserve_ids(1)[0]
        request = types.SaveWeightsRequest(
            model_id=self.model_id,
            path=name,
            seq_id=request_id + 1,
            ttl_seconds=ttl_seconds,
            overwrite=overwrite,
            user_metadata=user_metadata,
        )
        return self._submit(
            self._run_single(
                request_id, "save_weights", request, types.SaveWeightsResponse, "SaveWeights"
            )
        )

    async def save_state_async(
        self,
        name: str,
        ttl_seconds: int | None = None,
        overwrite: bool = False,
        user_metadata: dict[str, str] | None = None,
    ) -> APIFuture[types.SaveWeightsResponse]:
        """`save_state`, for async callers (returns the future)."""
        return self.save_state(name, ttl_seconds, overwrite, user_metadata)

    def load_state(
        self, path: str, weights_access_token: str | None = None
    ) -> APIFuture[types.LoadWeightsResponse]:
        """Load a checkpoint's weights (the optimizer state starts fresh)."""
        return self._load(path, optimizer=False, weights_access_token=weights_access_token)

    async def load_state_async(
        self, path: str, weights_access_token: str | None = None
    ) -> APIFuture[types.LoadWeightsResponse]:
        """`load_state`, for async callers (returns the future)."""
        return self.load_state(path, weights_access_token)

    def load_state_with_optimizer(
        self, path: str, weights_access_token: str | None = None
    ) -> APIFuture[types.LoadWeightsResponse]:
        """Load a checkpoint's weights and optimizer state."""
        return self._load(path, optimizer=True, weights_access_token=weights_access_token)

    async def load_state_with_optimizer_async(
        self, path: str, weights_access_token: str | None = None
    ) -> APIFuture[types.LoadWeightsResponse]:
        """`load_state_with_optimizer`, for async callers (returns the future)."""
        return self.load_state_with_optimizer(path, weights_access_token)

    def save_weights_for_sampler(
        self,
        name: str,
        ttl_seconds: int | None = None,
        user_metadata: dict[str, str] | None = None,
    ) -> APIFuture[types.SaveWeightsForSamplerResponse]:
        """Save sampler weights as `name`; the path to pass to `create_sampling_client`."""
        request_id = self._reserve_ids(1)[0]
        request = types.SaveWeightsForSamplerRequest(
            model_id=self.model_id,
            path=name,
            seq_id=request_id + 1,
            ttl_seconds=ttl_seconds,
            user_metadata=user_metadata,
        )

        async def run() -> types.SaveWeightsForSamplerResponse:
            path = await self._saved_path(
                request_id,
                "save_weights_for_sampler",
                request,
                types.SaveWeightsForSamplerResponseInternal,
                "SaveWeightsForSampler",
            )
            return types.SaveWeightsForSamplerResponse(path=path)

        return self._submit(run())

    async def save_weights_for_sampler_async(
        self,
        name: str,
        ttl_seconds: int | None = None,
        user_metadata: dict[str, str] | None = None,
    ) -> APIFuture[types.SaveWeightsForSamplerResponse]:
        """`save_weights_for_sampler`, for async callers (returns the future)."""
        return self.save_weights_for_sampler(name, ttl_seconds, user_metadata)

    def save_weights_external(
        self,
        name: str,
        ttl_seconds: int | None = None,
        age_encryption_recipients: list[str] | None = None,
    ) -> APIFuture[types.SaveWeightsExternalResponse]:
        """Export the weights in an external (Hugging Face) format as `name`."""
        request_id = self._reserve_ids(1)[0]
        request = types.SaveWeightsExternalRequest(
            model_id=self.model_id,
            path=name,
            seq_id=request_id + 1,
            ttl_seconds=ttl_seconds,
            age_encryption_recipients=age_encryption_recipients,
        )

        async def run() -> types.SaveWeightsExternalResponse:
            path = await self._saved_path(
                request_id,
                "save_weights_external",
                request,
                types.SaveWeightsExternalResponseInternal,
                "SaveWeightsExternal",
            )
            return types.SaveWeightsExternalResponse(path=path)

        return self._submit(run())

    async def save_weights_external_async(
        self,
        name: str,
        ttl_seconds: int | None = None,
        age_encryption_recipients: list[str] | None = None,
    ) -> APIFuture[types.SaveWeightsExternalResponse]:
        """`save_weights_external`, for async callers (returns the future)."""
        return self.save_weights_external(name, ttl_seconds, age_encryption_recipients)

    # -- sampling -----------------------------------------------------------------------------

    def create_sampling_client(
        self,
        model_path: str,
        retry_config: RetryConfig | None = None,
        record_stability_info: bool = False,
    ) -> BackcompatFuture[SamplingClient]:
        """A SamplingClient for saved sampler weights (`save_weights_for_sampler().path`)."""
        from tinkex.clients.sampling import SamplingClient

        return self._submit_client(
            SamplingClient.create_async(
                self.holder,
                model_path=model_path,
                retry_config=retry_config,
                record_stability_info=record_stability_info,
            )
        )

    async def create_sampling_client_async(
        self,
        model_path: str,
        retry_config: RetryConfig | None = None,
        record_stability_info: bool = False,
    ) -> SamplingClient:
        """`create_sampling_client`, awaited."""
        return await self.create_sampling_client(
            model_path, retry_config, record_stability_info
        ).result_async()

    def save_weights_and_get_sampling_client(
        self,
        name: str | None = None,
        retry_config: RetryConfig | None = None,
        record_stability_info: bool = False,
        kind: types.SamplingClientKind = "snapshot",
    ) -> BackcompatFuture[SamplingClient]:
        """Save the current weights and sample from them; without `name` the weights are
        ephemeral (they live as long as the sampling session)."""
        from tinkex.clients.sampling import SamplingClient

        if name is not None:
            saved = self.save_weights_for_sampler(name)

            async def from_path() -> SamplingClient:
                path = (await saved.result_async()).path
                return await SamplingClient.create_async(
                    self.holder,
                    model_path=path,
                    retry_config=retry_config,
                    record_stability_info=record_stability_info,
                )

            return self._submit_client(from_path())
        request_id = self._reserve_ids(1)[0]
        request = types.SaveWeightsForSamplerRequest(
            model_id=self.model_id,
            seq_id=request_id + 1,
            sampling_session_seq_id=self.holder.next_sampling_session_seq_id(),
            kind=kind,
        )

        async def ephemeral() -> SamplingClient:
            result = await self._run_single(
                request_id,
                "save_weights_for_sampler",
                request,
                types.SaveWeightsForSamplerResponseInternal,
                "SaveWeightsForSampler",
            )
            if result.sampling_session_id is None:
                raise ValueError(
                    "save_weights_and_get_sampling_client: the service answered without a "
                    "sampling_session_id"
                )
            return await SamplingClient.create_async(
                self.holder,
                sampling_session_id=result.sampling_session_id,
                base_model=self._base_model(),
                retry_config=retry_config,
                record_stability_info=record_stability_info,
            )

        return self._submit_client(ephemeral())

    async def save_weights_and_get_sampling_client_async(
        self,
        name: str | None = None,
        retry_config: RetryConfig | None = None,
        record_stability_info: bool = False,
        kind: types.SamplingClientKind = "snapshot",
    ) -> SamplingClient:
        """`save_weights_and_get_sampling_client`, awaited."""
        return await self.save_weights_and_get_sampling_client(
            name, retry_config, record_stability_info, kind
        ).result_async()

    # -- information --------------------------------------------------------------------------

    def get_info(self) -> types.GetInfoResponse:
        """The model's architecture, name, LoRA rank and optimizer (fetched anew)."""
        return self.holder.run_sync(self.get_info_async())

    async def get_info_async(self) -> types.GetInfoResponse:
        """`get_info`, awaited."""
        return await self._submit(fetch_training_info(self.holder, self.model_id)).result_async()

    def get_tokenizer(self) -> Tokenizer:
        """The model's tokenizer, from local files or the Hugging Face cache (no download)."""
        from tinkex.tokenizer import get_tokenizer

        return get_tokenizer(self._base_model(), tokenizer_id=self._info.model_data.tokenizer_id)

    def get_console_url(self) -> str:
        """The Tinker console page of this training run."""
        return f"https://tinker-console.thinkingmachines.ai/training-runs/{self.model_id}"

    def get_telemetry(self) -> None:
        """Client telemetry is reported by the ServiceClient's reporter, not per client."""
        return None

    # -- ordering -----------------------------------------------------------------------------

    def _reserve_ids(self, count: int) -> range:
        with self._id_lock:
            start = self._next_request_id
            self._next_request_id += count
            return range(start, start + count)

    def _plan_chunks(self, data: Sequence[types.Datum]) -> list[_Chunk]:
        """Split `data` by the service's chunk limits (count and estimated bytes)."""
        if not data:
            raise ValueError("data is empty; pass at least one Datum")
        config = self.holder.get_client_config()
        chunks: list[_Chunk] = []
        current: list[types.Datum] = []
        current_bytes = 0
        for datum in data:
            size = datum_bytes(datum)
            too_big = current and current_bytes + size > config.fwdbwd_max_chunk_bytes_count
            if too_big or len(current) == config.fwdbwd_max_chunk_len:
                chunks.append(_Chunk(-1, current, current_bytes))
                current, current_bytes = [], 0
            current.append(datum)
            current_bytes += size
        chunks.append(_Chunk(-1, current, current_bytes))
        return chunks

    def _reserve_chunks(self, data: Sequence[types.Datum]) -> list[_Chunk]:
        planned = self._plan_chunks(data)
        ids = self._reserve_ids(len(planned))
        return [
            _Chunk(request_id, chunk.data, chunk.estimated_bytes)
            for request_id, chunk in zip(ids, planned, strict=True)
        ]

    @asynccontextmanager
    async def _turn_range(self, first: int, last: int) -> AsyncIterator[None]:
        """Hold one turn of [first, last]: entered once every earlier request was sent."""
        try:
            while self._error is None and self._turn < first:
                event = self._turn_waiters.get(first)
                if event is None:
                    event = self._turn_waiters[first] = anyio.Event()
                await event.wait()
        except BaseException as error:  # cancelled while waiting: its seq_id is never sent
            self._poison(error)
            raise
        if self._error is not None:
            raise PoisonedClientError(
                "a previous request of this TrainingClient failed, so the service cannot run "
                "later ones in order; create a new TrainingClient (e.g. from a saved state)"
            ) from self._error
        try:
            yield
        except BaseException as error:
            self._poison(error)
            raise
        finally:
            self._turn += 1
            self._wake()

    def _poison(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        """Wake the requests whose turn has come (all of them once the client is poisoned);
        turns advance one at a time, so each waiter's turn is reached exactly."""
        if self._error is not None:
            waiters, self._turn_waiters = list(self._turn_waiters.values()), {}
        else:
            event = self._turn_waiters.pop(self._turn, None)
            waiters = [] if event is None else [event]
        for event in waiters:
            event.set()

    # -- running requests ---------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> APIFuture[T]:
        """Run `coro` on the loop; a future cancelled before it ran poisons the client,
        since its reserved seq_ids will never reach the service."""
        future = self.holder.run_coroutine_threadsafe(coro)
        future.add_done_callback(self._poison_if_cancelled)
        return future

    def _poison_if_cancelled(self, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled() and self._error is None:

            async def poison() -> None:
                self._poison(concurrent.futures.CancelledError("a request was cancelled"))

            self.holder.run_coroutine_threadsafe(poison())

    def _submit_client(self, coro: Coroutine[Any, Any, T]) -> BackcompatFuture[T]:
        future: BackcompatFuture[T] = BackcompatFuture()
        future.chain(self._submit(coro))
        return future

    async def _run_single(
        self,
        request_id: int,
        endpoint_id: str,
        request: Any,
        result_type: type[T],
        request_type: str,
    ) -> T:
        async with self._turn_range(request_id, request_id):
            handle: types.UntypedAPIFuture = await self.holder.call_with_retries(
                endpoint_id, request
            )
        return await self.holder.wait_future(
            handle,
            result_type,
            endpoint_id=endpoint_id,
            request_type=request_type,
            on_queue_state=self._queue_logger,
        )

    async def _saved_path(
        self,
        request_id: int,
        endpoint_id: str,
        request: Any,
        result_type: type[types.SaveWeightsForSamplerResponseInternal]
        | type[types.SaveWeightsExternalResponseInternal],
        request_type: str,
    ) -> str:
        """Run one save request; the `tinker://` path the service saved to."""
        result = await self._run_single(request_id, endpoint_id, request, result_type, request_type)
        if result.path is None:
            raise ValueError(f"{endpoint_id}: the service answered without a path")
        return result.path

    async def _run_pass(
        self,
        chunks: list[_Chunk],
        loss_fn: types.LossFnType,
        loss_fn_config: Mapping[str, float | str] | None,
        *,
        forward_only: bool,
    ) -> types.ForwardBackwardOutput:
        """Send the chunks (concurrently when the service allows, in turn otherwise), then
        wait for all their results and combine them."""
        parallel = self.holder.get_client_config().parallel_fwdbwd_chunks
        handles: list[types.UntypedAPIFuture | None] = [None] * len(chunks)
        config = dict(loss_fn_config) if loss_fn_config is not None else None

        async def send(index: int) -> None:
            chunk = chunks[index]
            first = chunks[0].request_id if parallel else chunk.request_id
            last = chunks[-1].request_id if parallel else chunk.request_id
            async with self._turn_range(first, last):
                handles[index] = await self._send_chunk(chunk, loss_fn, config, forward_only)

        await asyncio.gather(*(send(index) for index in range(len(chunks))))
        request_type = "Forward" if forward_only else "ForwardBackward"
        outputs: list[types.ForwardBackwardOutput | None] = [None] * len(chunks)

        async def wait(index: int, handle: types.UntypedAPIFuture) -> None:
            outputs[index] = await self.holder.wait_future(
                handle,
                types.ForwardBackwardOutput,
                endpoint_id="forward_backward",
                request_type=request_type,
                on_queue_state=self._queue_logger,
            )

        await asyncio.gather(
            *(wait(index, handle) for index, handle in enumerate(handles) if handle is not None)
        )
        return combine_forward_backward_outputs([o for o in outputs if o is not None])

    async def _send_chunk(
        self,
        chunk: _Chunk,
        loss_fn: types.LossFnType,
        loss_fn_config: dict[str, float | str] | None,
        forward_only: bool,
    ) -> types.UntypedAPIFuture:
        request = types.ForwardBackwardRequest(
            forward_backward_input=types.ForwardBackwardInput(
                data=chunk.data, loss_fn=loss_fn, loss_fn_config=loss_fn_config
            ),
            model_id=self.model_id,
            seq_id=chunk.request_id + 1,
        )
        body = encode_forward_backward_request(
            request,
            forward_only=forward_only,
            compress=self.holder.get_client_config().proto_compress_fwdbwd,
        )
        handle: types.UntypedAPIFuture = await self.holder.call_with_retries(
            "forward_backward", body.content, headers=body.headers
        )
        return handle

    async def _run_custom(
        self, data: list[types.Datum], loss_fn: CustomLossFnV1, forwards: list[_Chunk]
    ) -> types.ForwardBackwardOutput:
        try:
            forward = await self._run_pass(forwards, SURROGATE_LOSS_FN, None, forward_only=True)
            custom = await anyio.to_thread.run_sync(run_custom_loss, data, loss_fn, forward)
            offset = len(forwards)
            backwards, start = [], 0
            for chunk in forwards:
                part = custom.data[start : start + len(chunk.data)]
                start += len(chunk.data)
                size = sum(datum_bytes(datum) for datum in part)
                backwards.append(_Chunk(chunk.request_id + offset, part, size))
            result = await self._run_pass(backwards, SURROGATE_LOSS_FN, None, forward_only=False)
        except BaseException as error:
            self._poison(error)
            raise
        metrics = dict(result.metrics)
        surrogate = metrics.pop("loss:sum", 0.0)
        metrics.update(custom.metrics)
        metrics["loss:sum"] = custom.loss_sum
        metrics["surrogate_loss:sum"] = surrogate
        return result.model_copy(update={"metrics": metrics})

    def _load(
        self, path: str, *, optimizer: bool, weights_access_token: str | None
    ) -> APIFuture[types.LoadWeightsResponse]:
        request_id = self._reserve_ids(1)[0]
        request = types.LoadWeightsRequest(
            model_id=self.model_id,
            path=path,
            seq_id=request_id + 1,
            optimizer=optimizer,
            weights_access_token=weights_access_token,
        )
        return self._submit(
            self._run_single(
                request_id, "load_weights", request, types.LoadWeightsResponse, "LoadWeights"
            )
        )

    def _base_model(self) -> str:
        model_name = self._info.model_data.model_name or self._info.model_name
        if model_name is None:
            raise ValueError(
                f"the service reported no base model name for {self.model_id}; pass "
                "base_model explicitly"
            )
        return model_name


async def fetch_training_info(
    holder: ClientHolder, model_id: types.ModelID
) -> types.GetInfoResponse:
    """The service's description of a training model."""
    info: types.GetInfoResponse = await holder.pipeline.call(
        "get_info", types.GetInfoRequest(model_id=model_id)
    )
    return info
