"""`python -m tinkex.local`: serve the Tinker API locally.

Point the official client at it with `TINKER_BASE_URL=http://127.0.0.1:8000` and any
`TINKER_API_KEY=tml-...` (or one of the `--api-key` values when given).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tinkex.local.config import DEFAULT_ALIASES, DEFAULT_MODELS, ServerConfig, parse_alias

__all__ = ["main", "parse_args"]


def parse_args(argv: Sequence[str] | None = None) -> ServerConfig:
    """The server settings from the command line; bad values exit with a usage message."""
    parser = argparse.ArgumentParser(
        prog="python -m tinkex.local", description="A local Tinker-compatible training server."
    )
    defaults = ServerConfig()
    parser.add_argument("--host", default=defaults.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=defaults.port, help="0 picks a free port")
    parser.add_argument(
        "--data-dir", type=Path, default=defaults.data_dir, help="where runs and checkpoints live"
    )
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        metavar="NAME_OR_PATH",
        help=f"a base model to serve (repeatable; default {DEFAULT_MODELS[0]})",
    )
    parser.add_argument(
        "--model-alias",
        dest="aliases",
        action="append",
        metavar="NAME=PATH",
        help="serve a model directory (or model name) under another name too (repeatable; "
        f"default aliases: {', '.join(f'{k}={v}' for k, v in DEFAULT_ALIASES.items())})",
    )
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        metavar="KEY",
        help="accept only these tml- keys (repeatable; default: any tml- key)",
    )
    args = parser.parse_args(argv)
    try:
        aliases = dict(DEFAULT_ALIASES) | dict(map(parse_alias, args.aliases or ()))
        return ServerConfig(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            models=tuple(args.models or DEFAULT_MODELS),
            model_aliases=aliases,
            api_keys=tuple(args.api_keys or ()),
        )
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    from tinkex.local.server import bind, serve, url_of  # imports torch: after parsing

    sock = bind(config)
    print(
        f"tinkex.local serving {', '.join(config.models)} on {url_of(sock)}"
        f" (data in {config.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    serve(config, sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
