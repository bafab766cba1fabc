"""Server overhead: one supervised step through tinkex.local against the same step in plain
PyTorch (transformers + peft) on the same model and batch.

The server runs as users run it, `tinkex serve` in its own process; the plain step runs in
this one. (Both in one process would measure something else: torch work alternating between
two threads, the server's worker and this main thread, runs ~70% slower on 2 cores, for the
server and for plain torch alike.) The step is `forward_backward` + `optim_step`, submitted
together as the cookbook does, so the optimizer request queues behind the gradient one
instead of waiting for a round trip. Three clients drive it, each on its own model of the
same server, alternating in blocks with the plain step so that load from other processes
weighs on all alike:

- `tinkex`, the client users of this project run;
- `tinker`, the official 0.38 client, unchanged;
- `raw`, a floor: `http.client` on one connection with JSON bodies and nothing else (no
  futures, no retries, no threads): what the protocol's four requests a step cost the
  server when the client costs next to nothing.

By default two configurations run: SmolLM2-135M at 4 x 64 (the demo's model, the figure the
target is about) and the 2 MB test model at 8 x 128, whose 25 ms step exposes the fixed
cost per step. Also the time to the first step after `tinkex serve` is launched.

Run: python bench/bench_server.py [--model NAME --batch 8 --length 128] [--steps 10]
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import orjson
import peft
import tinker
import torch
from transformers import AutoConfig, AutoModelForCausalLM

import tinkex
from tinkex.local.engine import SMOLLM2_MODEL, TINY_MODEL, resolve_model_dir

RANK = 8
LEARNING_RATE = 1e-4
API_KEY = "tml-bench"
DEFAULT_CONFIGS = ((SMOLLM2_MODEL, 4, 64), (TINY_MODEL, 8, 128))

Step = Callable[[], object]


@dataclass(frozen=True)
class Startup:
    """Seconds from launching `tinkex serve` to listening, and to the end of the first step."""

    listening_s: float
    first_step_s: float


def interleaved_medians(sides: dict[str, Step], repeats: int, block: int = 5) -> dict[str, float]:
    """Median seconds of each side, run in alternating blocks of `block` steps after a
    warm-up, so that load from other processes weighs on all alike. Blocks rather than single
    steps: after a step, torch's OpenMP threads keep spinning for a while, and a step of
    another side started right then would pay for it."""
    for step in sides.values():
        step()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(max(1, repeats // block)):
        for name, step in sides.items():
            step()  # the block's first step pays for the other side's spinning threads
            for _ in range(block):
                started = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


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
def served(model: str) -> Iterator[tuple[str, float, float]]:
    """`tinkex serve` for `model` in its own process: its URL, launch time and the time it
    started listening."""
    tinkex_cli = Path(sys.executable).with_name("tinkex")
    with tempfile.TemporaryDirectory() as data_dir:
        port = _free_port()
        command = [str(tinkex_cli), "serve", "--port", str(port), "--data-dir", data_dir]
        started = time.perf_counter()
        server = subprocess.Popen([*command, "--model", model], stderr=subprocess.DEVNULL)
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_listening(base_url, server, timeout_s=120)
            yield base_url, started, time.perf_counter()
        finally:
            server.terminate()
            server.wait(timeout=30)


@contextmanager
def sdk_step(sdk: ModuleType, base_url: str, model: str, rows: np.ndarray) -> Iterator[Step]:
    """The step through `sdk` (`tinkex` or the official `tinker`, same public API), on a
    model of its own."""
    with sdk.ServiceClient(base_url=base_url, api_key=API_KEY) as service:
        yield _prepared_step(sdk, service, model, rows)


def _prepared_step(sdk: ModuleType, service: Any, model: str, rows: np.ndarray) -> Step:
    training = service.create_lora_training_client(base_model=model, rank=RANK, seed=0).result()
    adam = sdk.types.AdamParams(learning_rate=LEARNING_RATE)
    weights = np.ones(rows.shape[1] - 1, np.float32)
    data = [
        sdk.types.Datum(
            model_input=sdk.types.ModelInput.from_ints(row[:-1].tolist()),
            loss_fn_inputs={
                "target_tokens": sdk.types.TensorData.from_numpy(row[1:].astype(np.int64)),
                "weights": sdk.types.TensorData.from_numpy(weights),
            },
        )
        for row in rows
    ]

    def step() -> None:
        gradients = training.forward_backward(data, "cross_entropy")
        update = training.optim_step(adam)
        gradients.result()
        update.result()

    return step


@contextmanager
def raw_step(base_url: str, model: str, rows: np.ndarray) -> Iterator[Step]:
    """The step as four plain HTTP requests on one connection: the server's cost when the
    client's is next to nothing (a floor, not a client anyone should use)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"content-type": "application/json", "x-api-key": API_KEY}

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        for retry in (False, True):
            try:
                connection.request("POST", "/api/v1/" + path, orjson.dumps(body), headers)
                response = connection.getresponse()
                break
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # The server closed the idle connection while other sides ran: reconnect once.
                connection.close()
                if retry:
                    raise
        answer: dict[str, Any] = orjson.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {answer}")
        return answer

    def result(request_id: str) -> None:
        while post("retrieve_future", {"request_id": request_id}).get("type") == "try_again":
            pass

    session = post("create_session", {"tags": [], "sdk_version": "raw", "type": "create_session"})
    created = post(
        "create_model",
        {
            "session_id": session["session_id"],
            "model_seq_id": 0,
            "base_model": model,
            "lora_config": {"rank": RANK, "seed": 0},
            "type": "create_model",
        },
    )
    model_id = ""
    while not model_id:
        answer = post("retrieve_future", {"request_id": created["request_id"]})
        model_id = answer.get("model_id", "")
    weights = [1.0] * (rows.shape[1] - 1)
    data = [
        {
            "model_input": {"chunks": [{"type": "encoded_text", "tokens": row[:-1].tolist()}]},
            "loss_fn_inputs": {
                "target_tokens": {"data": row[1:].tolist(), "dtype": "int64"},
                "weights": {"data": weights, "dtype": "float32"},
            },
        }
        for row in rows
    ]
    adam = {"learning_rate": LEARNING_RATE}
    seq = iter(range(1, 1 << 30))

    def step() -> None:
        fb_input = {"data": data, "loss_fn": "cross_entropy"}
        gradients = post(
            "forward_backward",
            {"model_id": model_id, "seq_id": next(seq), "forward_backward_input": fb_input},
        )
        update = post(
            "optim_step", {"model_id": model_id, "seq_id": next(seq), "adam_params": adam}
        )
        result(gradients["request_id"])
        result(update["request_id"])

    try:
        yield step
    finally:
        connection.close()


def torch_step(model: str, rows: np.ndarray) -> Step:
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


def measure(model: str, batch: int, length: int, steps: int) -> None:
    """Print the step times and ratios of one configuration, and the start-up timings."""
    vocab = AutoConfig.from_pretrained(resolve_model_dir(model)).vocab_size
    rows = np.random.default_rng(0).integers(3, vocab, size=(batch, length + 1))
    with served(model) as (base_url, launched, listening), ExitStack() as stack:
        ours = stack.enter_context(sdk_step(tinkex, base_url, model, rows))
        ours()
        startup = Startup(listening - launched, time.perf_counter() - launched)
        sides = {
            "tinkex": ours,
            "tinker": stack.enter_context(sdk_step(tinker, base_url, model, rows)),
            "raw": stack.enter_context(raw_step(base_url, model, rows)),
            "torch": torch_step(model, rows),
        }
        medians = interleaved_medians(sides, steps)
    direct = medians["torch"]
    print(f"SL step {batch}x{length} on {model}: plain torch {direct * 1e3:.1f} ms")
    for name in ("tinkex", "tinker", "raw"):
        print(
            f"  through tinkex serve, {name} client: {medians[name] * 1e3:.1f} ms, "
            f"ratio {medians[name] / direct:.2f} (+{(medians[name] - direct) * 1e3:.1f} ms)"
        )
    print(
        f"tinkex serve: listening {startup.listening_s:.2f} s after launch, first step done "
        f"{startup.first_step_s:.2f} s after launch (imports, model load and creation included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="one model instead of the default configurations")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    configs = DEFAULT_CONFIGS if args.model is None else ((args.model, args.batch, args.length),)
    for model, batch, length in configs:
        measure(model, batch, length, args.steps)


if __name__ == "__main__":
    main()
