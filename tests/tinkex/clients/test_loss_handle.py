"""`create_custom_loss` on the client: a loss is checked and traced at once; on a service
without uploads the handle runs client-side (weights = -dL/dlogprobs); on one with uploads
the traced graph is sent and forward_backward names the loss by id."""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip("torch")

import torch
from fake_tinker import BASE_MODEL, LOGPROB, SESSION_ID, FakeTinker

from tinkex import types
from tinkex.clients.loss_handle import encode_graph, run_loss_handle, trace_loss
from tinkex.clients.service import ServiceClient
from tinkex.clients.training import TrainingClient

Metrics = dict[str, torch.Tensor]


def outside_helper(values: torch.Tensor) -> torch.Tensor:
    """A function from this module, which fx records as a call instead of tracing into."""
    return values * 2


torch.fx.wrap("outside_helper")


def weighted_cube(
    logprobs: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    loss = (weights * logprobs**3).sum()
    return loss, {"custom/cube:sum": loss, "custom/first:mean": logprobs[0]}


RANKS: dict[str, types.CustomLossInputRank] = {"logprobs": 1, "weights": 1}


def datum(weights: list[float]) -> types.Datum:
    count = len(weights)
    return types.Datum(
        model_input=types.ModelInput.from_ints(list(range(count))),
        loss_fn_inputs={"target_tokens": list(range(1, count + 1)), "weights": weights},
    )


@pytest.fixture
def training(service_client: ServiceClient) -> TrainingClient:
    return service_client.create_lora_training_client(BASE_MODEL).result(10)


def test_client_side_handle_sends_minus_the_gradient(
    service_client: ServiceClient, training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    handle = service_client.create_custom_loss(weighted_cube, RANKS).result(10)
    assert handle.loss_id is None
    assert handle.session_id == SESSION_ID
    assert fake_tinker.bodies("create_custom_loss") == []
    data = [datum([1.0, -2.0]), datum([0.5])]
    result = training.forward_backward_custom(data, handle).result(10)
    _, backward = fake_tinker.bodies("forward_backward")
    sent = [
        d["loss_fn_inputs"]["weights"]["data"] for d in backward["forward_backward_input"]["data"]
    ]
    gradient = 3 * LOGPROB**2
    assert sent[0] == pytest.approx([-gradient, 2 * gradient], rel=1e-5)
    assert sent[1] == pytest.approx([-0.5 * gradient], rel=1e-5)
    cube = sum((1.0 - 2.0 + 0.5) * LOGPROB**3 for _ in range(1))
    assert result.metrics["loss:sum"] == pytest.approx(cube, rel=1e-5)
    assert result.metrics["custom/cube:sum"] == pytest.approx(cube, rel=1e-5)
    assert result.metrics["custom/first:mean"] == pytest.approx(LOGPROB, rel=1e-5)


def test_an_uploading_service_receives_the_graph_and_runs_it_by_id(
    service_client: ServiceClient, training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    fake_tinker.config["custom_loss_server_side"] = True
    training.holder._config = types.ClientConfigResponse(custom_loss_server_side=True)
    fake_tinker.respond("create_custom_loss", lambda body: {"loss_id": "loss-7"})
    handle = service_client.create_custom_loss(weighted_cube, RANKS).result(10)
    assert handle.loss_id == "loss-7"
    (upload,) = fake_tinker.bodies("create_custom_loss")
    assert upload["session_id"] == SESSION_ID
    assert upload["custom_loss_seq_id"] == 0
    assert upload["name"] == "weighted_cube"
    assert upload["inputs"] == [{"name": "logprobs", "rank": 1}, {"name": "weights", "rank": 1}]
    assert upload["graph"] == encode_graph(handle).model_dump(mode="json")
    training.forward_backward_custom([datum([1.0])], handle).result(10)
    (sent,) = fake_tinker.bodies("forward_backward")
    assert sent["forward_backward_input"]["loss_fn"] == "custom"
    assert sent["forward_backward_input"]["loss_fn_config"] == {"loss_id": "loss-7"}


@pytest.mark.anyio
async def test_create_custom_loss_async(service_client: ServiceClient) -> None:
    handle = await service_client.create_custom_loss_async(weighted_cube, RANKS)
    assert handle.input_names == ("weights",)


def refused(fn: Any, ranks: Any = None) -> str:
    with pytest.raises(ValueError, match="create_custom_loss") as info:
        trace_loss(fn, ranks or {"logprobs": 1}, "s")
    return str(info.value)


def test_losses_that_cannot_run_anywhere_are_refused_at_creation() -> None:
    def first_is_not_logprobs(x: torch.Tensor) -> Any:
        return x.sum(), {}

    def keyword_only(logprobs: torch.Tensor, *, w: torch.Tensor) -> Any:
        return logprobs.sum(), {}

    def defaulted(logprobs: torch.Tensor, w: Any = None) -> Any:
        return logprobs.sum(), {}

    def Upper(logprobs: torch.Tensor, W: torch.Tensor) -> Any:
        return logprobs.sum(), {}

    def branches(logprobs: torch.Tensor) -> Any:
        if logprobs.sum() > 0:
            return logprobs.sum(), {}
        return -logprobs.sum(), {}

    def outside_call(logprobs: torch.Tensor) -> Any:
        return outside_helper(logprobs).sum(), {}

    def item(logprobs: torch.Tensor) -> Any:
        return logprobs.sum(), {"custom/x:sum": logprobs.sum().item()}

    def backward(logprobs: torch.Tensor) -> Any:
        logprobs.sum().backward()  # type: ignore[no-untyped-call]
        return logprobs.sum(), {}

    weight = torch.ones(2)

    def captured(logprobs: torch.Tensor) -> Any:
        return (logprobs * weight).sum(), {}

    def bad_metric(logprobs: torch.Tensor) -> Any:
        return logprobs.sum(), {"Loss": logprobs.sum()}

    def python_metric(logprobs: torch.Tensor) -> Any:
        return logprobs.sum(), {"custom/x:sum": 1.0}

    def no_pair(logprobs: torch.Tensor) -> Any:
        return logprobs.sum()

    def constant_loss(logprobs: torch.Tensor) -> Any:
        return 1.0, {}

    def list_metrics(logprobs: torch.Tensor) -> Any:
        return logprobs.sum(), [logprobs.sum()]

    def odd_constant(logprobs: torch.Tensor) -> Any:
        return torch.add(logprobs, 1, alpha=complex(1, 0)).sum(), {}

    cases = {
        first_is_not_logprobs: "must take logprobs first",
        keyword_only: "plain positional",
        defaulted: "must not have a default",
        Upper: "lowercase name",
        branches: "cannot trace",
        outside_call: "may only call torch",
        item: ".item()",
        backward: ".backward()",
        captured: "captures tensor",
        bad_metric: "metric 'Loss'",
        python_metric: "must be a tensor",
        no_pair: "must return",
        constant_loss: "loss as a tensor",
        list_metrics: "must return",
    }
    for fn, message in cases.items():
        assert message in refused(
            fn, {"logprobs": 1, "w": 1, "W": 1} if fn in (keyword_only, defaulted, Upper) else None
        ), message
    with pytest.raises(ValueError, match="cannot be sent to the server"):
        encode_graph(trace_loss(odd_constant, {"logprobs": 1}, "s"))


def test_input_ranks_must_match_the_parameters() -> None:
    assert "exactly one rank" in refused(weighted_cube, {"logprobs": 1})
    assert "must be 0, 1 or 2" in refused(weighted_cube, {"logprobs": 1, "weights": 3})
    assert "must be 1 ([T]) or 2" in refused(weighted_cube, {"logprobs": 0, "weights": 1})
    many = "def f(logprobs, " + ", ".join(f"a{i}" for i in range(16)) + "): pass"
    namespace: dict[str, Any] = {}
    exec(many, namespace)  # a signature with 17 parameters
    assert "at most 16" in refused(namespace["f"], {})


def test_data_are_checked_against_the_declared_ranks(
    service_client: ServiceClient, training: TrainingClient
) -> None:
    handle = service_client.create_custom_loss(weighted_cube, RANKS).result(10)
    square = types.Datum(
        model_input=types.ModelInput.from_ints([1, 2]),
        loss_fn_inputs={
            "target_tokens": [2, 3],
            "weights": types.TensorData(data=[1.0] * 4, dtype="float32", shape=[2, 2]),
        },
    )
    with pytest.raises(ValueError, match=r"\['weights'\] has rank 2, but loss 'weighted_cube'"):
        training.forward_backward_custom([square], handle)
    with pytest.raises(ValueError, match="already created 'weighted_cube'"):
        service_client.create_custom_loss(weighted_cube, RANKS).result(10)


def test_encoding_covers_every_constant_kind() -> None:
    def constants(logprobs: torch.Tensor) -> tuple[torch.Tensor, Metrics]:
        shaped = logprobs.to(torch.float32)[..., 0:2]
        clipped = torch.clamp(shaped, min=-math.inf, max=math.inf)
        tail = logprobs[(slice(None),)].to(device=torch.device("cpu")).sum()
        kept = clipped.contiguous(memory_format=torch.contiguous_format)
        dense = torch.zeros_like(kept, layout=torch.strided, dtype=None).sum()
        stacked = torch.stack([kept.sum(), tail, dense]).sum()
        return stacked, {"custom/n:sum": logprobs.new_tensor([1.0]).sum()}

    handle = trace_loss(constants, {"logprobs": 1}, "s")
    encoded = encode_graph(handle).model_dump_json()
    for marker in ('"dtype"', '"device"', '"layout"', '"memory_format"', '"slice"'):
        assert marker in encoded
    assert '"ellipsis":true' in encoded
    assert '"float":"-inf"' in encoded
    logprobs = torch.tensor([-1.0, -2.0, -3.0])
    data = [types.Datum(model_input=types.ModelInput.from_ints([0, 1, 2]), loss_fn_inputs={})]
    loss, metrics = run_loss_handle(handle, data, [logprobs])
    assert loss.item() == pytest.approx(constants(logprobs)[0].item())
    assert metrics == {"custom/n:sum": 1.0}


def test_a_non_scalar_loss_fails_when_run() -> None:
    def per_token(logprobs: torch.Tensor) -> tuple[torch.Tensor, Metrics]:
        return logprobs * 2, {}

    handle = trace_loss(per_token, {"logprobs": 1}, "s")
    data = [types.Datum(model_input=types.ModelInput.from_ints([0]), loss_fn_inputs={})]
    with pytest.raises(ValueError, match=r"loss of shape \(3,\)"):
        run_loss_handle(handle, data, [torch.zeros(3)])
