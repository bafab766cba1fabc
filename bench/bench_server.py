"""Server overhead: one supervised step through tinkex.local (tinkex client over loopback)
against the same step in plain PyTorch (transformers + peft) on the same model and batch.

Also the time to the first step after start: server start-up, then session, model creation
(base model load included) and one step. Server and torch steps alternate, so load from
other processes weighs on both alike. The step is `forward_backward` + `optim_step`,
submitted together as the cookbook does, so the optimizer request queues behind the
gradient one instead of waiting for a round trip.

Run: python bench/bench_server.py [--model tinkex/tiny-llama] [--steps 10] [--batch 8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import peft
import torch
from transformers import AutoConfig, AutoModelForCausalLM

import tinkex
from tinkex.local.config import ServerConfig
from tinkex.local.engine import TINY_MODEL, resolve_model_dir
from tinkex.local.server import LocalServer

RANK = 8
LEARNING_RATE = 1e-4


@dataclass(frozen=True)
class Startup:
    """Seconds from creating the server to serving, and to the end of the first step."""

    start_s: float
    first_step_s: float


def _interleaved_medians(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median seconds of each, run alternately after a warm-up so that load from other
    processes on the machine weighs on both alike."""
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def _data(rows: np.ndarray) -> list[tinkex.types.Datum]:
    weights = np.ones(rows.shape[1] - 1, np.float32)
    return [
        tinkex.types.Datum(
            model_input=tinkex.types.ModelInput.from_ints(row[:-1].tolist()),
            loss_fn_inputs={"target_tokens": row[1:].astype(np.int64), "weights": weights},
        )
        for row in rows
    ]


@contextmanager
def server_step(model: str, rows: np.ndarray) -> Iterator[tuple[Callable[[], None], Startup]]:
    """A step through a freshly started server, with the start-up timings (the first step
    is taken here)."""
    adam = tinkex.types.AdamParams(learning_rate=LEARNING_RATE)
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        server = LocalServer(ServerConfig(port=0, data_dir=Path(data_dir), models=(model,)))
        base_url = server.start()
        ready = time.perf_counter()
        try:
            service = tinkex.ServiceClient(base_url=base_url, api_key="tml-bench")
            training = service.create_lora_training_client(
                base_model=model, rank=RANK, seed=0
            ).result()
            data = _data(rows)

            def step() -> None:
                gradients = training.forward_backward(data, "cross_entropy")
                update = training.optim_step(adam)
                gradients.result()
                update.result()

            step()
            yield step, Startup(ready - started, time.perf_counter() - started)
            service.close("success")
        finally:
            server.stop()


def torch_step(model: str, rows: np.ndarray) -> Callable[[], None]:
    """The same step written directly with transformers + peft + torch."""
    base = AutoModelForCausalLM.from_pretrained(resolve_model_dir(model), dtype=torch.float32)
    config = peft.LoraConfig(
        r=RANK,
        lora_alpha=RANK,
        lora_dropout=0.0,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
            "lm_head",
        ],
    )
    lora = peft.get_peft_model(base, config)
    params = [p for p in lora.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, betas=(0.9, 0.95), foreach=False)
    ids = torch.as_tensor(rows)
    inputs, targets = ids[:, :-1], ids[:, 1:]

    def step() -> None:
        logits = lora(input_ids=inputs).logits.float()
        lp = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])
        torch.autograd.backward(-lp.sum())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=TINY_MODEL)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # fewer threads: steadier figures on busy cores
    torch.manual_seed(0)
    vocab = AutoConfig.from_pretrained(resolve_model_dir(args.model)).vocab_size
    rows = np.random.default_rng(0).integers(3, vocab, size=(args.batch, args.length + 1))
    with server_step(args.model, rows) as (through_server, startup):
        served, direct = _interleaved_medians(
            through_server, torch_step(args.model, rows), args.steps
        )
    print(
        f"SL step {args.batch}x{args.length} on {args.model}: server {served * 1e3:.1f} ms, "
        f"torch {direct * 1e3:.1f} ms, ratio {served / direct:.2f}"
    )
    print(
        f"server start {startup.start_s:.2f} s, first step done {startup.first_step_s:.2f} s "
        "after start (model load and creation included)"
    )


if __name__ == "__main__":
    main()
