"""`tinkex model list`: the base models the server offers."""

from __future__ import annotations

import click

from tinkex.cli.context import CliContext
from tinkex.cli.options import pass_cli
from tinkex.cli.output import View, dump, emit

__all__ = ["group"]


def _flag(value: bool | None) -> str:
    return "N/A" if value is None else ("Yes" if value else "No")


@click.group("model")
def group() -> None:
    """Discover models."""


@group.command("list")
@click.argument("substring", required=False)
@pass_cli
def list_models(ctx: CliContext, substring: str | None) -> None:
    """List the server's models, optionally only those whose name contains SUBSTRING."""
    capabilities = ctx.wait(ctx.rest().get_server_capabilities())
    needle = (substring or "").lower()
    models = [
        model
        for model in capabilities.supported_models
        if needle in (model.model_name or "").lower()
    ]
    view = View(
        data={"models": [dump(model) for model in models]},
        title=f"{len(models)} model(s)" + (f" matching {substring!r}" if substring else ""),
        columns=["Model", "Context", "Trainable", "Sampleable"],
        rows=[
            [
                model.model_name or "N/A",
                str(model.max_context_length or "N/A"),
                _flag(model.trainable),
                _flag(model.sampleable),
            ]
            for model in models
        ],
    )
    emit(view, ctx.format)
