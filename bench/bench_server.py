"""Server overhead: one supervised step through tinkex.local (tinkex client over loopback)
against the same step in plain PyTorch (transformers + peft) on the same model and batch.

The server runs as users run it, `tinkex serve` in its own process; the plain step runs in
this one. (Both in one process would measure something else: torch work alternating between
two threads, the server's worker and this main thread, runs ~70% slower on 2 cores, for the
server and for plain torch alike.) Server and torch steps alternate, so load from other
processes weighs on both alike. The step is `forward_backward` + `optim_step`, submitted
together as the cookbook does, so the optimizer request queues behind the gradient one
instead of waiting for a round trip.

Also the time to the first step after `tinkex serve` is launched: process start and imports,
listening, then session, model creation (base model load included) and one step.

Run: python bench/bench_server.py [--model tinkex/tiny-llama] [--steps 10] [--batch 8]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import peft
import torch
from transformers import AutoConfig, AutoModelForCausalLM

import tinkex
from tinkex.local.engine import TINY_MODEL, resolve_model_dir

RANK = 8
LEARNING_RATE = 1e-4


@dataclass(frozen=True)
class Startup:
    """Seconds from launching `tinkex serve` to listening, and to the end of the first step."""

    listening_s: float
    first_step_s: float


def _interleaved_medians(
    first: Callable[[], object], second: Callable[[], object], repeats: int, block: int = 5
) -> tuple[float, float]:
    """Median seconds of each, run in alternating blocks of `block` steps after a warm-up, so
    that load from other processes weighs on both alike. Blocks rather than single steps:
    after a step, torch's OpenMP threads keep spinning for a while, and a step of the other
    side started right then would pay for it."""
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(max(1, repeats // block)):
        for fn, bucket in ((first, times[0]), (second, times[1])):
            fn()  # the block's first step pays for the other side's spinning threads
            for _ in range(block):
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(base_url: str, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"tinkex serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"tinkex serve did not listen within {timeout_s} s")


@contextmanager
def server_step(model: str, rows: np.ndarray) -> Iterator[tuple[Callable[[], None], Startup]]:
    """A step through `tinkex serve` in its own process, with the start-up timings (the
    first step is taken here)."""
    adam = tinkex.types.AdamParams(learning_rate=LEARNING_RATE)
    tinkex_cli = Path(sys.executable).with_name("tinkex")
    with tempfile.TemporaryDirectory() as data_dir:
        base_url = f"http://127.0.0.1:{_free_port()}"
        command = [str(tinkex_cli), "serve", "--port", base_url.rsplit(":", 1)[1]]
        command += ["--data-dir", data_dir, "--model", model]
        started = time.perf_counter()
        server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        try:
            _wait_listening(base_url, server, timeout_s=120)
            listening = time.perf_counter()
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
            yield step, Startup(listening - started, time.perf_counter() - started)
            service.close("success")
        finally:
            server.terminate()
            server.wait(timeout=30)


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
    args = parser.parse_args()
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
        f"tinkex serve: listening {startup.listening_s:.2f} s after launch, first step done "
        f"{startup.first_step_s:.2f} s after launch (imports, model load and creation included)"
    )


if __name__ == "__main__":
    main()
