"""Per-datum custom losses made by `ServiceClient.create_custom_loss`: trace, check, encode, run.

A loss is traced once with torch.fx, so what runs (on the client, or on a server that accepts
uploads) is exactly the recorded graph and not the Python function. The checks here are the
client's courtesy, so that a loss that cannot run anywhere fails at creation with a clear
message; the server applies its own allow-list to the uploaded graph.

The wire form (`CustomLossGraph`) keeps each fx node: its op, name, target (a function's
qualified name, `operator.*` for Python operators) and its arguments, encoded as JSON where
anything that is not a JSON scalar, string or list is a one-key object (`ref`, `tuple`, `dict`,
`slice`, `ellipsis`, `float` for inf/nan, `dtype`, `device`, `layout`, `memory_format`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tinkex import types

if TYPE_CHECKING:
    import torch
    import torch.fx

__all__ = [
    "LossHandle",
    "PerDatumLossFn",
    "check_loss_inputs",
    "encode_graph",
    "run_loss_handle",
    "trace_loss",
]

PerDatumLossFn = Callable[..., tuple["torch.Tensor", Mapping[str, "torch.Tensor"]]]
"""`fn(logprobs, *inputs) -> (scalar loss, {"custom/<name>:sum|mean": scalar tensor})`,
called once per datum with `logprobs` and the `loss_fn_inputs` its parameters name."""

MAX_PARAMETERS = 16
METRIC_KEY = re.compile(r"custom/[a-z0-9_./-]{1,64}:(sum|mean)")
"""Metric names: the `custom/` prefix keeps them apart from the trainer's own; the suffix
says how a metric combines across datums."""
_PARAMETER_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
_CALLABLE_MODULES = frozenset({"torch", "math", "operator", "_operator"})
_REFUSED_METHODS = {
    "backward": "returns its loss; forward_backward_custom runs the backward pass",
    "item": "must keep every value, metrics included, as a tensor",
    "tolist": "must keep every value, metrics included, as a tensor",
    "numpy": "must keep every value, metrics included, as a tensor",
}


@dataclasses.dataclass(frozen=True)
class LossHandle:
    """A traced custom loss; pass it to `TrainingClient.forward_backward_custom`."""

    name: str
    inputs: tuple[types.CustomLossInput, ...]
    """`logprobs`, then each `loss_fn_inputs` key the loss reads, with its rank."""
    session_id: str
    """Only clients of this session may use the handle."""
    graph: torch.fx.GraphModule = dataclasses.field(repr=False, compare=False)
    """The recorded graph: what runs client-side."""
    loss_id: str | None = None
    """The server's id of the uploaded loss; None when the loss runs client-side."""

    @property
    def key(self) -> str:
        """Identifies the traced loss, so that a session creates each loss once."""
        digest = hashlib.sha256(self.graph.code.encode())
        digest.update(repr([(i.name, i.rank) for i in self.inputs]).encode())
        return digest.hexdigest()

    @property
    def input_names(self) -> tuple[str, ...]:
        """The `loss_fn_inputs` keys the loss reads, in parameter order."""
        return tuple(loss_input.name for loss_input in self.inputs[1:])


def trace_loss(
    fn: PerDatumLossFn, input_ranks: Mapping[str, types.CustomLossInputRank], session_id: str
) -> LossHandle:
    """Check `fn`'s parameters against `input_ranks`, trace it and check the graph."""
    import torch.fx

    name = getattr(fn, "__name__", type(fn).__name__)
    inputs = _declared_inputs(name, fn, input_ranks)
    try:
        graph = torch.fx.symbolic_trace(fn)
    except Exception as error:
        raise ValueError(
            f"create_custom_loss: torch.fx cannot trace {name} ({error}); a custom loss may not "
            "branch on tensor values nor call libraries other than torch and math"
        ) from error
    for node in graph.graph.nodes:
        _check_node(name, node)
    return LossHandle(name=name, inputs=inputs, session_id=session_id, graph=graph)


def check_loss_inputs(handle: LossHandle, data: Sequence[types.Datum]) -> None:
    """Every datum must carry each input at its declared rank (`logprobs` is checked
    against `target_tokens`, which it mirrors)."""
    logprobs, *others = handle.inputs
    wanted = [("target_tokens", logprobs), *((i.name, i) for i in others)]
    for index, datum in enumerate(data):
        for key, declared in wanted:
            tensor = datum.loss_fn_inputs.get(key)
            if tensor is None:
                raise ValueError(
                    f"data[{index}].loss_fn_inputs has no {key!r}, which loss {handle.name!r} "
                    "reads; add it to every datum"
                )
            rank = 1 if tensor.shape is None else len(tensor.shape)
            if rank != declared.rank:
                raise ValueError(
                    f"data[{index}].loss_fn_inputs[{key!r}] has rank {rank}, but loss "
                    f"{handle.name!r} declared {declared.name} with rank {declared.rank}"
                )


def encode_graph(handle: LossHandle) -> types.CustomLossGraph:
    """The handle's graph as plain data, node for node."""
    from torch.fx.node import _get_qualified_name

    nodes = []
    for node in handle.graph.graph.nodes:
        target = node.target
        if node.op == "call_function":
            target = _get_qualified_name(target)
            if target.startswith("_operator."):
                target = "operator." + target.removeprefix("_operator.")
        nodes.append(
            types.CustomLossNode(
                op=node.op,
                name=node.name,
                target=str(target),
                args=[_encode(handle.name, arg) for arg in node.args],
                kwargs={key: _encode(handle.name, arg) for key, arg in node.kwargs.items()},
            )
        )
    return types.CustomLossGraph(nodes=nodes)


def run_loss_handle(
    handle: LossHandle, data: Sequence[types.Datum], logprobs: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Run the graph on each datum: losses summed, `:sum` metrics summed, `:mean` averaged."""
    total: torch.Tensor | None = None
    sums: dict[str, float] = {}
    for datum, datum_logprobs in zip(data, logprobs, strict=True):
        inputs = [datum.loss_fn_inputs[key].to_torch() for key in handle.input_names]
        loss, metrics = handle.graph(datum_logprobs, *inputs)
        if loss.ndim != 0:
            raise ValueError(
                f"loss {handle.name!r} returned a loss of shape {tuple(loss.shape)}; it must "
                "return a scalar (e.g. end with .sum())"
            )
        total = loss if total is None else total + loss
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach())
    assert total is not None, "data is never empty here"
    count = len(data)
    return total, {k: v / count if k.endswith(":mean") else v for k, v in sums.items()}


def _declared_inputs(
    name: str, fn: Callable[..., Any], input_ranks: Mapping[str, types.CustomLossInputRank]
) -> tuple[types.CustomLossInput, ...]:
    parameters = list(inspect.signature(fn).parameters.values())
    if not parameters or parameters[0].name != "logprobs":
        raise ValueError(
            f"create_custom_loss: {name} must take logprobs first, then the loss_fn_inputs it "
            "reads, e.g. def my_loss(logprobs, advantages)"
        )
    if len(parameters) > MAX_PARAMETERS:
        raise ValueError(
            f"create_custom_loss: {name} takes {len(parameters)} parameters; at most "
            f"{MAX_PARAMETERS}, logprobs included"
        )
    for parameter in parameters:
        problem = None
        if not _PARAMETER_NAME.fullmatch(parameter.name):
            problem = "must be a lowercase name of letters, digits and underscores"
        elif parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            problem = "must be a plain positional parameter (no *args, **kwargs or keyword-only)"
        elif parameter.default is not parameter.empty:
            problem = "must not have a default: it names a loss_fn_inputs key every datum has"
        if problem:
            raise ValueError(f"create_custom_loss: {name} parameter {parameter.name!r} {problem}")
    names = [parameter.name for parameter in parameters]
    if set(input_ranks) != set(names):
        raise ValueError(
            f"create_custom_loss: input_ranks needs exactly one rank (0, 1 or 2) per parameter "
            f"of {name}: {names}; got {sorted(input_ranks)}"
        )
    for key, rank in input_ranks.items():
        if rank not in (0, 1, 2) or isinstance(rank, bool):
            raise ValueError(f"create_custom_loss: input_ranks[{key!r}] must be 0, 1 or 2")
    if input_ranks["logprobs"] == 0:
        raise ValueError(
            "create_custom_loss: input_ranks['logprobs'] must be 1 ([T]) or 2 ([T, K]), the "
            "rank of the data's target_tokens"
        )
    return tuple(types.CustomLossInput(name=key, rank=input_ranks[key]) for key in names)


def _check_node(name: str, node: torch.fx.Node) -> None:
    import torch

    if node.op == "call_function":
        module = (getattr(node.target, "__module__", None) or "").split(".")[0]
        if node.target is not getattr and module not in _CALLABLE_MODULES:
            called = getattr(node.target, "__qualname__", node.target)
            raise ValueError(
                f"create_custom_loss: {name} calls {called!r} from {module or 'unknown'!r}; a "
                "custom loss may only call torch, math and Python operators"
            )
    elif node.op == "call_method":
        method = str(node.target)
        if method in _REFUSED_METHODS:
            raise ValueError(
                f"create_custom_loss: {name} calls .{method}(); a custom loss "
                f"{_REFUSED_METHODS[method]}"
            )
        if not hasattr(torch.Tensor, method):
            raise ValueError(f"create_custom_loss: {name} calls .{method}(), not a tensor method")
    elif node.op == "get_attr":
        raise ValueError(
            f"create_custom_loss: {name} captures tensor {node.target!r} from outside; a custom "
            "loss may only read logprobs and the loss_fn_inputs it names"
        )
    elif node.op == "output":
        _check_output(name, node.args[0])


def _check_output(name: str, returned: Any) -> None:
    import torch.fx

    shape_hint = "return (loss, {'custom/<name>:sum': tensor, ...})"
    if not isinstance(returned, tuple | list) or len(returned) != 2:
        raise ValueError(f"create_custom_loss: {name} must {shape_hint}")
    loss, metrics = returned
    if not isinstance(loss, torch.fx.Node):
        raise ValueError(f"create_custom_loss: {name} must return its loss as a tensor")
    if not isinstance(metrics, dict):
        raise ValueError(f"create_custom_loss: {name} must {shape_hint}")
    for key, value in metrics.items():
        if not isinstance(key, str) or not METRIC_KEY.fullmatch(key):
            raise ValueError(
                f"create_custom_loss: {name} metric {key!r} must be named custom/<name>:sum or "
                "custom/<name>:mean (lowercase); the suffix says how datums combine"
            )
        if not isinstance(value, torch.fx.Node):
            raise ValueError(f"create_custom_loss: {name} metric {key!r} must be a tensor")


def _encode(name: str, value: Any) -> Any:
    import torch
    import torch.fx

    if isinstance(value, torch.fx.Node):
        return {"ref": value.name}
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": str(value)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_encode(name, item) for item in value]
    if isinstance(value, tuple):
        return {"tuple": [_encode(name, item) for item in value]}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"dict": {key: _encode(name, item) for key, item in value.items()}}
    if isinstance(value, slice):
        return {"slice": [_encode(name, part) for part in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    for kind, cls in (
        ("dtype", torch.dtype),
        ("device", torch.device),
        ("layout", torch.layout),
        ("memory_format", torch.memory_format),
    ):
        if isinstance(value, cls):
            return {kind: str(value).removeprefix("torch.")}
    raise ValueError(
        f"create_custom_loss: {name} passes a {type(value).__name__} constant, which cannot be "
        "sent to the server; use numbers, strings, tuples or dtypes"
    )
