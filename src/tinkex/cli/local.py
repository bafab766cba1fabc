"""`tinkex local ...`: helpers for running Tinker code offline against the local backend.

`seed-tokenizer NAME --from PATH` writes a tokenizer into the Hugging Face hub cache as if
repo NAME had been downloaded, so `AutoTokenizer.from_pretrained(NAME)` loads it with
`HF_HUB_OFFLINE=1`. The cookbook tokenizes with a hub id taken from its model table (e.g.
`Qwen/Qwen3-4B-Instruct-2507`); seeding that id with the local model's tokenizer lets its
recipes run unmodified and without a network.

`pull-model REPO` downloads a base model (while online) into a directory that
`tinkex serve --model DIR` serves.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from tinkex import hub
from tinkex.cli import hub as cli_hub
from tinkex.cli.context import CliContext, CliError
from tinkex.cli.options import json_option, pass_cli
from tinkex.cli.output import View, emit

__all__ = ["SeededTokenizer", "default_model_dir", "group", "hub_cache_dir", "seed_tokenizer"]

TOKENIZER_FILE_PREFIXES = (
    "tokenizer",
    "special_tokens_map",
    "added_tokens",
    "chat_template",
    "vocab",
    "merges",
    "tiktoken",
    "config.json",
    "generation_config.json",
)
"""Files copied from the source: everything a tokenizer needs, never the weights."""

_REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*$")


@dataclass(frozen=True)
class SeededTokenizer:
    repo_id: str
    snapshot: Path
    files: list[str]


def hub_cache_dir() -> Path:
    """The hub cache `huggingface_hub` uses, read from the environment now (not at import)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _check_repo_id(name: str) -> None:
    if not _REPO_ID.match(name) or "--" in name or ".." in name or name.endswith((".", "-")):
        raise CliError(
            f"NAME: {name!r} is not a Hugging Face repo id",
            "use ORG/NAME or NAME with letters, digits, '.', '_' and '-' (no '--' or '..')",
        )


def _source_directory(source: str) -> Path:
    """A directory, a bundled model name, or a model the local backend knows (e.g. SmolLM2)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    from tinkex.tokenizer import BUNDLED_TOKENIZERS

    if source in BUNDLED_TOKENIZERS:
        return BUNDLED_TOKENIZERS[source]
    try:
        from tinkex.local.engine.models import resolve_model_dir
    except ImportError as error:
        raise CliError(
            f"--from: {source!r} is not a directory",
            "pass a directory holding tokenizer.json (or install the [local] extra to use a "
            "local model name)",
        ) from error
    try:
        return resolve_model_dir(source)
    except Exception as error:
        raise CliError(
            f"--from: {source!r} is neither a directory nor a model the local backend knows",
            "pass a directory holding tokenizer.json and tokenizer_config.json",
        ) from error


def _tokenizer_files(directory: Path) -> list[Path]:
    files = sorted(
        path
        for path in directory.iterdir()
        if path.is_file() and path.name.startswith(TOKENIZER_FILE_PREFIXES)
    )
    names = {path.name for path in files}
    if not names & {"tokenizer.json", "tokenizer.model", "tiktoken.model", "vocab.json"}:
        raise CliError(
            f"--from: {str(directory)!r} holds no tokenizer (no tokenizer.json, tokenizer.model, "
            "tiktoken.model or vocab.json)",
            "point --from at a model or tokenizer directory saved by transformers",
        )
    return files


def _revision(files: list[Path]) -> str:
    """A commit-like 40-hex id derived from the content: same files, same snapshot."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path in files:
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def seed_tokenizer(repo_id: str, source: str, cache_dir: Path | None = None) -> SeededTokenizer:
    """Copy `source`'s tokenizer files into the hub cache as repo `repo_id`, revision main."""
    _check_repo_id(repo_id)
    files = _tokenizer_files(_source_directory(source))
    repo = (cache_dir or hub_cache_dir()) / ("models--" + repo_id.replace("/", "--"))
    revision = _revision(files)
    snapshot = repo / "snapshots" / revision
    if not snapshot.is_dir():
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{revision}.", dir=snapshot.parent))
        try:
            for path in files:
                shutil.copyfile(path, staging / path.name)
            staging.rename(snapshot)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision, encoding="utf-8")
    return SeededTokenizer(repo_id, snapshot, [path.name for path in files])


@click.group("local")
def group() -> None:
    """Prepare this machine to run Tinker code offline against 'tinkex serve'."""


@group.command("seed-tokenizer")
@click.argument("name")
@click.option(
    "--from",
    "source",
    required=True,
    help="Tokenizer directory, or a model the local backend serves (e.g. tinkex/tiny-llama).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Hub cache to write (default: $HF_HUB_CACHE, else $HF_HOME/hub).",
)
@json_option
@pass_cli
def seed_tokenizer_command(ctx: CliContext, name: str, source: str, cache_dir: Path | None) -> None:
    """Make AutoTokenizer.from_pretrained(NAME) load the tokenizer of --from, offline."""
    seeded = seed_tokenizer(name, source, cache_dir)
    data = {"repo_id": seeded.repo_id, "snapshot": str(seeded.snapshot), "files": seeded.files}
    title = (
        f"Seeded {seeded.repo_id} in {seeded.snapshot} ({len(seeded.files)} files); "
        "load it with HF_HUB_OFFLINE=1"
    )
    emit(View(data=data, title=title), ctx.format)


def default_model_dir(repo_id: str) -> Path:
    """`~/.tinkex/models/<org>--<name>`: next to the local backend's default data directory."""
    return Path.home() / ".tinkex" / "models" / repo_id.replace("/", "--")


@group.command("pull-model")
@click.argument("repo_id")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the model (default: ~/.tinkex/models/<org>--<name>).",
)
@click.option("--revision", default=None, help="Branch, tag or commit (default: main).")
@click.option("--hf-token", default=None, help="Hugging Face token, for gated models.")
@json_option
@pass_cli
def pull_model_command(
    ctx: CliContext,
    repo_id: str,
    directory: Path | None,
    revision: str | None,
    hf_token: str | None,
) -> None:
    """Download base model REPO_ID (config, weights, tokenizer) for 'tinkex serve --model'."""
    _check_repo_id(repo_id)
    target = directory or default_model_dir(repo_id)
    api = cli_hub.hub_api(hf_token)
    try:
        path = hub.pull_base_model(repo_id, target, revision=revision, api=api)
    except ValueError as error:
        raise CliError(str(error)) from error
    data = {"repo_id": repo_id, "directory": str(path)}
    title = f"Pulled {repo_id} to {path}; serve it with 'tinkex serve --model {path}'"
    emit(View(data=data, title=title), ctx.format)
