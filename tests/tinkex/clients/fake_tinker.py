"""A loopback fake of the Tinker service for client tests (a helper module, not tests).

`FakeTinker` answers the session, model, training, checkpoint and future endpoints the way
the official service does (futures resolve on the first poll), records every request in
arrival order, and lets a test script answers: `respond(path, handler)` replaces the result
of a future endpoint, `fail(path, status, times)` answers with errors first.
The conftest registers this module as `fake_tinker`, for any pytest import mode.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tinkex import types
from tinkex.proto.fwdbwd_output import encode_forward_backward_output
from tinkex.proto.request import decode_forward_backward_request

API_KEY = "tml-fake-tinker-key-0123456789"
SESSION_ID = "session-1"
BASE_MODEL = "Qwen/Qwen3-8B"
LOGPROB = -0.5
"""The logprob the fake reports for every target token."""

Handler = Callable[[dict[str, Any]], dict[str, Any]]

FUTURE_PATHS = (
    "create_custom_loss",
    "create_model",
    "forward_backward",
    "optim_step",
    "save_weights",
    "save_weights_for_sampler",
    "save_weights_external",
    "load_weights",
    "asample",
)


@dataclass(frozen=True)
class Recorded:
    """One request the fake received: the endpoint's last path segment and its body."""

    endpoint: str
    body: dict[str, Any]
    headers: dict[str, str]


class FakeTinker:
    """Scripted Tinker endpoints on a pytest-httpserver."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.base_url = server.url_for("/").rstrip("/")
        self.config: dict[str, Any] = {}
        self.dynamic_config: dict[str, Any] = {}
        self.model_name: str | None = BASE_MODEL
        self.session_messages: dict[str, str] = {}
        self.protobuf_results = False
        self.requests: list[Recorded] = []
        self.results: dict[str, Handler] = {
            "create_model": self._create_model,
            "forward_backward": self._forward_backward,
            "optim_step": lambda body: {"metrics": {"step": float(body["seq_id"])}},
            "save_weights": lambda body: {"path": f"tinker://{body['model_id']}/{body['path']}"},
            "save_weights_for_sampler": self._save_for_sampler,
            "save_weights_external": lambda body: {"path": f"hf://{body['path']}"},
            "load_weights": self._load_weights,
            "asample": self._sample,
        }
        self.failures: dict[str, list[int]] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._routes()

    # -- scripting ----------------------------------------------------------------------------

    def respond(self, endpoint: str, handler: Handler) -> None:
        """Answer `endpoint` (a future endpoint) with `handler(request body)`."""
        self.results[endpoint] = handler

    def fail(self, endpoint: str, status: int, times: int = 1) -> None:
        """Answer the next `times` requests to `endpoint` with HTTP `status`."""
        self.failures.setdefault(endpoint, []).extend([status] * times)

    def bodies(self, endpoint: str) -> list[dict[str, Any]]:
        """The bodies received by `endpoint`, in arrival order."""
        return [r.body for r in self.requests if r.endpoint == endpoint]

    def wait_for(self, endpoint: str, count: int, timeout: float = 10.0) -> None:
        """Block until `endpoint` has received `count` requests (an event, not a sleep)."""
        with self._lock:
            arrived = self._lock.wait_for(lambda: len(self.bodies(endpoint)) >= count, timeout)
        assert arrived, f"{endpoint} got {len(self.bodies(endpoint))} of {count} requests"

    # -- routes -------------------------------------------------------------------------------

    def _routes(self) -> None:
        plain: dict[str, Handler] = {
            "client/config": lambda body: self.config,
            "client/dynamic_config": lambda body: self.dynamic_config,
            "create_session": lambda body: {"session_id": SESSION_ID, **self.session_messages},
            "session_heartbeat": lambda body: {},
            "get_info": self._get_info,
            "create_sampling_session": lambda body: {
                "sampling_session_id": f"{body['session_id']}:sample:"
                f"{body['sampling_session_seq_id']}"
            },
            "get_server_capabilities": lambda body: {
                "supported_models": [{"model_name": BASE_MODEL}]
            },
        }
        for path, handler in plain.items():
            self.server.expect_request(f"/api/v1/{path}").respond_with_handler(
                self._json_route(path, handler)
            )
        for path in FUTURE_PATHS:
            self.server.expect_request(f"/api/v1/{path}").respond_with_handler(
                self._future_route(path)
            )
        self.server.expect_request(re.compile(r"/api/v1/samplers/.+")).respond_with_handler(
            self._json_route("samplers", lambda body: {"sampler_id": "s", "base_model": BASE_MODEL})
        )
        self.server.expect_request("/api/v1/retrieve_future").respond_with_handler(self._retrieve)
        self.server.expect_request(f"/api/v1/sessions/{SESSION_ID}/finish").respond_with_handler(
            self._json_route("finish", lambda body: {})
        )

    def _record(self, endpoint: str, request: Request) -> tuple[dict[str, Any], int | None]:
        if endpoint == "forward_backward":
            decoded = decode_forward_backward_request(
                request.data, content_encoding=request.headers.get("Content-Encoding")
            )
            body = json.loads(decoded.request.to_json_bytes())
            body["forward_only"] = decoded.forward_only
        else:
            body = json.loads(request.data) if request.data else {}
        with self._lock:
            self.requests.append(Recorded(endpoint, body, dict(request.headers)))
            self._lock.notify_all()
            pending = self.failures.get(endpoint)
            status = pending.pop(0) if pending else None
        return body, status

    def _json_route(self, endpoint: str, handler: Handler) -> Callable[[Request], Response]:
        def route(request: Request) -> Response:
            body, status = self._record(endpoint, request)
            if status is not None:
                return _error(status)
            return _json(handler(body))

        return route

    def _future_route(self, endpoint: str) -> Callable[[Request], Response]:
        def route(request: Request) -> Response:
            body, status = self._record(endpoint, request)
            if status is not None:
                return _error(status)
            request_id = f"req-{next(self._ids)}"
            try:
                result: dict[str, Any] = {"ok": self.results[endpoint](body)}
            except Exception as error:  # the handler's failure becomes the future's
                result = {"error": str(error)}
            with self._lock:
                self._pending[request_id] = result
            handle: dict[str, Any] = {"request_id": request_id}
            if endpoint == "asample":
                handle["sample_sequence_ids"] = [
                    f"{request_id}-{i}" for i in range(body["num_samples"])
                ]
            return _json(handle)

        return route

    def _retrieve(self, request: Request) -> Response:
        request_id = json.loads(request.data)["request_id"]
        with self._lock:
            result = self._pending[request_id]
        if "error" in result:
            return _json({"type": "request_failed", "error": result["error"], "category": "user"})
        if self.protobuf_results and "loss_fn_outputs" in result["ok"]:
            output = types.ForwardBackwardOutput.model_validate(result["ok"])
            return Response(
                encode_forward_backward_output(output), content_type="application/x-protobuf"
            )
        return _json(result["ok"])

    # -- default results ----------------------------------------------------------------------

    def _create_model(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"model_id": f"{body['session_id']}:train:{body['model_seq_id']}"}

    def _get_info(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "model_id": body["model_id"],
            "model_data": {"model_name": self.model_name, "arch": "qwen3"},
            "is_lora": True,
            "lora_rank": 32,
        }

    def _forward_backward(self, body: dict[str, Any]) -> dict[str, Any]:
        """Every target token gets logprob LOGPROB; loss:sum = sum(-logprob * weight)."""
        outputs, loss = [], 0.0
        for datum in body["forward_backward_input"]["data"]:
            inputs = datum["loss_fn_inputs"]
            count = len(inputs["target_tokens"]["data"])
            weights = inputs.get("weights", {"data": [1.0] * count})["data"]
            loss += sum(-LOGPROB * w for w in weights)
            outputs.append(
                {"logprobs": {"data": [LOGPROB] * count, "dtype": "float32", "shape": [count]}}
            )
        return {
            "loss_fn_output_type": "cross_entropy",
            "loss_fn_outputs": outputs,
            "metrics": {"loss:sum": loss, "seq:max": float(body["seq_id"])},
        }

    def _save_for_sampler(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("path") is not None:
            return {"path": f"tinker://{body['model_id']}/sampler_weights/{body['path']}"}
        return {"sampling_session_id": f"{SESSION_ID}:sample:{body['sampling_session_seq_id']}"}

    def _sample(self, body: dict[str, Any]) -> dict[str, Any]:
        """Each sample continues the prompt with its tokens reversed."""
        tokens = [t for chunk in body["prompt"]["chunks"] for t in chunk["tokens"]][::-1]
        sequence = {"tokens": tokens, "logprobs": [LOGPROB] * len(tokens), "stop_reason": "length"}
        return {"type": "sample", "sequences": [sequence] * body["num_samples"]}

    def _load_weights(self, body: dict[str, Any]) -> dict[str, Any]:
        model_id = body.get("model_id") or f"{body['session_id']}:train:{body['model_seq_id']}"
        return {"path": body["path"], "model_id": model_id}


def _json(value: object) -> Response:
    return Response(json.dumps(value), content_type="application/json")


def _error(status: int) -> Response:
    return Response(json.dumps({"detail": f"scripted {status}"}), status=status)


def info_response(model_id: str) -> types.GetInfoResponse:
    """What the fake's get_info answers for `model_id`."""
    return types.GetInfoResponse.model_validate(
        {"model_id": model_id, "model_data": {"model_name": BASE_MODEL}}
    )
