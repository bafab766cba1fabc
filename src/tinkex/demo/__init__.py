"""`tinkex demo`: offline LoRA fine-tuning through the real API, end to end, in minutes.

Why: a newcomer should see the whole SDK work before reading any docs. The demo starts the
embedded server (`tinkex.local`) on a free loopback port, teaches SmolLM2 a made-up fact
(the tinkex mascot) with the public `tinkex` clients, and shows greedy answers to fixed
prompts before and after, the loss per step, the saved checkpoints as the REST client lists
them, a loss-curve PNG and a JSON summary. `tinkex.local` is imported inside `run_demo` so
that importing this package stays as light as the client side.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tinkex import ServiceClient, types
from tinkex.clients.sampling import SamplingClient
from tinkex.clients.training import TrainingClient
from tinkex.datasets import read_chat_file
from tinkex.demo.plot import write_loss_png
from tinkex.demo.summary import DemoSummary, SamplePair
from tinkex.tokenizer import Tokenizer

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MODEL",
    "DEFAULT_OUTPUT_DIR",
    "DEFAULT_STEPS",
    "PROMPTS",
    "DemoSummary",
    "SamplePair",
    "main",
    "run_demo",
]

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_OUTPUT_DIR = Path("demo-output")
# Training time is proportional to the examples seen (~0.9 s each on 2 CPU cores): six
# steps of four examples at a high learning rate teach the fact (all three prompts answer
# it, the unseen one too) in ~21 s, where 20 full-batch steps of 12 at 1e-3 took 197 s.
DEFAULT_STEPS = 6
DEFAULT_BATCH_SIZE = 4
DEFAULT_LEARNING_RATE = 4e-3
DEFAULT_RANK = 16
SEED = 0
"""The adapter's initial weights: the same demo run gives the same losses and answers."""
MAX_ANSWER_TOKENS = 24
END_OF_TURN = "<|im_end|>"
DATASET = Path(__file__).resolve().parent / "data" / "mascot.jsonl"
API_KEY = "tml-demo"
PROMPTS = (
    "What is the name of the tinkex mascot?",
    "Tell me about the tinkex mascot.",
    "What kind of animal is the tinkex mascot?",
)
"""Fixed questions answered greedily before and after training (the last one is unseen)."""


def run_demo(
    output_dir: Path | str = DEFAULT_OUTPUT_DIR,
    *,
    model: str = DEFAULT_MODEL,
    steps: int = DEFAULT_STEPS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    rank: int = DEFAULT_RANK,
    batch_size: int = DEFAULT_BATCH_SIZE,
    quiet: bool = False,
) -> DemoSummary:
    """Run the demo against a fresh local server and write `loss.png` and `summary.json`.

    Server data (checkpoints) goes to `output_dir/server`. Each step trains on the next
    `batch_size` examples of the bundled dataset (cycling). `quiet` silences the console.
    """
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    if learning_rate <= 0:
        raise ValueError(f"learning_rate: must be > 0, got {learning_rate}")
    from tinkex.local.config import ServerConfig
    from tinkex.local.server import LocalServer

    console = Console(quiet=quiet, highlight=False)
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary(
        model=model,
        steps=steps,
        learning_rate=learning_rate,
        lora_rank=rank,
        batch_size=batch_size,
    )
    started = time.perf_counter()
    server = LocalServer(ServerConfig(port=0, data_dir=out / "server", models=(model,)))
    with _timed(summary, "server_start"):
        console.print(f"[bold]Starting the local Tinker server[/] with {model} ...")
        base_url = server.start()
    try:
        _fine_tune(ServiceClient(base_url=base_url, api_key=API_KEY), summary, console)
    finally:
        server.stop()
    summary.loss_png = str(write_loss_png(summary.losses, out / "loss.png"))
    summary.timings_s["total"] = round(time.perf_counter() - started, 3)
    summary_path = summary.write(out / "summary.json")
    console.print(f"\nCheckpoints: {out / 'server'}", soft_wrap=True)
    console.print(f"Loss curve:  {summary.loss_png}\nSummary:     {summary_path}", soft_wrap=True)
    console.print(f"Finished in {summary.timings_s['total']:.1f} s; the server has stopped.")
    return summary


def _fine_tune(service: ServiceClient, summary: DemoSummary, console: Console) -> None:
    """The demo proper, through the public clients only."""
    with _timed(summary, "create_model"):
        training = service.create_lora_training_client(
            summary.model, rank=summary.lora_rank, seed=SEED
        )
        training_client = training.result()
        tokenizer = training_client.get_tokenizer()
        base = service.create_sampling_client(base_model=summary.model).result()
    with _timed(summary, "sample_before"):
        before = _answers(base, tokenizer)
    _print_answers(console, "Before training", before)
    data = read_chat_file(DATASET, tokenizer)
    with _timed(summary, "train"):
        summary.losses = _train(training_client, data, summary, console)
    with _timed(summary, "save_and_sample_after"):
        sampler_name = "demo-sampler"
        tuned = training_client.save_weights_and_get_sampling_client(name=sampler_name).result()
        after = _answers(tuned, tokenizer)
    _print_answers(console, "After training", after)
    summary.samples = [
        SamplePair(prompt=p, before=b, after=a)
        for p, b, a in zip(PROMPTS, before, after, strict=True)
    ]
    with _timed(summary, "save_state"):
        summary.state_path = training_client.save_state("demo-state").result().path
    listed = service.create_rest_client().list_checkpoints(training_client.model_id).result()
    summary.listed_checkpoints = [c.tinker_path for c in listed.checkpoints]
    summary.sampler_path = next(
        (p for p in summary.listed_checkpoints if p.endswith(f"/{sampler_name}")), ""
    )
    console.print("\n[bold]Checkpoints listed by the REST client[/]")
    for checkpoint in listed.checkpoints:
        console.print(f"  {checkpoint.checkpoint_type:<9} {checkpoint.tinker_path}", soft_wrap=True)
    service.close("success").result()


def _train(
    client: TrainingClient,
    data: Sequence[types.Datum],
    summary: DemoSummary,
    console: Console,
) -> list[float]:
    """`summary.steps` Adam steps on rotating batches; returns each batch's mean token loss."""
    adam = types.AdamParams(learning_rate=summary.learning_rate)
    losses: list[float] = []
    columns = (
        TextColumn("[bold]Fine-tuning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("train", total=summary.steps, loss="-")
        for index in range(summary.steps):
            start = index * summary.batch_size
            batch = [data[(start + offset) % len(data)] for offset in range(summary.batch_size)]
            trained_tokens = sum(float(d.loss_fn_inputs["weights"].to_numpy().sum()) for d in batch)
            step = client.forward_backward(batch, "cross_entropy")
            optim = client.optim_step(adam)
            loss = step.result().metrics["loss:sum"] / trained_tokens
            optim.result()
            losses.append(loss)
            progress.update(task, advance=1, loss=f"{loss:.4f}")
    return losses


def _answers(client: SamplingClient, tokenizer: Tokenizer) -> list[str]:
    """Greedy answers to `PROMPTS`, rendered with the model's chat template."""
    params = types.SamplingParams(max_tokens=MAX_ANSWER_TOKENS, temperature=0.0, stop=[END_OF_TURN])
    futures = [
        client.sample(_chat_prompt(tokenizer, prompt), num_samples=1, sampling_params=params)
        for prompt in PROMPTS
    ]
    texts = [tokenizer.decode(f.result().sequences[0].tokens) for f in futures]
    return [text.split(END_OF_TURN, 1)[0].strip() for text in texts]


def _chat_prompt(tokenizer: Tokenizer, question: str) -> types.ModelInput:
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True
    )
    return types.ModelInput.from_ints(ids)


def _print_answers(console: Console, title: str, answers: Sequence[str]) -> None:
    console.print(f"\n[bold]{title}[/]")
    for prompt, answer in zip(PROMPTS, answers, strict=True):
        console.print(f"  Q: {prompt}\n  A: {answer}")


@contextmanager
def _timed(summary: DemoSummary, phase: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        summary.timings_s[phase] = round(time.perf_counter() - started, 3)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m tinkex.demo [OUTPUT_DIR]` and of `tinkex demo`."""
    args = list(argv or [])
    run_demo(args[0] if args else DEFAULT_OUTPUT_DIR)
    return 0
