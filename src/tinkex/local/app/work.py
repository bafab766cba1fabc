"""Submitting work to the request queue from a route.

Work runs in a worker thread and returns a `Result`; errors become failed futures. The
queue already maps `ValueError` (bad input) to category `user`; this adds lookups of ids that
do not exist (a checkpoint, a run) to the same category, since only the caller can fix them.

Training work runs on its model's lane in `seq_id` order, which starts over when the server
restarts: a model recorded before a restart is refused at submission (HTTP 410) rather than
buffered until the gap timeout, since neither its weights nor its missing seq_ids will come.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from tinkex.local.app.access import check_owner
from tinkex.local.app.http import ApiError, json_response
from tinkex.local.app.runtime import owner_of_request, runtime_of
from tinkex.local.futures import ErrorCategory, RequestFailed, Result
from tinkex.local.queue import Work
from tinkex.local.store import RunRecord
from tinkex.types import UntypedAPIFuture

__all__ = ["future_response", "submit_training", "user_errors"]


def user_errors(work: Callable[[], Result]) -> Work:
    """`work` with unknown ids reported as user errors instead of server errors."""

    def run() -> Result:
        try:
            return work()
        except LookupError as exc:
            raise RequestFailed(str(exc), ErrorCategory.USER) from exc

    return run


def submit_training(
    request: Request,
    model_id: str,
    kind: str,
    seq_id: int | None,
    work: Callable[[], Result],
    *,
    new_model: bool = False,
    run: RunRecord | None = None,
) -> str:
    """Queue `work` on the model's lane (`new_model`: the request that creates it); an unknown
    model is a 404 and a model lost in a restart a 410, never an endless wait. `run`: the
    model's record when the route already fetched it with `owned_run` (not looked up again)."""
    runtime = runtime_of(request)
    if not new_model:
        if run is None:
            check_owner(runtime.store, owner_of_request(request), model_id)
        if not runtime.workbench.is_live(model_id):
            raise ApiError(
                410,
                f"model_id: {model_id!r} is not loaded: the server restarted since it was "
                "created, and a model's weights live in memory; create a training client "
                "from a checkpoint with create_training_client_from_state (or "
                "create_training_client_from_state_with_optimizer)",
                "model_id",
            )
    return runtime.queue.submit_training(model_id, kind, user_errors(work), seq_id=seq_id)


def future_response(
    request_id: str, *, model_id: str | None = None, sample_sequence_ids: list[str] | None = None
) -> Response:
    """The immediate answer of every future endpoint."""
    return json_response(
        UntypedAPIFuture(
            request_id=request_id, model_id=model_id, sample_sequence_ids=sample_sequence_ids
        )
    )
