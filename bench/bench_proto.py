"""Protobuf codec speed: tinkex vs the official tinker 0.38 client on realistic payloads.

- a forward/backward request of 256 datums x 2048 tokens with ``target_tokens`` and
  ``weights`` (the client encodes it; only tinkex also decodes it, as its local server);
- a sample response of 64 sequences x 1024 tokens with logprobs (the server encodes it; only
  tinkex also encodes it, as its local server; both clients decode it).

Run: ``.venv/bin/python bench/bench_proto.py [--repeat N]``. Prints the best time of N runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tinker.types as official
from tinker.proto.request_conv import forward_backward_request_to_proto as official_encode
from tinker.proto.response_conv import deserialize_sample_response as official_decode_sample

from tinkex.proto import (
    compress_zstd,
    decode_forward_backward_request,
    decode_sample_response,
    encode_sample_response,
    forward_backward_request_to_proto,
)
from tinkex.types.datum import Datum
from tinkex.types.model_input import ModelInput
from tinkex.types.sampling import SampledSequence, SampleResponse
from tinkex.types.tensor import TensorData
from tinkex.types.training import ForwardBackwardInput, ForwardBackwardRequest

BATCH, SEQ_LEN = 256, 2048
SEQUENCES, SAMPLE_LEN = 64, 1024


def _best_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up: first-touch page faults and lazy imports are not the codec's cost
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def _training_batch(rng: np.random.Generator) -> list[tuple[list[int], Any, Any]]:
    return [
        (
            rng.integers(0, 150_000, SEQ_LEN).tolist(),
            rng.integers(0, 150_000, SEQ_LEN, dtype=np.int64),
            rng.random(SEQ_LEN, dtype=np.float32),
        )
        for _ in range(BATCH)
    ]


def _tinkex_request(batch: list[tuple[list[int], Any, Any]]) -> ForwardBackwardRequest:
    data = [
        Datum(
            model_input=ModelInput.from_ints(tokens),
            loss_fn_inputs={
                "target_tokens": TensorData.from_numpy(targets),
                "weights": TensorData.from_numpy(weights),
            },
        )
        for tokens, targets, weights in batch
    ]
    return ForwardBackwardRequest(
        forward_backward_input=ForwardBackwardInput(data=data, loss_fn="cross_entropy"),
        model_id="bench",
        seq_id=1,
    )


def _official_request(batch: list[tuple[list[int], Any, Any]]) -> Any:
    data = [
        official.Datum(
            model_input=official.ModelInput.from_ints(tokens),
            loss_fn_inputs={
                "target_tokens": official.TensorData.from_numpy(targets),
                "weights": official.TensorData.from_numpy(weights),
            },
        )
        for tokens, targets, weights in batch
    ]
    return official.ForwardBackwardRequest(
        forward_backward_input=official.ForwardBackwardInput(data=data, loss_fn="cross_entropy"),
        model_id="bench",
        seq_id=1,
    )


def _sample_response(rng: np.random.Generator) -> SampleResponse:
    return SampleResponse(
        sequences=[
            SampledSequence(
                stop_reason="length",
                tokens=rng.integers(0, 150_000, SAMPLE_LEN).tolist(),
                logprobs=(-rng.random(SAMPLE_LEN, dtype=np.float32)).tolist(),
            )
            for _ in range(SEQUENCES)
        ]
    )


def _row(label: str, ours: float, theirs: float | None) -> str:
    if theirs is None:
        return f"  {label:<34} tinkex {ours:8.2f} ms   (no official counterpart)"
    return (
        f"  {label:<34} tinkex {ours:8.2f} ms   official {theirs:8.2f} ms   "
        f"ratio {ours / theirs:5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    repeat = parser.parse_args().repeat
    rng = np.random.default_rng(0)

    batch = _training_batch(rng)
    ours_req, theirs_req = _tinkex_request(batch), _official_request(batch)
    body = forward_backward_request_to_proto(ours_req).SerializeToString()
    assert body == official_encode(theirs_req).SerializeToString(), "encodings differ"
    zstd_body = compress_zstd(body)
    print(f"forward_backward request: {BATCH} datums x {SEQ_LEN} tokens")
    print(f"  body {len(body):,} bytes, zstd {len(zstd_body):,} bytes")
    print(
        _row(
            "encode (SerializeToString)",
            _best_ms(
                lambda: forward_backward_request_to_proto(ours_req).SerializeToString(), repeat
            ),
            _best_ms(lambda: official_encode(theirs_req).SerializeToString(), repeat),
        )
    )
    print(
        _row(
            "decode (local server)",
            _best_ms(lambda: decode_forward_backward_request(body), repeat),
            None,
        )
    )
    print(_row("zstd compress", _best_ms(lambda: compress_zstd(body), repeat), None))

    response = _sample_response(rng)
    sample_body = encode_sample_response(response)
    print(f"sample response: {SEQUENCES} sequences x {SAMPLE_LEN} tokens with logprobs")
    print(f"  body {len(sample_body):,} bytes")
    print(
        _row(
            "encode (local server)",
            _best_ms(lambda: encode_sample_response(response), repeat),
            None,
        )
    )

    def official_to_lists() -> None:
        for seq in official_decode_sample(sample_body).sequences:
            _ = seq.tokens, seq.logprobs

    ours_decode = _best_ms(lambda: decode_sample_response(sample_body), repeat)
    lazy = _best_ms(lambda: official_decode_sample(sample_body), repeat)
    print(_row("decode (official: lazy numpy)", ours_decode, lazy))
    print(
        _row(
            "decode (official: then .tokens etc)", ours_decode, _best_ms(official_to_lists, repeat)
        )
    )


if __name__ == "__main__":
    main()
