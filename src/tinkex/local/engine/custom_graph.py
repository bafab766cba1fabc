"""Uploaded custom losses: rebuild a `CustomLossGraph` from an allow-list, then train with it.

Why an interpreter and not `eval` or pickle: the graph comes from the network. Every node is
checked before anything runs: functions are looked up by name in a table of torch, math and
`operator` functions built here (never imported by name), methods must be in a list of
tensor methods and run only on tensors, `getattr` may read only a few tensor attributes, and
arguments decode to plain values (numbers, strings, tuples, slices, dtypes). Anything else
(`builtins.eval`, `os.system`, `getattr(x, "__class__")`, `torch.load`, modules, captured
tensors) is refused with a `UserInputError` naming the node and the rule.

An uploaded loss runs like the client's `forward_backward_custom`: once per datum with that
datum's target logprobs and the `loss_fn_inputs` it names; losses are summed, `:sum` metrics
summed and `:mean` metrics averaged over datums.
"""

from __future__ import annotations

import contextlib
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.fx.node import _get_qualified_name

from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.inputs import prepare_batch
from tinkex.local.engine.losses import LossOutput, LossSpec
from tinkex.local.engine.trainer import TrainingSession, target_logprobs
from tinkex.local.engine.types import EngineDatum, ForwardResult
from tinkex.types import CustomLossGraph, CustomLossInput

__all__ = ["MAX_NODES", "CompiledLoss", "compile_loss", "run_compiled_loss"]

MAX_NODES = 2000
MAX_ARG_DEPTH = 8
MAX_ARG_ITEMS = 64
MAX_STRING = 128
METRIC_KEY = re.compile(r"custom/[a-z0-9_./-]{1,64}:(sum|mean)")
_NODE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")

_FUNCTIONS: tuple[Callable[..., Any], ...] = (
    *(getattr(torch, name) for name in (
        "abs", "add", "amax", "amin", "argmax", "argmin", "cat", "clamp", "clamp_max",
        "clamp_min", "clip", "cumsum", "div", "einsum", "eq", "exp", "exp2", "expm1",
        "flatten", "full_like", "gather", "ge", "gt", "isfinite", "isnan", "le", "log",
        "log1p", "log2", "log_softmax", "logaddexp", "logical_and", "logical_not",
        "logical_or", "logsumexp", "lt", "masked_fill", "matmul", "max", "maximum", "mean",
        "min", "minimum", "mul", "nan_to_num", "ne", "neg", "norm", "ones_like", "pow",
        "prod", "reciprocal", "relu", "reshape", "rsqrt", "sigmoid", "sign", "softmax",
        "sqrt", "square", "squeeze", "stack", "std", "sub", "sum", "tanh", "transpose",
        "unsqueeze", "var", "where", "zeros_like",
    )),
    *(getattr(F, name) for name in (
        "binary_cross_entropy_with_logits", "cross_entropy", "gelu", "huber_loss", "kl_div",
        "l1_loss", "log_softmax", "logsigmoid", "mse_loss", "nll_loss", "normalize", "relu",
        "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus", "tanh",
    )),
    *(getattr(math, name) for name in ("exp", "expm1", "fabs", "log", "log1p", "sqrt", "tanh")),
    *(getattr(operator, name) for name in (
        "abs", "add", "and_", "eq", "floordiv", "ge", "getitem", "gt", "invert", "le", "lt",
        "matmul", "mod", "mul", "ne", "neg", "or_", "pos", "pow", "sub", "truediv", "xor",
    )),
)  # fmt: skip


def _wire_name(fn: Callable[..., Any]) -> str:
    """The name the client sends for `fn` (fx's qualified name, `operator.` for operators)."""
    name = _get_qualified_name(fn)
    return "operator." + name.removeprefix("_operator.") if name.startswith("_operator.") else name


ALLOWED_FUNCTIONS: Mapping[str, Callable[..., Any]] = {_wire_name(fn): fn for fn in _FUNCTIONS}
ALLOWED_METHODS = frozenset(
    [
        "abs",
        "add",
        "amax",
        "amin",
        "argmax",
        "argmin",
        "bool",
        "clamp",
        "clamp_max",
        "clamp_min",
        "clip",
        "clone",
        "contiguous",
        "cumsum",
        "detach",
        "dim",
        "div",
        "double",
        "eq",
        "exp",
        "exp2",
        "expand_as",
        "expm1",
        "flatten",
        "float",
        "gather",
        "ge",
        "gt",
        "index_select",
        "isfinite",
        "isnan",
        "le",
        "log",
        "log1p",
        "log2",
        "log_softmax",
        "logical_and",
        "logical_not",
        "logical_or",
        "logsumexp",
        "long",
        "lt",
        "masked_fill",
        "max",
        "maximum",
        "mean",
        "min",
        "minimum",
        "mul",
        "nan_to_num",
        "ne",
        "neg",
        "norm",
        "numel",
        "permute",
        "pow",
        "prod",
        "reciprocal",
        "relu",
        "reshape",
        "rsqrt",
        "sigmoid",
        "sign",
        "size",
        "softmax",
        "sqrt",
        "square",
        "squeeze",
        "std",
        "sub",
        "sum",
        "t",
        "tanh",
        "to",
        "transpose",
        "type_as",
        "unsqueeze",
        "var",
        "view",
        "view_as",
        "where",
    ]
)
ALLOWED_ATTRIBUTES = frozenset({"shape", "dtype", "device", "ndim", "T", "mT"})
_DTYPES = {
    name: getattr(torch, name)
    for name in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")
}
_CONSTANTS: Mapping[str, Mapping[str, object]] = {
    "dtype": _DTYPES,
    "device": {"cpu": torch.device("cpu")},
    "layout": {"strided": torch.strided},
    "memory_format": {
        "contiguous_format": torch.contiguous_format,
        "preserve_format": torch.preserve_format,
    },
}


@dataclass(frozen=True)
class _Ref:
    name: str


@dataclass(frozen=True)
class _Step:
    name: str
    kind: str  # "function", "method" or "attribute"
    target: str
    call: Callable[..., Any] | None
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class CompiledLoss:
    """A checked loss graph, ready to run on tensors."""

    name: str
    inputs: tuple[CustomLossInput, ...]
    arguments: tuple[str, ...]
    """The placeholder node names the inputs are bound to."""
    steps: tuple[_Step, ...]
    output: tuple[_Ref, dict[str, _Ref]]

    def evaluate(self, values: Sequence[torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """One datum's scalar loss and metrics; `values` are the inputs, in order."""
        env: dict[str, Any] = dict(zip(self.arguments, values, strict=True))
        for step in self.steps:
            try:
                env[step.name] = _run_step(step, env)
            except UserInputError:
                raise
            except Exception as error:  # torch's own complaint (shapes, dtypes) is the user's
                raise UserInputError(
                    f"custom loss {self.name!r}: node {step.name} ({step.target}) failed: "
                    f"{type(error).__name__}: {error}"
                ) from error
        loss = env[self.output[0].name]
        metrics = {key: env[ref.name] for key, ref in self.output[1].items()}
        for label, value in [("loss", loss), *metrics.items()]:
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise UserInputError(
                    f"custom loss {self.name!r}: {label} must be a scalar tensor, got "
                    f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)}"
                )
        return loss.reshape(()), {key: float(value.detach()) for key, value in metrics.items()}


def compile_loss(
    name: str, inputs: Sequence[CustomLossInput], graph: CustomLossGraph
) -> CompiledLoss:
    """Check every node of `graph` against the allow-lists; raise `UserInputError` if any
    fails."""
    if len(graph.nodes) > MAX_NODES:
        raise UserInputError(f"graph.nodes: {len(graph.nodes)} nodes; at most {MAX_NODES}")
    if not inputs or inputs[0].name != "logprobs" or inputs[0].rank == 0:
        raise UserInputError("inputs: the first input must be logprobs, with rank 1 or 2")
    placeholders = [node for node in graph.nodes if node.op == "placeholder"]
    if [node.target for node in placeholders] != [i.name for i in inputs] or any(
        node.op != "placeholder" for node in graph.nodes[: len(inputs)]
    ):
        raise UserInputError(
            "graph.nodes: the graph must start with one placeholder per input, in the order of "
            f"inputs ({[i.name for i in inputs]})"
        )
    defined = {node.name for node in placeholders}
    steps: list[_Step] = []
    output: tuple[_Ref, dict[str, _Ref]] | None = None
    for index, node in enumerate(graph.nodes[len(inputs) :], start=len(inputs)):
        field = f"graph.nodes[{index}]"
        if output is not None:
            raise UserInputError(f"{field}: nodes after the output node")
        if not _NODE_NAME.fullmatch(node.name) or node.name in defined:
            raise UserInputError(f"{field}.name: {node.name!r} is not a new identifier")
        args = tuple(_decode(f"{field}.args", arg, defined, 0) for arg in node.args)
        kwargs = {
            str(key): _decode(f"{field}.kwargs", arg, defined, 0)
            for key, arg in node.kwargs.items()
        }
        if node.op == "output":
            output = _output(field, args)
            continue
        steps.append(_step(field, node.op, node.name, node.target, args, kwargs))
        defined.add(node.name)
    if output is None:
        raise UserInputError("graph.nodes: no output node")
    arguments = tuple(node.name for node in placeholders)
    return CompiledLoss(name, tuple(inputs), arguments, tuple(steps), output)


def run_compiled_loss(
    session: TrainingSession, data: Sequence[EngineDatum], loss: CompiledLoss, *, backward: bool
) -> ForwardResult:
    """Forward (and backward) with an uploaded loss; outputs `logprobs`, metrics `loss:sum`
    and the loss's own."""
    base = session.host.base
    batch = prepare_batch(data, _TARGETS_ONLY, base.vocab_size, base.device)
    values = [_datum_inputs(i, d, loss, base.device) for i, d in enumerate(data)]
    for i, datum in enumerate(batch):
        if datum.targets.ndim != loss.inputs[0].rank:
            raise UserInputError(
                f"data[{i}].loss_fn_inputs['target_tokens']: rank {datum.targets.ndim}, but "
                f"loss {loss.name!r} declared logprobs with rank {loss.inputs[0].rank}"
            )
    grad = contextlib.nullcontext() if backward else torch.no_grad()
    with session.host.using(session.adapter) as model, grad:
        pad_id = base.tokenizer.pad_token_id or 0
        logprobs = target_logprobs(model, batch, pad_id)
        total: torch.Tensor | None = None
        sums: dict[str, float] = {}
        for lp, others in zip(logprobs, values, strict=True):
            datum_loss, metrics = loss.evaluate([lp, *others])
            total = datum_loss if total is None else total + datum_loss
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
        assert total is not None, "prepare_batch refuses an empty batch"
        if backward:
            torch.autograd.backward(total)
    metrics_out = {k: v / len(data) if k.endswith(":mean") else v for k, v in sums.items()}
    outputs = [{"logprobs": lp.detach().cpu().numpy().astype(np.float32)} for lp in logprobs]
    metrics = {"loss:sum": float(total.detach()), **metrics_out}
    return ForwardResult(outputs=outputs, metrics=metrics)


def _checked_by_the_graph(
    lp: torch.Tensor, inputs: Mapping[str, torch.Tensor], config: Mapping[str, float]
) -> LossOutput:  # pragma: no cover - never called, see _TARGETS_ONLY
    raise AssertionError("an uploaded loss runs through CompiledLoss.evaluate")


_TARGETS_ONLY = LossSpec("custom", _checked_by_the_graph, (), {}, allows_topk_targets=True)
"""Lets `prepare_batch` check tokens and targets; the loss checks its own inputs."""


def _datum_inputs(
    index: int, datum: EngineDatum, loss: CompiledLoss, device: torch.device
) -> list[torch.Tensor]:
    tensors = []
    for declared in loss.inputs[1:]:
        field = f"data[{index}].loss_fn_inputs[{declared.name!r}]"
        if declared.name not in datum.loss_fn_inputs:
            raise UserInputError(f"{field}: missing; loss {loss.name!r} reads it")
        value = np.asarray(datum.loss_fn_inputs[declared.name])
        if value.ndim != declared.rank:
            raise UserInputError(
                f"{field}: rank {value.ndim}, but loss {loss.name!r} declared rank {declared.rank}"
            )
        if np.issubdtype(value.dtype, np.floating):
            if not np.all(np.isfinite(value)):
                raise UserInputError(f"{field}: contains NaN or inf")
            tensors.append(torch.as_tensor(value, dtype=torch.float32, device=device))
        elif np.issubdtype(value.dtype, np.integer):
            tensors.append(torch.as_tensor(value, dtype=torch.long, device=device))
        else:
            raise UserInputError(f"{field}: expected numbers, got dtype {value.dtype}")
    return tensors


def _step(
    field: str, op: str, name: str, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Step:
    if op == "call_function" and target in ("getattr", "builtins.getattr"):
        if kwargs or len(args) != 2 or not isinstance(args[0], _Ref):
            raise UserInputError(f"{field}: getattr takes a node and an attribute name")
        if args[1] not in ALLOWED_ATTRIBUTES:
            raise UserInputError(
                f"{field}: getattr of {args[1]!r} is not allowed; a custom loss may read only "
                f"{sorted(ALLOWED_ATTRIBUTES)}"
            )
        return _Step(name, "attribute", str(args[1]), None, args[:1], {})
    if op == "call_function":
        call = ALLOWED_FUNCTIONS.get(target)
        if call is None:
            raise UserInputError(
                f"{field}.target: {target!r} is not an allowed function; a custom loss may call "
                "torch, torch.nn.functional, math and operator functions such as torch.exp, "
                "torch.clamp or operator.mul"
            )
        return _Step(name, "function", target, call, args, kwargs)
    if op == "call_method":
        if target not in ALLOWED_METHODS or not args or not isinstance(args[0], _Ref):
            raise UserInputError(
                f"{field}.target: tensor method {target!r} is not allowed; use e.g. .sum(), "
                ".mean(), .exp(), .clamp(), .detach()"
            )
        return _Step(name, "method", target, None, args, kwargs)
    raise UserInputError(
        f"{field}.op: {op!r} nodes are not allowed; a custom loss may only call functions and "
        "tensor methods on its inputs (no torch.nn modules, no captured tensors)"
    )


def _run_step(step: _Step, env: Mapping[str, Any]) -> Any:
    args = [_resolve(arg, env) for arg in step.args]
    kwargs = {key: _resolve(arg, env) for key, arg in step.kwargs.items()}
    if step.kind == "function":
        assert step.call is not None
        return step.call(*args, **kwargs)
    receiver = args[0]
    if not isinstance(receiver, torch.Tensor):
        raise UserInputError(
            f"node {step.name}: .{step.target} needs a tensor, got {type(receiver).__name__}"
        )
    if step.kind == "attribute":
        return getattr(receiver, step.target)
    return getattr(receiver, step.target)(*args[1:], **kwargs)


def _resolve(value: Any, env: Mapping[str, Any]) -> Any:
    if isinstance(value, _Ref):
        return env[value.name]
    if isinstance(value, list):
        return [_resolve(item, env) for item in value]
    if isinstance(value, tuple):
        return tuple(_resolve(item, env) for item in value)
    if isinstance(value, dict):
        return {key: _resolve(item, env) for key, item in value.items()}
    if isinstance(value, slice):
        return slice(*(_resolve(part, env) for part in (value.start, value.stop, value.step)))
    return value


def _decode(field: str, value: Any, defined: set[str], depth: int) -> Any:
    """A wire argument as a Python value, node references as `_Ref`s."""
    if depth > MAX_ARG_DEPTH:
        raise UserInputError(f"{field}: arguments nested deeper than {MAX_ARG_DEPTH}")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UserInputError(f"{field}: non-finite numbers are sent as {{'float': 'inf'}}")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise UserInputError(f"{field}: string longer than {MAX_STRING} characters")
        return value
    if isinstance(value, list):
        return [_decode(field, item, defined, depth + 1) for item in _bounded(field, value)]
    if not (isinstance(value, dict) and len(value) == 1):
        raise UserInputError(f"{field}: cannot decode {type(value).__name__} argument")
    ((kind, inner),) = value.items()
    if kind == "ref" and isinstance(inner, str):
        if inner not in defined:
            raise UserInputError(f"{field}: refers to {inner!r}, which no earlier node defines")
        return _Ref(inner)
    if kind == "tuple" and isinstance(inner, list):
        return tuple(_decode(field, item, defined, depth + 1) for item in _bounded(field, inner))
    if kind == "dict" and isinstance(inner, dict):
        items = _bounded(field, list(inner.items()))
        return {str(k): _decode(field, item, defined, depth + 1) for k, item in items}
    if kind == "slice" and isinstance(inner, list) and len(inner) == 3:
        parts = [_decode(field, part, defined, depth + 1) for part in inner]
        return slice(*parts)
    if kind == "ellipsis" and inner is True:
        return Ellipsis
    if kind == "float" and inner in ("inf", "-inf", "nan"):
        return float(inner)
    constants = _CONSTANTS.get(kind, {})
    if isinstance(inner, str) and inner in constants:
        return constants[inner]
    raise UserInputError(f"{field}: cannot decode argument {{{kind!r}: {inner!r}}}"[:300])


def _bounded(field: str, items: list[Any]) -> list[Any]:
    if len(items) > MAX_ARG_ITEMS:
        raise UserInputError(f"{field}: more than {MAX_ARG_ITEMS} items in one argument")
    return items


def _output(field: str, args: tuple[Any, ...]) -> tuple[_Ref, dict[str, _Ref]]:
    returned = args[0] if len(args) == 1 else None
    if not (isinstance(returned, tuple | list) and len(returned) == 2):
        raise UserInputError(f"{field}: the output must be (loss, metrics)")
    loss, metrics = returned
    if not isinstance(loss, _Ref) or not isinstance(metrics, dict):
        raise UserInputError(f"{field}: the output must be (loss node, {{metric: node}})")
    for key, value in metrics.items():
        if not METRIC_KEY.fullmatch(key) or not isinstance(value, _Ref):
            raise UserInputError(
                f"{field}: metric {key!r} must be a node named custom/<name>:sum or "
                "custom/<name>:mean"
            )
    return loss, metrics
