"""Engine overhead against plain PyTorch on the same model and batch.

1. One supervised step (weighted cross-entropy + AdamW) through `TrainingSession` vs the same
   step written directly with torch on the same peft model: the ratio is the engine's cost
   (input checks, padding, per-datum outputs copied to numpy).
2. Sampling throughput of the engine's KV-cache loop vs `model.generate` with the same
   adapter, at batch 1 and 8.

Run: python bench/bench_engine.py [--model tinkex/tiny-llama] [--steps 10] [--tokens 128]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from tinkex.local.engine import (
    TINY_MODEL,
    AdamConfig,
    AdapterHost,
    EngineDatum,
    LoraSpec,
    Sampler,
    SamplingConfig,
    TrainingSession,
    load_base_model,
)


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_train_step(host: AdapterHost, batch: int, length: int, steps: int) -> dict[str, float]:
    """Median seconds per SL step: engine vs direct torch, same adapter init and data."""
    rng = np.random.default_rng(0)
    rows = rng.integers(3, host.base.vocab_size, size=(batch, length + 1))
    weights = np.ones((batch, length), np.float32)
    data = [
        EngineDatum(row[:-1].tolist(), {"target_tokens": row[1:], "weights": w})
        for row, w in zip(rows, weights, strict=True)
    ]
    engine = TrainingSession.create(host, "bench-engine", LoraSpec(rank=8, seed=0))
    direct = TrainingSession.create(host, "bench-direct", LoraSpec(rank=8, seed=0))
    adam = AdamConfig(learning_rate=1e-4)
    optimizer = torch.optim.AdamW(list(direct.parameters.values()), lr=1e-4, betas=(0.9, 0.95))
    inputs = torch.as_tensor(rows[:, :-1], device=host.base.device)
    targets = torch.as_tensor(rows[:, 1:], device=host.base.device)
    mask = torch.as_tensor(weights, device=host.base.device)

    def engine_step() -> None:
        engine.forward_backward(data, "cross_entropy")
        engine.optim_step(adam)

    def direct_step() -> None:
        with host.using("bench-direct") as model:
            logits = model(input_ids=inputs).logits.float()
            lp = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None]).squeeze(-1)
            torch.autograd.backward(-(lp * mask).sum())
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    engine_s = _median_seconds(engine_step, steps)
    direct_s = _median_seconds(direct_step, steps)
    return {"engine_s": engine_s, "torch_s": direct_s, "ratio": engine_s / direct_s}


def bench_sampling(host: AdapterHost, batch: int, tokens: int) -> dict[str, float]:
    """Generated tokens per second: engine sampler vs `generate`, same adapter, no early stop."""
    if "bench-engine" not in host.adapters:
        TrainingSession.create(host, "bench-engine", LoraSpec(rank=8, seed=0))
    prompt = list(host.base.tokenizer.encode("The capital of France is"))
    sampler = Sampler(host)
    config = SamplingConfig(max_tokens=tokens, seed=0, stop=[])

    def engine_sample() -> None:
        sampler.sample(prompt, config, adapter="bench-engine", num_samples=batch)

    def hf_generate() -> None:
        with host.using("bench-engine") as model, torch.no_grad():
            ids = torch.tensor([prompt] * batch, device=host.base.device)
            model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                pad_token_id=host.base.tokenizer.pad_token_id,
            )

    produced = batch * tokens
    engine_s = _median_seconds(engine_sample, 3)
    generate_s = _median_seconds(hf_generate, 3)
    return {
        "engine_tok_s": produced / engine_s,
        "generate_tok_s": produced / generate_s,
        "speedup": generate_s / engine_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=TINY_MODEL)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # batch-1 decoding is erratic on busy cores
    torch.manual_seed(0)
    host = AdapterHost(load_base_model(args.model))
    step = bench_train_step(host, args.batch, args.length, args.steps)
    print(
        f"SL step {args.batch}x{args.length} on {args.model}: "
        f"engine {step['engine_s'] * 1e3:.1f} ms, torch {step['torch_s'] * 1e3:.1f} ms, "
        f"ratio {step['ratio']:.2f}"
    )
    for batch in (1, 8):
        sample = bench_sampling(host, batch, args.tokens)
        print(
            f"sampling batch {batch}, {args.tokens} tokens: engine "
            f"{sample['engine_tok_s']:.0f} tok/s, generate {sample['generate_tok_s']:.0f} tok/s"
            f", speedup {sample['speedup']:.2f}x"
        )


if __name__ == "__main__":
    main()
