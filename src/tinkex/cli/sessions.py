"""`tinkex session list|info`: sessions and what they created."""

from __future__ import annotations

from collections.abc import Sequence

import click

from tinkex.cli.context import CliContext
from tinkex.cli.options import limit_option, pass_cli
from tinkex.cli.output import View, emit
from tinkex.cli.paging import collect

__all__ = ["group"]


@click.group("session")
def group() -> None:
    """Inspect sessions."""


@group.command("list")
@limit_option("How many sessions to show; 0 shows all.")
@pass_cli
def list_sessions(ctx: CliContext, limit: int) -> None:
    """List your session ids, newest first."""
    rest = ctx.rest()

    def fetch(page_limit: int, offset: int) -> tuple[Sequence[str], int | None]:
        return ctx.wait(rest.list_sessions(limit=page_limit, offset=offset)).sessions, None

    sessions, _ = collect(fetch, limit, ctx.page_size)
    view = View(
        data={"sessions": sessions, "shown": len(sessions)},
        title=f"{len(sessions)} session(s)",
        columns=["Session ID"],
        rows=[[session] for session in sessions],
    )
    emit(view, ctx.format)


@group.command("info")
@click.argument("session_id")
@pass_cli
def session_info(ctx: CliContext, session_id: str) -> None:
    """Show a session's training runs and samplers."""
    session = ctx.wait(ctx.rest().get_session(session_id))
    rows = [["Display name", session.display_name or "N/A"]]
    rows += [["Training run", run_id] for run_id in session.training_run_ids]
    rows += [["Sampler", sampler_id] for sampler_id in session.sampler_ids]
    rows += [[f"Metadata {key}", value] for key, value in (session.user_metadata or {}).items()]
    data = {"session_id": session_id, **session.model_dump(mode="json")}
    view = View(data=data, title=f"Session {session_id}", columns=["Property", "Value"], rows=rows)
    emit(view, ctx.format)
