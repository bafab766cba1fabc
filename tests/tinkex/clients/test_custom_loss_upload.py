"""`ServiceClient.create_custom_loss` on the embedded server: the uploaded loss gives the same
loss, metrics and update as the same handle run client-side and as torch autograd; the
official `tinker` client uploads and trains with it too; a malicious graph is refused with a
user error and the server keeps serving."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")

import torch

from tinkex import types
from tinkex.clients.service import ServiceClient
from tinkex.clients.training import TrainingClient
from tinkex.errors import RequestFailedError
from tinkex.local.config import DEFAULT_MODELS

MODEL = DEFAULT_MODELS[0]
TOKENS = [[1, 5, 9, 13, 17, 21], [2, 4, 8, 16, 32]]
# Adam with a large eps moves each weight by about lr * grad / eps: linear in the gradient,
# so equal updates mean equal gradients.
LINEAR_STEP = types.AdamParams(learning_rate=2.0, eps=10.0)
RANKS: dict[str, types.CustomLossInputRank] = {"logprobs": 1, "old": 1, "advantages": 1}


def ratio_loss(
    logprobs: torch.Tensor, old: torch.Tensor, advantages: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    ratio = torch.exp(logprobs - old)
    loss = -(torch.clamp(ratio, 0.5, 1.5) * advantages).sum() + (logprobs**2).mean()
    return loss, {"custom/ratio:mean": ratio.mean(), "custom/lp:sum": logprobs.sum()}


def batch(wire: Any = types) -> list[Any]:
    """The training data, as `wire.Datum`s (tinkex's types, or the official client's)."""
    data = []
    for index, tokens in enumerate(TOKENS):
        count = len(tokens) - 1
        data.append(
            wire.Datum(
                model_input=wire.ModelInput.from_ints(tokens[:-1]),
                loss_fn_inputs={
                    "target_tokens": np.array(tokens[1:], dtype=np.int64),
                    "old": np.array([-3.0 - 0.1 * i for i in range(count)], dtype=np.float32),
                    "advantages": np.array(
                        [(-1.0) ** (i + index) for i in range(count)], dtype=np.float32
                    ),
                },
            )
        )
    return data


@pytest.fixture
def service(local_service: ServiceClient) -> ServiceClient:
    return local_service


def trainer(service: ServiceClient) -> TrainingClient:
    return service.create_lora_training_client(MODEL, rank=4, seed=7).result(120)


def target_logprobs(training: TrainingClient) -> list[torch.Tensor]:
    output = training.forward(batch(), "cross_entropy").result(120)
    return [torch.tensor(o["logprobs"].to_numpy()) for o in output.loss_fn_outputs]


def test_uploaded_loss_matches_client_side_and_autograd(service: ServiceClient) -> None:
    handle = service.create_custom_loss(ratio_loss, RANKS).result(60)
    assert handle.loss_id is not None
    assert handle.input_names == ("old", "advantages")
    on_server, on_client = trainer(service), trainer(service)
    before = target_logprobs(on_server)

    expected_loss = 0.0
    ratios = []
    for logprobs, datum in zip(before, batch(), strict=True):
        inputs = [datum.loss_fn_inputs[k].to_torch() for k in ("old", "advantages")]
        loss, metrics = ratio_loss(logprobs, *inputs)
        expected_loss += loss.item()
        ratios.append(metrics["custom/ratio:mean"].item())

    server = on_server.forward_backward_custom(batch(), handle).result(120)
    local_handle = dataclasses.replace(handle, loss_id=None)
    client = on_client.forward_backward_custom(batch(), local_handle).result(120)
    assert server.metrics["loss:sum"] == pytest.approx(expected_loss, rel=1e-4)
    assert client.metrics["loss:sum"] == pytest.approx(expected_loss, rel=1e-4)
    for reported in (server.metrics, client.metrics):
        assert reported["custom/ratio:mean"] == pytest.approx(sum(ratios) / 2, rel=1e-4)
        assert reported["custom/lp:sum"] == pytest.approx(sum(lp.sum().item() for lp in before))

    on_server.optim_step(LINEAR_STEP).result(120)
    on_client.optim_step(LINEAR_STEP).result(120)
    after_server, after_client = target_logprobs(on_server), target_logprobs(on_client)
    for moved, same, old in zip(after_server, after_client, before, strict=True):
        assert not torch.allclose(moved, old, atol=1e-4)
        torch.testing.assert_close(moved, same, rtol=1e-3, atol=1e-4)


def test_handle_checks_inputs_and_session_before_sending(service: ServiceClient) -> None:
    def weighted(
        logprobs: torch.Tensor, weights: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return -(logprobs * weights).sum(), {}

    handle = service.create_custom_loss(weighted, {"logprobs": 1, "weights": 1}).result(60)
    training = trainer(service)
    with pytest.raises(ValueError, match=r"data\[0\].loss_fn_inputs has no 'weights'"):
        training.forward_backward_custom(batch(), handle)
    foreign = dataclasses.replace(handle, session_id="someone-else")
    with pytest.raises(ValueError, match="belongs to session someone-else"):
        training.forward_backward_custom(batch(), foreign)
    with pytest.raises(ValueError, match="already created 'weighted'"):
        service.create_custom_loss(weighted, {"logprobs": 1, "weights": 1}).result(60)
    unknown = dataclasses.replace(handle, loss_id="no-such-loss")
    data = [
        d.model_copy(
            update={"loss_fn_inputs": {**d.loss_fn_inputs, "weights": d.loss_fn_inputs["old"]}}
        )
        for d in batch()
    ]
    with pytest.raises(Exception, match="no custom loss 'no-such-loss'"):
        training.forward_backward_custom(data, unknown).result(60)


def evil_graph() -> dict[str, Any]:
    return {
        "nodes": [
            {"op": "placeholder", "name": "logprobs", "target": "logprobs"},
            {"op": "call_function", "name": "boom", "target": "os.system", "args": ["true"]},
            {
                "op": "output",
                "name": "output",
                "target": "output",
                "args": [{"tuple": [{"ref": "boom"}, {"dict": {}}]}],
            },
        ]
    }


async def upload(service: ServiceClient, graph: dict[str, Any]) -> types.CreateCustomLossResponse:
    holder = service.holder
    request = types.CreateCustomLossRequest(
        session_id=await holder.ensure_session(),
        custom_loss_seq_id=holder.next_custom_loss_seq_id(),
        name="evil",
        inputs=[types.CustomLossInput(name="logprobs", rank=1)],
        graph=types.CustomLossGraph.model_validate(graph),
    )
    submitted = await holder.call_with_retries("create_custom_loss", request)
    response: types.CreateCustomLossResponse = await holder.wait_future(
        submitted,
        types.CreateCustomLossResponse,
        endpoint_id="create_custom_loss",
        request_type="CreateCustomLoss",
    )
    return response


def test_a_malicious_graph_is_a_user_error_and_the_server_keeps_serving(
    service: ServiceClient,
) -> None:
    with pytest.raises(
        RequestFailedError, match=r"'os\.system' is not an allowed function"
    ) as info:
        service.holder.run_sync(upload(service, evil_graph()), timeout=60)
    assert info.value.category == "user"
    graph = evil_graph()
    graph["nodes"][1] = {
        "op": "call_function",
        "name": "boom",
        "target": "getattr",
        "args": [{"ref": "logprobs"}, "__class__"],
    }
    with pytest.raises(RequestFailedError, match="getattr of '__class__' is not allowed"):
        service.holder.run_sync(upload(service, graph), timeout=60)
    handle = service.create_custom_loss(ratio_loss, RANKS).result(60)
    output = trainer(service).forward_backward_custom(batch(), handle).result(120)
    assert output.metrics["loss:sum"] != 0.0


@pytest.fixture
def official(local_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    tinker = pytest.importorskip("tinker")
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    client = tinker.ServiceClient(base_url=local_server, api_key="tml-local-test")
    yield client
    client.close("success")


def test_the_official_client_uploads_and_trains_with_a_custom_loss(official: Any) -> None:
    import tinker

    handle = official.create_custom_loss(ratio_loss, RANKS).result(60)
    assert handle.loss_id is not None
    training = official.create_lora_training_client(base_model=MODEL, rank=4, seed=7).result(120)
    data = batch(tinker.types)
    output = training.forward_backward_custom(data, handle).result(120)
    assert set(output.metrics) >= {"loss:sum", "custom/ratio:mean", "custom/lp:sum"}
    assert len(output.loss_fn_outputs) == len(data)
