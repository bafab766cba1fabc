"""Loss functions: the built-in kinds and server-side custom losses traced with torch.fx."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import pydantic

from ._base import RequestModel, ResponseModel

__all__ = [
    "CreateCustomLossRequest",
    "CreateCustomLossResponse",
    "CustomLossGraph",
    "CustomLossInput",
    "CustomLossInputRank",
    "CustomLossNode",
    "CustomLossNodeOp",
    "LossFnType",
]

LossFnType: TypeAlias = Literal[
    "cross_entropy",
    "importance_sampling",
    "ppo",
    "cispo",
    "dro",
    "gspo",
    "stable_reinforce",
    "custom",
]

CustomLossNodeOp: TypeAlias = Literal[
    "placeholder", "get_attr", "call_function", "call_method", "call_module", "output"
]

CustomLossInputRank: TypeAlias = Literal[0, 1, 2]
"""0 is a scalar, 1 is ``[T]`` and 2 is ``[T, K]``."""


class CustomLossNode(RequestModel):
    """One torch.fx node; ``args``/``kwargs`` use the JSON encoding the server rebuilds."""

    op: CustomLossNodeOp
    name: str
    target: str
    args: list[Any] = pydantic.Field(default_factory=list)
    kwargs: dict[str, Any] = pydantic.Field(default_factory=dict)


class CustomLossGraph(RequestModel):
    """A traced loss as plain data, nodes in execution order."""

    format: Literal[1] = 1
    nodes: list[CustomLossNode]


class CustomLossInput(RequestModel):
    """One loss input (``logprobs`` or a ``loss_fn_inputs`` key) and its rank."""

    name: str
    rank: CustomLossInputRank


class CreateCustomLossRequest(RequestModel):
    """Upload a traced loss so ``forward_backward`` can run it server-side."""

    session_id: str
    custom_loss_seq_id: int
    name: str
    inputs: list[CustomLossInput]
    """The graph's inputs in order, ``logprobs`` first."""
    graph: CustomLossGraph
    type: Literal["create_custom_loss"] = "create_custom_loss"


class CreateCustomLossResponse(ResponseModel):
    """The id naming the stored loss in later requests of the same session."""

    loss_id: str
    type: Literal["create_custom_loss"] = "create_custom_loss"
