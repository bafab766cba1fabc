"""The uploaded-loss interpreter: a client-traced graph computes the same value and gradient
as the original function under autograd, and anything outside the allow-list is refused
before it runs."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("torch")

import torch

from tinkex import types
from tinkex.clients.loss_handle import encode_graph, trace_loss
from tinkex.local.engine.custom_graph import MAX_NODES, compile_loss
from tinkex.local.engine.errors import UserInputError


def clipped_pg(
    logprobs: torch.Tensor, logprobs_old: torch.Tensor, advantages: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    ratio = torch.exp(logprobs - logprobs_old)
    clipped = torch.clamp(ratio, 0.8, 1.2)
    objective = torch.minimum(ratio * advantages, clipped * advantages)
    loss = -objective.sum() / logprobs.shape[0] + 0.1 * (logprobs[..., 1:] ** 2).mean()
    entropy = -(logprobs.exp() * logprobs).sum()
    return loss, {"custom/ratio:mean": ratio.mean(), "custom/entropy:sum": entropy}


RANKS: dict[str, types.CustomLossInputRank] = {
    "logprobs": 1,
    "logprobs_old": 1,
    "advantages": 1,
}


def uploaded(fn: Any = clipped_pg, ranks: Any = RANKS) -> tuple[Any, types.CustomLossGraph]:
    handle = trace_loss(fn, ranks, "session")
    return handle, encode_graph(handle).model_copy(deep=True)


def graph_of(nodes: list[dict[str, Any]]) -> types.CustomLossGraph:
    return types.CustomLossGraph(nodes=[types.CustomLossNode(**node) for node in nodes])


def test_value_and_gradient_match_autograd_on_the_original_function() -> None:
    handle, graph = uploaded()
    wire = types.CustomLossGraph.model_validate_json(graph.model_dump_json())
    compiled = compile_loss("clipped_pg", handle.inputs, wire)
    generator = torch.Generator().manual_seed(0)
    base = -torch.rand(7, generator=generator) * 3
    old = base + 0.3 * torch.randn(7, generator=generator)
    advantages = torch.randn(7, generator=generator)

    ours = base.clone().requires_grad_(True)
    loss, metrics = compiled.evaluate([ours, old, advantages])
    loss.backward()  # type: ignore[no-untyped-call]
    reference = base.clone().requires_grad_(True)
    expected, expected_metrics = clipped_pg(reference, old, advantages)
    expected.backward()  # type: ignore[no-untyped-call]

    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert ours.grad is not None
    assert reference.grad is not None
    torch.testing.assert_close(ours.grad, reference.grad)
    assert metrics == pytest.approx({k: v.item() for k, v in expected_metrics.items()})


def malicious(
    target: str,
    op: str = "call_function",
    args: list[Any] | None = None,
    returned: Any = None,
) -> Any:
    if returned is None:
        returned = {"tuple": [{"ref": "evil"}, {"dict": {}}]}
    return graph_of(
        [
            {"op": "placeholder", "name": "logprobs", "target": "logprobs"},
            {
                "op": op,
                "name": "evil",
                "target": target,
                "args": [{"ref": "logprobs"}] if args is None else args,
            },
            {
                "op": "output",
                "name": "output",
                "target": "output",
                "args": [returned],
            },
        ]
    )


LOGPROBS = [types.CustomLossInput(name="logprobs", rank=1)]


@pytest.mark.parametrize(
    ("graph", "rule"),
    [
        (malicious("builtins.eval", args=["__import__('os').system('true')"]), "not an allowed"),
        (malicious("os.system", args=["true"]), "not an allowed"),
        (malicious("torch.load", args=["/etc/passwd"]), "not an allowed"),
        (malicious("getattr", args=[{"ref": "logprobs"}, "__class__"]), "getattr of '__class__'"),
        (malicious("builtins.getattr", args=[{"ref": "logprobs"}, "__reduce_ex__"]), "getattr"),
        (malicious("__reduce__", op="call_method"), "tensor method '__reduce__'"),
        (malicious("backward", op="call_method"), "tensor method 'backward'"),
        (malicious("register_hook", op="call_method"), "tensor method"),
        (malicious("weights", op="get_attr", args=[]), "'get_attr' nodes"),
        (malicious("linear", op="call_module"), "'call_module' nodes"),
        (malicious("torch.exp", args=[{"py": "os"}]), "cannot decode"),
        (malicious("torch.exp", args=[{"ref": "later"}]), "no earlier node"),
        (malicious("torch.exp", args=[{"dtype": "object"}]), "cannot decode"),
        (malicious("torch.exp", args=[{"device": "cuda:0; rm"}]), "cannot decode"),
        (malicious("torch.exp", args=[[[[[[[[[[1]]]]]]]]]]), "nested deeper"),
    ],
)
def test_refuses_anything_outside_the_allow_list(graph: types.CustomLossGraph, rule: str) -> None:
    with pytest.raises(UserInputError, match=rule):
        compile_loss("evil", LOGPROBS, graph)


def test_refuses_malformed_graphs() -> None:
    handle, graph = uploaded()
    nodes = graph.nodes
    with pytest.raises(UserInputError, match="one placeholder per input"):
        compile_loss("x", handle.inputs, graph.model_copy(update={"nodes": nodes[1:]}))
    with pytest.raises(UserInputError, match="no output node"):
        compile_loss("x", handle.inputs, graph.model_copy(update={"nodes": nodes[:-1]}))
    with pytest.raises(UserInputError, match="after the output"):
        compile_loss("x", handle.inputs, graph.model_copy(update={"nodes": [*nodes, nodes[-1]]}))
    twice = graph.model_copy(update={"nodes": [*nodes[:4], nodes[3], *nodes[4:]]})
    with pytest.raises(UserInputError, match="not a new identifier"):
        compile_loss("x", handle.inputs, twice)
    huge = graph.model_copy(update={"nodes": [nodes[0]] * (MAX_NODES + 1)})
    with pytest.raises(UserInputError, match=f"at most {MAX_NODES}"):
        compile_loss("x", handle.inputs, huge)
    with pytest.raises(UserInputError, match="first input must be logprobs"):
        compile_loss("x", list(reversed(handle.inputs)), graph)


def test_a_bad_metric_name_or_output_shape_is_refused() -> None:
    bad_metric = malicious(
        "torch.exp", returned={"tuple": [{"ref": "evil"}, {"dict": {"Loss": {"ref": "evil"}}}]}
    )
    with pytest.raises(UserInputError, match="metric 'Loss'"):
        compile_loss("x", LOGPROBS, bad_metric)
    with pytest.raises(UserInputError, match=r"\(loss, metrics\)"):
        compile_loss("x", LOGPROBS, malicious("torch.exp", returned={"ref": "evil"}))


def test_torch_errors_and_non_scalar_losses_are_user_errors() -> None:
    compiled = compile_loss("x", LOGPROBS, malicious("torch.exp"))
    with pytest.raises(UserInputError, match="must be a scalar"):
        compiled.evaluate([torch.zeros(3)])
    mismatch = graph_of(
        [
            {"op": "placeholder", "name": "logprobs", "target": "logprobs"},
            {"op": "call_method", "name": "v", "target": "view", "args": [{"ref": "logprobs"}, 5]},
            {
                "op": "output",
                "name": "output",
                "target": "output",
                "args": [{"tuple": [{"ref": "v"}, {"dict": {}}]}],
            },
        ]
    )
    with pytest.raises(UserInputError, match=r"node v \(view\) failed: RuntimeError"):
        compile_loss("x", LOGPROBS, mismatch).evaluate([torch.zeros(3)])


def test_constants_round_trip_through_the_wire() -> None:
    def constants(logprobs: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        clipped = torch.clamp(logprobs, min=-float("inf"), max=0.0).to(torch.float32)
        head = clipped[..., 0:2].sum() + clipped[(slice(None),)].mean()
        return head, {}

    handle, graph = uploaded(constants, {"logprobs": 1})
    compiled = compile_loss("constants", handle.inputs, graph)
    values = torch.tensor([-1.0, -2.0, -3.0])
    loss, metrics = compiled.evaluate([values])
    assert loss.item() == pytest.approx(constants(values)[0].item())
    assert metrics == {}
