"""Custom losses uploaded by `ServiceClient.create_custom_loss`, and their use by forward_backward.

`POST /create_custom_loss` checks the graph against the engine's allow-list
(`tinkex.local.engine.custom_graph`) and answers a future of the loss id; a refused graph is
a failed future of category `user` naming the node and the rule. `forward_backward` with
`loss_fn="custom"` and `loss_fn_config={"loss_id": ...}` runs the loss, for models of the
session that uploaded it. Uploaded losses live in memory for the life of the server.
"""

from __future__ import annotations

import threading

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tinkex.local.app.http import guarded, parse_body
from tinkex.local.app.runtime import runtime_of
from tinkex.local.app.work import future_response, user_errors
from tinkex.local.engine.custom_graph import CompiledLoss, compile_loss
from tinkex.local.engine.errors import UserInputError
from tinkex.local.futures import Result
from tinkex.types import CreateCustomLossRequest, ForwardBackwardInput

__all__ = ["UploadedLosses", "custom_loss_for", "routes"]

MAX_LOSSES_PER_SESSION = 64


class UploadedLosses:
    """The losses uploaded to one server, by loss id, with the session that owns each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._losses: dict[str, tuple[str, CompiledLoss]] = {}

    def add(self, session_id: str, loss_id: str, loss: CompiledLoss) -> None:
        with self._lock:
            owned = sum(1 for owner, _ in self._losses.values() if owner == session_id)
            if loss_id not in self._losses and owned >= MAX_LOSSES_PER_SESSION:
                raise UserInputError(
                    f"create_custom_loss: session {session_id} already has "
                    f"{MAX_LOSSES_PER_SESSION} custom losses; reuse their LossHandles"
                )
            self._losses[loss_id] = (session_id, loss)

    def get(self, loss_id: str, session_id: str) -> CompiledLoss:
        with self._lock:
            owner, loss = self._losses.get(loss_id, (None, None))
        if loss is None or owner != session_id:
            raise UserInputError(
                f"loss_fn_config['loss_id']: no custom loss {loss_id!r} in session {session_id}; "
                "create it with this session's ServiceClient.create_custom_loss"
            )
        return loss


def uploaded_losses(request: Request) -> UploadedLosses:
    """This server's uploaded losses (kept on the app, so each server has its own)."""
    state = request.app.state
    losses: UploadedLosses | None = getattr(state, "custom_losses", None)
    if losses is None:
        losses = state.custom_losses = UploadedLosses()
    return losses


def custom_loss_for(
    request: Request, model_id: str, fb_input: ForwardBackwardInput
) -> CompiledLoss | None:
    """The uploaded loss a forward(_backward) names; None for the built-in losses."""
    if fb_input.loss_fn != "custom":
        return None
    config = fb_input.loss_fn_config or {}
    loss_id = config.get("loss_id")
    if set(config) != {"loss_id"} or not isinstance(loss_id, str):
        raise UserInputError(
            "loss_fn_config: loss 'custom' takes exactly {'loss_id': <the id create_custom_loss "
            f"returned>}}, got keys {sorted(config)}"
        )
    session_id = runtime_of(request).store.runs.get(model_id).session_id
    return uploaded_losses(request).get(loss_id, session_id)


async def create_custom_loss(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, CreateCustomLossRequest, runtime.config.max_body_bytes)
    runtime.store.sessions.get(body.session_id)
    loss_id = f"{body.session_id}:loss:{body.custom_loss_seq_id}"
    losses = uploaded_losses(request)

    def work() -> Result:
        losses.add(body.session_id, loss_id, compile_loss(body.name, body.inputs, body.graph))
        return Result({"loss_id": loss_id, "type": "create_custom_loss"})

    request_id = runtime.queue.submit_sampling(
        "create_custom_loss", user_errors(work), dedup_key=("create_custom_loss", loss_id)
    )
    return future_response(request_id)


routes = [Route("/create_custom_loss", guarded(create_custom_loss), methods=["POST"])]
