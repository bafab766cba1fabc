"""A minimal Tinker service for client benchmarks: answers at once (or after `--delay-ms`).

Both clients, `tinkex` and the official `tinker`, talk to it unchanged, so what a benchmark
measures is client cost, not model cost. It runs in its own process (its CPU is not the
client's) and counts the request bytes it receives per endpoint (`GET /bench/stats`).
Results of `optim_step` carry `finished_at`, the server's `time.monotonic()` when the result
became ready, so a client on the same machine can measure future latency.

Run: `python -m bench.stub_tinker --port 8123 [--delay-ms 0]`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from tinkex.proto import decode_forward_backward_request, encode_sample_response
from tinkex.proto.fwdbwd_output import encode_forward_backward_output
from tinkex.types import Datum, ForwardBackwardOutput, SampledSequence, SampleResponse, TensorData

PROTOBUF = "application/x-protobuf"
LONG_POLL_S = 25.0


@dataclass
class Pending:
    ready_at: float
    body: bytes
    content_type: str


class Stub:
    """In-memory futures and counters of one stub process."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.futures: dict[str, Pending] = {}
        self.bytes_in: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._ids = itertools.count(1)

    def submit(
        self, body: bytes, content_type: str = "application/json", **extra: object
    ) -> Response:
        request_id = f"req-{next(self._ids)}"
        self.futures[request_id] = Pending(time.monotonic() + self.delay_s, body, content_type)
        return _json({"request_id": request_id, **extra})

    def submit_json(self, value: object) -> Response:
        return self.submit(orjson.dumps(value))


def _json(value: object) -> Response:
    return Response(orjson.dumps(value), media_type="application/json")


def _target_len(datum: Datum) -> int:
    return len(datum.loss_fn_inputs["target_tokens"].data)


def build_app(stub: Stub) -> Starlette:
    async def counted(request: Request) -> bytes:
        body = await request.body()
        name = request.url.path.rsplit("/", 1)[-1]
        stub.bytes_in[name] += len(body)
        stub.calls[name] += 1
        return body

    async def client_config(request: Request) -> Response:
        await counted(request)
        return _json({"use_pyqwest_transport": True})

    async def empty(request: Request) -> Response:
        await counted(request)
        return _json({})

    async def create_session(request: Request) -> Response:
        await counted(request)
        return _json({"session_id": f"session-{next(stub._ids)}"})

    async def telemetry(request: Request) -> Response:
        await counted(request)
        return _json({"status": "accepted"})

    async def create_model(request: Request) -> Response:
        body = orjson.loads(await counted(request))
        return stub.submit_json(
            {"model_id": f"{body['session_id']}:train:{body.get('model_seq_id', 0)}"}
        )

    async def get_info(request: Request) -> Response:
        body = orjson.loads(await counted(request))
        return _json(
            {
                "model_id": body["model_id"],
                "model_data": {"arch": "llama", "model_name": "stub", "tokenizer_id": "stub"},
                "is_lora": True,
                "lora_rank": 8,
                "model_name": "stub",
            }
        )

    async def create_sampling_session(request: Request) -> Response:
        body = orjson.loads(await counted(request))
        return _json({"sampling_session_id": f"{body['session_id']}:sample:{next(stub._ids)}"})

    async def asample(request: Request) -> Response:
        body = orjson.loads(await counted(request))
        length = int(body["sampling_params"].get("max_tokens") or 4)
        sequences = [
            SampledSequence(
                stop_reason="length", tokens=list(range(length)), logprobs=[-0.5] * length
            )
            for _ in range(int(body.get("num_samples", 1)))
        ]
        data = encode_sample_response(SampleResponse(sequences=sequences))
        ids = [f"seq-{next(stub._ids)}" for _ in sequences]
        return stub.submit(data, f"{PROTOBUF}; messagetype=SampleResponse", sample_sequence_ids=ids)

    async def forward_backward(request: Request) -> Response:
        raw = await counted(request)
        decoded = decode_forward_backward_request(
            raw, content_encoding=request.headers.get("content-encoding")
        )
        outputs = [
            {"logprobs": TensorData(data=[-0.5] * _target_len(datum), dtype="float32")}
            for datum in decoded.request.forward_backward_input.data
        ]
        output = ForwardBackwardOutput(
            loss_fn_output_type="cross_entropy",
            loss_fn_outputs=outputs,
            metrics={"loss:sum": 1.0},
        )
        data = encode_forward_backward_output(output)
        return stub.submit(data, f"{PROTOBUF}; messagetype=ForwardBackwardOutput")

    async def optim_step(request: Request) -> Response:
        await counted(request)
        request_id = f"req-{next(stub._ids)}"
        ready_at = time.monotonic() + stub.delay_s
        body = orjson.dumps({"metrics": {"finished_at": ready_at}})
        stub.futures[request_id] = Pending(ready_at, body, "application/json")
        return _json({"request_id": request_id})

    async def retrieve_future(request: Request) -> Response:
        body = orjson.loads(await counted(request))
        pending = stub.futures.get(body["request_id"])
        if pending is None:
            return Response(b'{"detail": "unknown request_id"}', 404)
        wait = pending.ready_at - time.monotonic()
        if wait > LONG_POLL_S:
            await asyncio.sleep(LONG_POLL_S)
            return _json(
                {"type": "try_again", "request_id": body["request_id"], "queue_state": "active"}
            )
        if wait > 0:
            await asyncio.sleep(wait)
        del stub.futures[body["request_id"]]
        return Response(pending.body, media_type=pending.content_type)

    async def capabilities(request: Request) -> Response:
        return _json({"supported_models": [{"model_name": "stub"}]})

    async def stats(request: Request) -> Response:
        return _json({"bytes_in": dict(stub.bytes_in), "calls": dict(stub.calls)})

    async def reset(request: Request) -> Response:
        stub.bytes_in.clear()
        stub.calls.clear()
        return _json({})

    post = ["POST"]
    api = [
        Route("/client/config", client_config, methods=post),
        Route("/client/dynamic_config", empty, methods=post),
        Route("/create_session", create_session, methods=post),
        Route("/session_heartbeat", empty, methods=post),
        Route("/sessions/{session_id}/finish", empty, methods=post),
        Route("/telemetry", telemetry, methods=post),
        Route("/create_model", create_model, methods=post),
        Route("/get_info", get_info, methods=post),
        Route("/create_sampling_session", create_sampling_session, methods=post),
        Route("/asample", asample, methods=post),
        Route("/forward_backward", forward_backward, methods=post),
        Route("/optim_step", optim_step, methods=post),
        Route("/retrieve_future", retrieve_future, methods=post),
        Route("/cancel_future", empty, methods=post),
        Route("/get_server_capabilities", capabilities, methods=["GET"]),
    ]
    return Starlette(
        routes=[
            Mount("/api/v1", routes=api),
            Route("/bench/stats", stats, methods=["GET"]),
            Route("/bench/reset", reset, methods=["POST"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    app = build_app(Stub(args.delay_ms / 1000))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", backlog=4096)


if __name__ == "__main__":
    main()
