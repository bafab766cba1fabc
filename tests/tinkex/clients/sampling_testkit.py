"""Test kit for the H10 client tests (not a test module): a minimal client core on the real
pipeline and a scripted fake sampler. Loaded by the test modules with `load_testkit()`-style
spec loading, so it works under any `--import-mode`."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pristine.adapters.auth import ApiKeyHeader
from pristine.context import Context
from pristine.pipeline import Pipeline
from pristine.ports.clock import Clock, SystemClock
from pristine.sync import LoopBoundPipeline, LoopThread
from tinkex import types
from tinkex.api_manifest import load_tinker_manifest
from tinkex.clients._holder import WireRegistry
from tinkex.clients.billing import BillingPause
from tinkex.clients.future import APIFuture
from tinkex.proto.sample_response import encode_sample_response

T = TypeVar("T")
API_KEY = "tml-client-test-key-0123456789"
SESSION = "sess1"
SAMPLER = "sess1:sample:0"


class LoopHolder:
    """A minimal client core: the real pipeline and Tinker manifest on a private loop thread."""

    def __init__(
        self, base_url: str, *, clock: Clock, config: types.ClientConfigResponse | None = None
    ) -> None:
        manifest = load_tinker_manifest()
        registry = WireRegistry({name: getattr(types, name) for name in manifest.types})
        context = Context(
            base_url=base_url,
            auth=ApiKeyHeader("X-API-Key", API_KEY),
            registry=registry,
            clock=clock,
        )
        self._loop = LoopThread()
        self._pipeline = LoopBoundPipeline(Pipeline(manifest, context), self._loop)
        self._config = config or types.ClientConfigResponse()
        self.api_key: str | None = API_KEY
        self.session_id = SESSION
        self._sampling_sessions = itertools.count()
        self.billing = BillingPause(
            clock, lambda: self._config.billing_exception_max_pause_duration_sec
        )

    @property
    def pipeline(self) -> LoopBoundPipeline:
        return self._pipeline

    def run_coroutine_threadsafe(self, coro: Coroutine[Any, Any, T]) -> APIFuture[T]:
        return APIFuture[T]().chain(self._loop.submit(coro))

    def get_client_config(self) -> types.ClientConfigResponse:
        return self._config

    def get_session_id(self) -> str:
        return self.session_id

    async def create_sampling_session(
        self, *, model_path: str | None, base_model: str | None
    ) -> str:
        request = types.CreateSamplingSessionRequest(
            session_id=self.session_id,
            sampling_session_seq_id=next(self._sampling_sessions),
            base_model=base_model,
            model_path=model_path,
        )
        response: types.CreateSamplingSessionResponse = await self._pipeline.call(
            "create_sampling_session", request
        )
        return response.sampling_session_id

    @classmethod
    def get_shadow_holder(
        cls, session_id: str, *, base_url: str, api_key: str | None
    ) -> LoopHolder:
        """What an unpickled client gets in another process: a core on the same session."""
        holder = cls(base_url, clock=SystemClock())
        holder.session_id = session_id
        holder.api_key = api_key
        return holder

    def close(self) -> None:
        self._loop.run(self._pipeline.aclose())
        self._loop.close()


class FakeSampler:
    """Scripted /asample and /retrieve_future: each sample returns `num_samples` sequences
    of the prompt's tokens reversed; `pushback` holds statuses to answer first; clearing
    `hold` makes every poll answer `try_again` (paused_capacity)."""

    def __init__(self, httpserver: HTTPServer) -> None:
        self.requests: list[dict[str, Any]] = []
        self.pushback: list[int] = []
        self.pending: dict[str, dict[str, Any]] = {}
        self.poll_headers: list[dict[str, str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self._ids = itertools.count(1)
        httpserver.expect_request("/api/v1/asample", method="POST").respond_with_handler(
            self._asample
        )
        httpserver.expect_request("/api/v1/retrieve_future").respond_with_handler(self._retrieve)

    def _asample(self, request: Request) -> Response:
        body = json.loads(request.data)
        self.requests.append(body)
        if self.pushback:
            status = self.pushback.pop(0)
            return Response(json.dumps({"detail": f"pushback {status}"}), status=status)
        request_id = f"req{next(self._ids)}"
        self.pending[request_id] = body
        ids = [f"{request_id}-{i}" for i in range(body["num_samples"])]
        return Response(json.dumps({"request_id": request_id, "sample_sequence_ids": ids}))

    def _retrieve(self, request: Request) -> Response:
        self.poll_headers.append(dict(request.headers))
        body = self.pending[json.loads(request.data)["request_id"]]
        if not self.hold.is_set():
            return Response(json.dumps({"type": "try_again", "queue_state": "paused_capacity"}))
        tokens = [t for c in body["prompt"]["chunks"] for t in c["tokens"]]
        prompt_logprobs = [None] + [-0.5] * (len(tokens) - 1) if body["prompt_logprobs"] else None
        response = types.SampleResponse(
            sequences=[
                types.SampledSequence(
                    stop_reason="length", tokens=tokens[::-1], logprobs=[-1.0] * len(tokens)
                )
                for _ in range(body["num_samples"])
            ],
            prompt_logprobs=prompt_logprobs,
        )
        return Response(encode_sample_response(response), content_type="application/x-protobuf")
