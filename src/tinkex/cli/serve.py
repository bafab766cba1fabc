"""`tinkex serve` (the local backend in the foreground) and `tinkex demo`.

`tinkex.local` pulls in torch, so it is imported inside the commands, never when the CLI
loads: every other command stays fast and works without the [local] extra.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import click

from tinkex.cli.context import CliError

__all__ = ["demo_command", "serve_command"]

DEMO_MODULE = "tinkex.demo"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where runs and checkpoints live (default ~/.tinkex/local).",
)
@click.option(
    "--model", "models", multiple=True, help="Base model name or path to serve (repeatable)."
)
@click.option(
    "--model-alias",
    "aliases",
    multiple=True,
    metavar="NAME=PATH",
    help="Also serve a model directory (or name) as NAME (repeatable; adds to the default "
    "Qwen/Qwen3-4B-Instruct-2507=SmolLM2 alias).",
)
@click.option(
    "--api-key", "api_keys", multiple=True, help="Accept only these tml- keys (repeatable)."
)
def serve_command(
    host: str,
    port: int,
    data_dir: Path | None,
    models: tuple[str, ...],
    aliases: tuple[str, ...],
    api_keys: tuple[str, ...],
) -> None:
    """Run the local Tinker-compatible server until Ctrl-C (like python -m tinkex.local)."""
    from tinkex.local.config import DEFAULT_ALIASES, DEFAULT_MODELS, ServerConfig, parse_alias

    try:
        config = ServerConfig(
            host=host,
            port=port,
            data_dir=data_dir or ServerConfig().data_dir,
            models=models or DEFAULT_MODELS,
            model_aliases=dict(DEFAULT_ALIASES) | dict(map(parse_alias, aliases)),
            api_keys=api_keys,
        )
    except ValueError as error:
        raise CliError(f"serve: {error}", "fix that option and start again") from error
    from tinkex.local.server import bind, serve, url_of

    try:
        sock = bind(config)
    except OSError as error:
        raise CliError(str(error)) from error
    click.echo(
        f"tinkex.local serving {', '.join(config.models)} on {url_of(sock)} "
        f"(data in {config.data_dir}); press Ctrl-C to stop",
        err=True,
    )
    serve(config, sock)


@click.command("demo")
def demo_command() -> None:
    """Train, save and sample end to end against a local server (what 'make demo' runs)."""
    if importlib.util.find_spec(DEMO_MODULE) is None:
        click.echo("tinkex demo: not yet available (it lands with the demo issue)")
        return
    code = importlib.import_module(DEMO_MODULE).main()
    if isinstance(code, int) and code:
        raise click.exceptions.Exit(code)
