"""TrainingClient against the fake service: seq_id order, chunking and recombination,
optimizer steps, checkpoints, sampling clients and poisoning after a failure."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import pytest
from fake_tinker import BASE_MODEL, LOGPROB, SESSION_ID, FakeTinker

from pristine.futures import RequestFailedError
from tinkex import types
from tinkex.clients.future import APIFuture
from tinkex.clients.service import ServiceClient
from tinkex.clients.training import PoisonedClientError, TrainingClient

MODEL_ID = f"{SESSION_ID}:train:0"


def datum(tokens: int = 3, weight: float = 1.0) -> types.Datum:
    return types.Datum(
        model_input=types.ModelInput.from_ints(list(range(tokens))),
        loss_fn_inputs={
            "target_tokens": list(range(1, tokens + 1)),
            "weights": [weight] * tokens,
        },
    )


@pytest.fixture
def training(service_client: ServiceClient) -> TrainingClient:
    return service_client.create_lora_training_client(BASE_MODEL, rank=8).result(10)


def test_create_lora_training_client_creates_session_then_model(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    assert training.model_id == MODEL_ID
    endpoints = [r.endpoint for r in fake_tinker.requests]
    assert endpoints[:4] == [
        "client/config",
        "client/dynamic_config",
        "create_session",
        "create_model",
    ]
    (create,) = fake_tinker.bodies("create_model")
    assert create["lora_config"]["rank"] == 8
    assert create["model_seq_id"] == 0
    assert create["optimizer_config"] == {"type": "adamw"}
    assert all(r.headers.get("X-Api-Key") for r in fake_tinker.requests)


def test_requests_carry_seq_ids_in_call_order(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    futures: list[APIFuture[object]] = []
    for _ in range(5):
        futures.append(training.forward_backward([datum()], "cross_entropy"))  # type: ignore[arg-type]
        futures.append(training.optim_step(types.AdamParams(learning_rate=1e-3)))  # type: ignore[arg-type]
    for future in futures:
        future.result(10)
    sent = [
        r.body["seq_id"]
        for r in fake_tinker.requests
        if r.endpoint in ("forward_backward", "optim_step")
    ]
    assert sent == list(range(1, 11))


def test_forward_backward_is_chunked_by_count_and_recombined(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    fake_tinker.config["fwdbwd_max_chunk_len"] = 2
    training.holder._config = types.ClientConfigResponse(fwdbwd_max_chunk_len=2)
    data = [datum(tokens=n + 1) for n in range(5)]
    result = training.forward_backward(data, "cross_entropy").result(10)
    chunks = fake_tinker.bodies("forward_backward")
    assert [len(c["forward_backward_input"]["data"]) for c in chunks] != []
    assert sorted(c["seq_id"] for c in chunks) == [1, 2, 3]
    assert sum(len(c["forward_backward_input"]["data"]) for c in chunks) == 5
    assert [len(o["logprobs"].data) for o in result.loss_fn_outputs] == [1, 2, 3, 4, 5]
    assert result.metrics["loss:sum"] == pytest.approx(-LOGPROB * 15)
    assert result.metrics["seq:max"] == 3.0
    next_step = training.optim_step(types.AdamParams()).result(10)
    assert next_step.metrics == {"step": 4.0}


def test_forward_backward_is_chunked_by_estimated_bytes(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    training.holder._config = types.ClientConfigResponse(
        fwdbwd_max_chunk_bytes_count=1, parallel_fwdbwd_chunks=False
    )
    training.forward_backward([datum(), datum(), datum()], "cross_entropy").result(10)
    assert [c["seq_id"] for c in fake_tinker.bodies("forward_backward")] == [1, 2, 3]


def test_forward_sends_forward_only_and_compresses_when_asked(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    training.holder._config = types.ClientConfigResponse(proto_compress_fwdbwd=True)
    result = training.forward([datum()], "cross_entropy", {"clip": 0.2}).result(10)
    (body,) = fake_tinker.bodies("forward_backward")
    assert body["forward_only"] is True
    assert body["forward_backward_input"]["loss_fn_config"] == {"clip": 0.2}
    (request,) = [r for r in fake_tinker.requests if r.endpoint == "forward_backward"]
    assert request.headers["Content-Encoding"] == "zstd"
    assert result.loss_fn_outputs[0]["logprobs"].data == [LOGPROB] * 3


def test_empty_data_is_refused_before_sending(training: TrainingClient) -> None:
    with pytest.raises(ValueError, match="data is empty"):
        training.forward_backward([], "cross_entropy")


def test_optim_step_takes_adam_or_dimuon_but_not_both(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    training.optim_step(adam_params=types.AdamParams(learning_rate=0.1)).result(10)
    training.optim_step(types.DimuonParams(learning_rate=0.2)).result(10)
    first, second = fake_tinker.bodies("optim_step")
    assert first["adam_params"]["learning_rate"] == 0.1
    assert second["optimizer_params"]["type"] == "dimuon"
    with pytest.raises(ValueError, match="exactly one"):
        training.optim_step()
    with pytest.raises(ValueError, match="exactly one"):
        training.optim_step(types.AdamParams(), adam_params=types.AdamParams())


def test_checkpoints_round_trip(training: TrainingClient, fake_tinker: FakeTinker) -> None:
    saved = training.save_state("step-1", ttl_seconds=60).result(10)
    assert saved.path == f"tinker://{MODEL_ID}/step-1"
    sampler = training.save_weights_for_sampler("s1").result(10)
    assert sampler.path.endswith("/sampler_weights/s1")
    external = training.save_weights_external("hf-1").result(10)
    assert external.path == "hf://hf-1"
    loaded = training.load_state(saved.path).result(10)
    assert loaded.path == saved.path
    training.load_state_with_optimizer(saved.path).result(10)
    loads = fake_tinker.bodies("load_weights")
    assert [b["optimizer"] for b in loads] == [False, True]
    assert [b["seq_id"] for b in loads] == [4, 5]


def test_ephemeral_sampling_client_uses_a_new_sampling_session(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    sampling = training.save_weights_and_get_sampling_client().result(10)
    (body,) = fake_tinker.bodies("save_weights_for_sampler")
    assert body.get("path") is None
    assert body["sampling_session_seq_id"] == 0
    assert sampling.sampling_session_id == f"{SESSION_ID}:sample:0"
    assert sampling.get_base_model() == BASE_MODEL


def test_named_sampling_client_goes_through_saved_weights(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    sampling = training.save_weights_and_get_sampling_client("named").result(10)
    (session,) = fake_tinker.bodies("create_sampling_session")
    assert session["model_path"].endswith("/sampler_weights/named")
    assert sampling.sampling_session_id.startswith(SESSION_ID)
    other = training.create_sampling_client(session["model_path"]).result(10)
    assert other.sampling_session_id != sampling.sampling_session_id


def test_a_failed_request_poisons_the_client(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    fake_tinker.fail("optim_step", 400)
    failed = training.optim_step(types.AdamParams())
    later = training.forward_backward([datum()], "cross_entropy")
    with pytest.raises(Exception, match="400"):
        failed.result(10)
    with pytest.raises(PoisonedClientError, match="create a new TrainingClient"):
        later.result(10)


def test_a_failed_future_is_reported_with_the_server_error(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    def refuse(body: dict[str, object]) -> dict[str, object]:
        raise ValueError("bad loss config")

    fake_tinker.respond("forward_backward", refuse)
    with pytest.raises(RequestFailedError, match="bad loss config"):
        training.forward_backward([datum()], "cross_entropy").result(10)


def test_get_info_and_console_url(training: TrainingClient) -> None:
    info = training.get_info()
    assert info.model_id == MODEL_ID
    assert MODEL_ID in training.get_console_url()
    training.get_telemetry()


@pytest.mark.anyio
async def test_async_twins_from_a_running_loop(training: TrainingClient) -> None:
    future = await training.forward_backward_async([datum()], "cross_entropy")
    step = await training.optim_step_async(types.AdamParams())
    assert (await future).metrics["loss:sum"] == pytest.approx(-LOGPROB * 3)
    assert (await step).metrics == {"step": 2.0}
    info = await training.get_info_async()
    assert info.model_id == MODEL_ID


@pytest.mark.anyio
async def test_every_async_twin(training: TrainingClient, fake_tinker: FakeTinker) -> None:
    forward = await training.forward_async([datum()], "cross_entropy")
    custom = await training.forward_backward_custom_async(
        [datum()], lambda data, logprobs: (logprobs[0].sum(), {})
    )
    saved = await training.save_state_async("a")
    loaded = await training.load_state_async("tinker://x")
    loaded_full = await training.load_state_with_optimizer_async("tinker://x")
    sampler = await training.save_weights_for_sampler_async("s")
    external = await training.save_weights_external_async("e")
    for future in (forward, custom, saved, loaded, loaded_full, sampler, external):
        await future
    sampling = await training.create_sampling_client_async((await sampler).path)
    ephemeral = await training.save_weights_and_get_sampling_client_async()
    assert sampling.sampling_session_id != ephemeral.sampling_session_id
    sent = [r.body["seq_id"] for r in fake_tinker.requests if "seq_id" in r.body]
    assert sent == sorted(sent)


def test_protobuf_results_are_decoded(training: TrainingClient, fake_tinker: FakeTinker) -> None:
    fake_tinker.protobuf_results = True
    result = training.forward_backward([datum(), datum(2)], "cross_entropy").result(10)
    assert [o["logprobs"].data for o in result.loss_fn_outputs] == [[LOGPROB] * 3, [LOGPROB] * 2]


@pytest.mark.parametrize(
    ("endpoint", "call"),
    [
        ("save_weights_for_sampler", lambda t: t.save_weights_for_sampler("x")),
        ("save_weights_external", lambda t: t.save_weights_external("x")),
        ("save_weights_for_sampler", lambda t: t.save_weights_and_get_sampling_client()),
    ],
)
def test_answers_without_a_path_are_reported(
    training: TrainingClient, fake_tinker: FakeTinker, endpoint: str, call: Any
) -> None:
    fake_tinker.respond(endpoint, lambda body: {})
    with pytest.raises(ValueError, match="answered without"):
        call(training).result(10)


def test_a_model_without_a_name_cannot_give_a_sampler(
    service_client: ServiceClient, fake_tinker: FakeTinker
) -> None:
    fake_tinker.model_name = None
    training = service_client.create_lora_training_client(BASE_MODEL).result(10)
    with pytest.raises(ValueError, match="no base model name"):
        training.save_weights_and_get_sampling_client().result(10)


def test_get_tokenizer_loads_offline(
    service_client: ServiceClient, fake_tinker: FakeTinker
) -> None:
    fake_tinker.model_name = "tinkex/tiny-llama"
    training = service_client.create_lora_training_client("tinkex/tiny-llama").result(10)
    tokenizer = training.get_tokenizer()
    assert tokenizer.decode(tokenizer.encode("hello")) == "hello"


def test_concurrent_submissions_from_threads_arrive_in_seq_id_order(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    start = threading.Barrier(4)

    def submit(count: int) -> list[APIFuture[Any]]:
        start.wait()
        futures: list[APIFuture[Any]] = []
        for _ in range(count):
            futures.append(training.forward_backward([datum()], "cross_entropy"))
            futures.append(training.optim_step(types.AdamParams()))
        return futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(submit, [5, 5, 5, 5]))
    for future in [f for batch in batches for f in batch]:
        future.result(10)
    arrived = [
        r.body["seq_id"]
        for r in fake_tinker.requests
        if r.endpoint in ("forward_backward", "optim_step")
    ]
    assert arrived == list(range(1, 41))


def test_cancelling_a_queued_request_poisons_instead_of_hanging(
    training: TrainingClient, fake_tinker: FakeTinker
) -> None:
    release = threading.Event()

    def slow_step(body: dict[str, Any]) -> dict[str, Any]:
        release.wait(10)
        return {"metrics": {}}

    fake_tinker.respond("optim_step", slow_step)
    first = training.optim_step(types.AdamParams())
    fake_tinker.wait_for("optim_step", 1)
    queued = training.forward_backward([datum()], "cross_entropy")
    assert queued.cancel()
    release.set()
    first.result(10)
    with pytest.raises(PoisonedClientError):
        training.optim_step(types.AdamParams()).result(10)
    assert fake_tinker.bodies("forward_backward") == []
