"""Submitting work to the request queue from a route.

Work runs in a worker thread and returns a `Result`; errors become failed futures. The
queue already maps `ValueError` (bad input) to category `user`; this adds lookups of ids that
do not exist (a checkpoint, a run) to the same category, since only the caller can fix them.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from tinkex.local.app.http import json_response
from tinkex.local.futures import ErrorCategory, RequestFailed, Result
from tinkex.local.queue import Work
from tinkex.types import UntypedAPIFuture

__all__ = ["future_response", "user_errors"]


def user_errors(work: Callable[[], Result]) -> Work:
    """`work` with unknown ids reported as user errors instead of server errors."""

    def run() -> Result:
        try:
            return work()
        except LookupError as exc:
            raise RequestFailed(str(exc), ErrorCategory.USER) from exc

    return run


def future_response(
    request_id: str, *, model_id: str | None = None, sample_sequence_ids: list[str] | None = None
) -> Response:
    """The immediate answer of every future endpoint."""
    return json_response(
        UntypedAPIFuture(
            request_id=request_id, model_id=model_id, sample_sequence_ids=sample_sequence_ids
        )
    )
