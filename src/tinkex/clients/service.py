"""`ServiceClient`: the entry point; it owns the session and creates the other clients.

Construction is cheap and offline: the credential and base URL are resolved at once (see
`tinkex.clients.credentials`), but the server is first contacted by the first factory call,
which fetches the client config, creates the session and starts its heartbeat. `close()`
finishes the session; used as a context manager the status follows the block's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import threading
import warnings
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

from tinkex import types
from tinkex.clients._holder import ClientHolder
from tinkex.clients.future import APIFuture, BackcompatFuture, completed
from tinkex.clients.loss_handle import LossHandle, PerDatumLossFn, encode_graph, trace_loss
from tinkex.clients.queue_state import training_queue_logger
from tinkex.clients.telemetry import TelemetryReporter, telemetry_enabled
from tinkex.clients.training import TrainingClient, fetch_training_info

if TYPE_CHECKING:
    from tinkex.clients.dispatch import RetryConfig
    from tinkex.clients.rest import RestClient
    from tinkex.clients.sampling import SamplingClient

__all__ = ["ServiceClient"]

T = TypeVar("T")

FINISH_TIMEOUT_S = 10.0
"""How long `close()` tries to tell the server the session finished. The server expires a
session without heartbeats anyway, so a dead server must not hold a `with` block for the
pipeline's whole retry budget (15 minutes)."""
FinishStatus = Literal["success", "errored", "interrupted"]


class ServiceClient:
    """Create training, sampling and REST clients that share one session."""

    def __init__(
        self,
        user_metadata: dict[str, str] | None = None,
        project_id: str | None = None,
        *,
        display_name: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        default_headers_overrides: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            warnings.warn(
                f"ServiceClient ignores unsupported arguments: {', '.join(sorted(kwargs))}",
                FutureWarning,
                stacklevel=2,
            )
        self._project_id = project_id or os.environ.get("TINKER_PROJECT_ID") or None
        self._holder = ClientHolder(
            base_url=base_url,
            api_key=api_key,
            user_metadata=user_metadata,
            project_id=self._project_id,
            display_name=display_name,
            default_headers=default_headers_overrides,
            telemetry=telemetry_enabled(),
        )
        self._close_lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_holder(cls, holder: ClientHolder) -> ServiceClient:
        """A ServiceClient over an existing core (tests, embedding)."""
        client = cls.__new__(cls)
        client._holder = holder
        client._project_id = None
        client._close_lock = threading.Lock()
        client._closed = False
        return client

    @property
    def holder(self) -> ClientHolder:
        return self._holder

    # -- training clients ---------------------------------------------------------------------

    def create_lora_training_client(
        self,
        base_model: str,
        rank: int = 32,
        seed: int | None = None,
        train_mlp: bool = True,
        train_attn: bool = True,
        train_unembed: bool = True,
        user_metadata: dict[str, str] | None = None,
        optimizer: types.OptimizerConfig | None = None,
    ) -> BackcompatFuture[TrainingClient]:
        """A new LoRA adapter of rank `rank` on `base_model`, and its TrainingClient."""
        if not (train_mlp or train_attn or train_unembed):
            raise ValueError("at least one of train_mlp, train_attn or train_unembed must be True")
        lora = types.LoraConfig(
            rank=rank,
            seed=seed,
            train_mlp=train_mlp,
            train_attn=train_attn,
            train_unembed=train_unembed,
        )
        model_seq_id = self._holder.next_model_seq_id()

        async def create() -> TrainingClient:
            session_id = await self._holder.ensure_session()
            request = types.CreateModelRequest(
                session_id=session_id,
                model_seq_id=model_seq_id,
                base_model=base_model,
                user_metadata=user_metadata,
                lora_config=lora,
                optimizer_config=optimizer or types.AdamOptimizerConfig(),
            )
            handle: types.UntypedAPIFuture = await self._holder.call_with_retries(
                "create_model", request
            )
            created = await self._holder.wait_future(
                handle,
                types.CreateModelResponse,
                endpoint_id="create_model",
                request_type="CreateModel",
                on_queue_state=self._creation_logger(base_model),
            )
            return await self._training_client(model_seq_id, created.model_id)

        return self._submit_client(create())

    async def create_lora_training_client_async(
        self,
        base_model: str,
        rank: int = 32,
        seed: int | None = None,
        train_mlp: bool = True,
        train_attn: bool = True,
        train_unembed: bool = True,
        user_metadata: dict[str, str] | None = None,
        optimizer: types.OptimizerConfig | None = None,
    ) -> TrainingClient:
        """`create_lora_training_client`, awaited."""
        return await self.create_lora_training_client(
            base_model, rank, seed, train_mlp, train_attn, train_unembed, user_metadata, optimizer
        ).result_async()

    def create_training_client_from_state(
        self,
        path: str,
        base_model: str | None = None,
        user_metadata: dict[str, str] | None = None,
        weights_access_token: str | None = None,
        optimizer: types.OptimizerConfig | None = None,
    ) -> BackcompatFuture[TrainingClient]:
        """A TrainingClient with the weights of checkpoint `path` (fresh optimizer state)."""
        return self._from_state(
            path, False, optimizer, base_model, user_metadata, weights_access_token
        )

    async def create_training_client_from_state_async(
        self,
        path: str,
        base_model: str | None = None,
        user_metadata: dict[str, str] | None = None,
        weights_access_token: str | None = None,
        optimizer: types.OptimizerConfig | None = None,
    ) -> TrainingClient:
        """`create_training_client_from_state`, awaited."""
        return await self.create_training_client_from_state(
            path, base_model, user_metadata, weights_access_token, optimizer
        ).result_async()

    def create_training_client_from_state_with_optimizer(
        self,
        path: str,
        base_model: str | None = None,
        user_metadata: dict[str, str] | None = None,
        weights_access_token: str | None = None,
    ) -> BackcompatFuture[TrainingClient]:
        """A TrainingClient with the weights and optimizer state of checkpoint `path`."""
        return self._from_state(path, True, None, base_model, user_metadata, weights_access_token)

    async def create_training_client_from_state_with_optimizer_async(
        self,
        path: str,
        base_model: str | None = None,
        user_metadata: dict[str, str] | None = None,
        weights_access_token: str | None = None,
    ) -> TrainingClient:
        """`create_training_client_from_state_with_optimizer`, awaited."""
        return await self.create_training_client_from_state_with_optimizer(
            path, base_model, user_metadata, weights_access_token
        ).result_async()

    # -- other clients ------------------------------------------------------------------------

    def create_sampling_client(
        self,
        model_path: str | None = None,
        base_model: str | None = None,
        retry_config: RetryConfig | None = None,
        record_stability_info: bool = False,
    ) -> BackcompatFuture[SamplingClient]:
        """A SamplingClient for saved sampler weights (`model_path`) or a base model."""
        if (model_path is None) == (base_model is None):
            raise ValueError(
                "create_sampling_client needs exactly one of model_path='tinker://...' or "
                "base_model='<model name>'"
            )
        from tinkex.clients.sampling import SamplingClient

        return self._submit_client(
            SamplingClient.create_async(
                self._holder,
                model_path=model_path,
                base_model=base_model,
                retry_config=retry_config,
                record_stability_info=record_stability_info,
            )
        )

    async def create_sampling_client_async(
        self,
        model_path: str | None = None,
        base_model: str | None = None,
        retry_config: RetryConfig | None = None,
        record_stability_info: bool = False,
    ) -> SamplingClient:
        """`create_sampling_client`, awaited."""
        return await self.create_sampling_client(
            model_path, base_model, retry_config, record_stability_info
        ).result_async()

    def create_rest_client(self) -> RestClient:
        """A RestClient sharing this client's connection and credentials."""
        from tinkex.clients.rest import RestClient

        return RestClient(self._holder)

    def copy_weights(
        self,
        path: str,
        *,
        ttl_seconds: int | None = None,
        weights_access_token: str | None = None,
    ) -> APIFuture[str]:
        """Copy checkpoint `path` into this client's project; the copy's `tinker://` path."""
        return self.create_rest_client().copy_weights(
            path,
            self._project_id,
            ttl_seconds=ttl_seconds,
            weights_access_token=weights_access_token,
        )

    async def copy_weights_async(
        self,
        path: str,
        *,
        ttl_seconds: int | None = None,
        weights_access_token: str | None = None,
    ) -> str:
        """`copy_weights`, awaited."""
        return await self.copy_weights(
            path, ttl_seconds=ttl_seconds, weights_access_token=weights_access_token
        ).result_async()

    def create_custom_loss(
        self, fn: PerDatumLossFn, input_ranks: Mapping[str, types.CustomLossInputRank]
    ) -> APIFuture[LossHandle]:
        """Trace a per-datum loss for `TrainingClient.forward_backward_custom` (alpha).

        `fn(logprobs, *inputs)` runs once per datum; its parameters after `logprobs` name the
        `loss_fn_inputs` it reads, and `input_ranks` gives each parameter's rank (0 scalar,
        1 `[T]`, 2 `[T, K]`). It returns `(scalar loss, {"custom/<name>:sum|mean": tensor})`.
        It is traced with torch.fx here, so it may use torch and math only and must not
        branch on tensor values; a loss breaking these rules raises `ValueError` now. When
        the server accepts uploads (`custom_loss_server_side`) the traced graph runs there,
        otherwise on this client. Each loss is created once per session.
        """
        handle = trace_loss(fn, input_ranks, self._holder.get_session_id())
        holder = self._holder

        async def create() -> LossHandle:
            holder.register_custom_loss(handle.key, handle.name)
            if not holder.get_client_config().custom_loss_server_side:
                return handle
            request = types.CreateCustomLossRequest(
                session_id=handle.session_id,
                custom_loss_seq_id=holder.next_custom_loss_seq_id(),
                name=handle.name,
                inputs=list(handle.inputs),
                graph=encode_graph(handle),
            )
            submitted = await holder.call_with_retries("create_custom_loss", request)
            created = await holder.wait_future(
                submitted,
                types.CreateCustomLossResponse,
                endpoint_id="create_custom_loss",
                request_type="CreateCustomLoss",
            )
            return dataclasses.replace(handle, loss_id=created.loss_id)

        return holder.run_coroutine_threadsafe(create())

    async def create_custom_loss_async(
        self, fn: PerDatumLossFn, input_ranks: Mapping[str, types.CustomLossInputRank]
    ) -> LossHandle:
        """`create_custom_loss`, awaited."""
        return await self.create_custom_loss(fn, input_ranks).result_async()

    def get_server_capabilities(self) -> types.GetServerCapabilitiesResponse:
        """The models the service offers (blocking; prefer `RestClient`)."""
        return self._holder.run_sync(self.get_server_capabilities_async())

    async def get_server_capabilities_async(self) -> types.GetServerCapabilitiesResponse:
        """`get_server_capabilities`, awaited."""
        capabilities: types.GetServerCapabilitiesResponse = await self._holder.pipeline.call(
            "get_server_capabilities"
        )
        return capabilities

    def get_console_url(self) -> str:
        """The Tinker console page of this session (or of all sessions before it exists)."""
        base = "https://tinker-console.thinkingmachines.ai/sessions"
        session_id = self._holder.session_id
        return base if session_id is None else f"{base}/{session_id}"

    def get_telemetry(self) -> TelemetryReporter | None:
        """The session's telemetry reporter: None before the first factory call and when
        `TINKER_TELEMETRY=0` turns telemetry off."""
        return self._holder.telemetry

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self, status: FinishStatus, detail: str | None = None) -> APIFuture[None]:
        """Finish the session with `status` and release the connections and loop thread.

        Returns at once; the future completes when the session is finished. Idempotent.
        """
        with self._close_lock:
            if self._closed:
                return completed(None)
            self._closed = True
        holder = self._holder

        async def finish() -> None:
            try:
                session_id = holder.session_id
                if session_id is None:
                    return
                with contextlib.suppress(Exception):  # a courtesy: the session expires anyway
                    async with asyncio.timeout(FINISH_TIMEOUT_S):
                        await holder.pipeline.call(
                            "finish_session",
                            {"reason": {"type": status}, "detail": detail},
                            path_params={"session_id": session_id},
                        )
            finally:
                await holder.aclose()

        future = holder.run_coroutine_threadsafe(finish())
        future.add_done_callback(
            lambda _: threading.Thread(target=holder.stop_loop, daemon=True).start()
        )
        return future

    def __enter__(self) -> Self:
        with self._close_lock:
            if self._closed:
                raise RuntimeError("this ServiceClient is closed; create a new ServiceClient")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status: FinishStatus = "success"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "interrupted"
        else:
            status = "errored"
        self.close(status, None if exc is None else repr(exc)).result()

    # -- internals ----------------------------------------------------------------------------

    def _submit_client(self, coro: Coroutine[Any, Any, T]) -> BackcompatFuture[T]:
        future: BackcompatFuture[T] = BackcompatFuture()
        future.chain(self._holder.run_coroutine_threadsafe(coro))
        return future

    def _creation_logger(self, identifier: str) -> Any:
        return training_queue_logger(
            identifier, self._holder.pipeline.context.clock, "Model creation"
        )

    async def _training_client(self, model_seq_id: int, model_id: str) -> TrainingClient:
        info = await fetch_training_info(self._holder, model_id)
        return TrainingClient(self._holder, model_seq_id, model_id, info=info)

    def _from_state(
        self,
        path: str,
        with_optimizer: bool,
        optimizer_config: types.OptimizerConfig | None,
        base_model: str | None,
        user_metadata: dict[str, str] | None,
        weights_access_token: str | None,
    ) -> BackcompatFuture[TrainingClient]:
        model_seq_id = self._holder.next_model_seq_id()

        async def create() -> TrainingClient:
            session_id = await self._holder.ensure_session()
            model_id = f"{session_id}:train:{model_seq_id}"
            request = types.LoadWeightsRequest(
                session_id=session_id,
                model_seq_id=model_seq_id,
                base_model=base_model,
                user_metadata=user_metadata,
                path=path,
                optimizer=with_optimizer,
                optimizer_config=optimizer_config,
                weights_access_token=weights_access_token,
            )
            handle: types.UntypedAPIFuture = await self._holder.call_with_retries(
                "load_weights", request
            )
            loaded = await self._holder.wait_future(
                handle,
                types.LoadWeightsResponse,
                endpoint_id="load_weights",
                request_type="LoadWeights",
                on_queue_state=self._creation_logger(model_id),
            )
            return await self._training_client(model_seq_id, loaded.model_id or model_id)

        return self._submit_client(create())
