"""`tinkex auth status`: which server and key the CLI would use, and whether they work."""

from __future__ import annotations

import click

from tinkex.cli.context import CliContext, CliError
from tinkex.cli.options import pass_cli
from tinkex.cli.output import View, emit

__all__ = ["group"]


@click.group("auth")
def group() -> None:
    """Check credentials."""


@group.command("status")
@pass_cli
def status(ctx: CliContext) -> None:
    """Check that the API key is accepted by the server (the key is never printed)."""
    if not ctx.api_key:
        raise CliError(
            "no API key configured", "set TINKER_API_KEY or pass --api-key (keys start with tml-)"
        )
    base_url = ctx.effective_base_url() or "default Tinker service"
    capabilities = ctx.wait(ctx.rest().get_server_capabilities())
    count = len(capabilities.supported_models)
    view = View(
        data={
            "base_url": ctx.effective_base_url(),
            "api_key": "set",
            "authenticated": True,
            "models": count,
        },
        title=f"Authenticated with {base_url} (API key set, {count} model(s) available)",
    )
    emit(view, ctx.format)
