"""Hot-path type costs, tinkex vs the official tinker 0.38 package.

Run: .venv/bin/python bench/bench_types.py   (needs the dev extras: tinker==0.38.0)

Scenarios: build 256 Datums of 2,048 tokens (target_tokens and weights from numpy), encode
the ForwardBackwardInput as a JSON body, and parse a 64-sequence SampleResponse from JSON.
Ratios are official time / tinkex time, so above 1.0 means tinkex is faster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import tinker.types as official
from tinker.proto.request_conv import forward_backward_request_to_proto
from tinker.types._pydantic_types.datum import Datum as OfficialJsonDatum
from tinker.types._pydantic_types.forward_backward_input import (
    ForwardBackwardInput as OfficialJsonForwardBackwardInput,
)

import tinkex.types as tx

N_DATUMS = 256
N_TOKENS = 2048
N_SEQUENCES = 64
SEQUENCE_TOKENS = 512


def best_of(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_inputs() -> list[tuple[list[int], dict[str, Any]]]:
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(N_DATUMS):
        tokens = rng.integers(0, 150_000, size=N_TOKENS + 1)
        rows.append(
            (
                tokens[:-1].tolist(),
                {
                    "target_tokens": tokens[1:],
                    "weights": (rng.random(N_TOKENS) > 0.3).astype(np.float32),
                },
            )
        )
    return rows


def build_tinkex(rows: list[tuple[list[int], dict[str, Any]]]) -> list[tx.Datum]:
    return [
        tx.Datum(model_input=tx.ModelInput.from_ints(tokens), loss_fn_inputs=inputs)
        for tokens, inputs in rows
    ]


def build_official(rows: list[tuple[list[int], dict[str, Any]]]) -> list[Any]:
    return [
        official.Datum(model_input=official.ModelInput.from_ints(tokens), loss_fn_inputs=inputs)
        for tokens, inputs in rows
    ]


def build_official_json(rows: list[tuple[list[int], dict[str, Any]]]) -> list[Any]:
    return [
        OfficialJsonDatum(model_input=official.ModelInput.from_ints(tokens), loss_fn_inputs=inputs)
        for tokens, inputs in rows
    ]


def official_json_body(model: Any) -> bytes:
    """How the official client encodes a JSON body: model_dump, then httpx's json.dumps."""
    wire = model.model_dump(mode="json", exclude_unset=False, exclude_none=True)
    return json.dumps(wire, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def sample_response_body() -> bytes:
    rng = np.random.default_rng(1)
    sequences = [
        {
            "stop_reason": "length",
            "sequence_id": f"seq-{i}",
            "tokens": rng.integers(0, 150_000, size=SEQUENCE_TOKENS).tolist(),
            "logprobs": (-rng.random(SEQUENCE_TOKENS)).astype(np.float32).tolist(),
        }
        for i in range(N_SEQUENCES)
    ]
    return orjson.dumps({"sequences": sequences, "type": "sample"})


def official_sample_response(body: bytes) -> Any:
    """Nearest official equivalent: 0.38 has no JSON decoder, so build its dataclasses."""
    raw = json.loads(body)
    return official.SampleResponse(
        sequences=[
            official.SampledSequence(
                stop_reason=seq["stop_reason"],
                sequence_id=seq["sequence_id"],
                tokens_np=np.asarray(seq["tokens"], dtype=np.int32),
                logprobs_np=np.asarray(seq["logprobs"], dtype=np.float32),
            )
            for seq in raw["sequences"]
        ]
    )


def report(label: str, tinkex_s: float, official_s: float, official_label: str) -> None:
    ratio = official_s / tinkex_s
    print(
        f"{label:<44} tinkex {tinkex_s * 1e3:8.2f} ms   {official_label} "
        f"{official_s * 1e3:8.2f} ms   ratio {ratio:5.2f}x"
    )


def main() -> None:
    rows = make_inputs()
    print(f"{N_DATUMS} datums x {N_TOKENS} tokens; {N_SEQUENCES} sequences x {SEQUENCE_TOKENS}")

    t_build = best_of(lambda: build_tinkex(rows))
    report("build Datums from numpy", t_build, best_of(lambda: build_official(rows)), "official")
    report(
        "build Datums from numpy (official JSON model)",
        t_build,
        best_of(lambda: build_official_json(rows)),
        "off-json",
    )

    fb_input = tx.ForwardBackwardInput(data=build_tinkex(rows), loss_fn="cross_entropy")
    official_fb = OfficialJsonForwardBackwardInput(
        data=build_official_json(rows), loss_fn="cross_entropy"
    )
    assert orjson.loads(fb_input.to_json_bytes()) == orjson.loads(official_json_body(official_fb))
    t_encode = best_of(fb_input.to_json_bytes)
    report(
        "encode ForwardBackwardInput as JSON",
        t_encode,
        best_of(lambda: official_json_body(official_fb)),
        "official",
    )
    official_request = official.ForwardBackwardRequest(
        forward_backward_input=official.ForwardBackwardInput(
            data=build_official(rows), loss_fn="cross_entropy"
        ),
        model_id="m",
        seq_id=1,
    )
    report(
        "  (for scale: official protobuf encoding)",
        t_encode,
        best_of(lambda: forward_backward_request_to_proto(official_request).SerializeToString()),
        "off-pb  ",
    )

    body = sample_response_body()
    report(
        "parse 64-sequence SampleResponse from JSON",
        best_of(lambda: tx.SampleResponse.model_validate_json(body)),
        best_of(lambda: official_sample_response(body)),
        "official",
    )


if __name__ == "__main__":
    main()
