"""Training: create and describe models, forward/backward, optimizer steps, save and load.

Every training request of a model runs in `seq_id` order on that model's queue lane; the
request that creates the model (`create_model`, or `load_weights` without a model id) is the
lane's seq 0. Answers are futures; failures are failed futures (category `user` for bad input).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tinkex.local.app.access import owned_run, readable_checkpoint_dir
from tinkex.local.app.convert import (
    engine_data,
    forward_backward_output,
    lora_spec,
    optimizer_config,
    optimizer_kind,
    step_config,
)
from tinkex.local.app.custom_loss_routes import custom_loss_for
from tinkex.local.app.http import (
    ApiError,
    guarded,
    json_response,
    parse_body,
    parse_json,
    read_body,
)
from tinkex.local.app.provenance import recorded_inputs
from tinkex.local.app.results import proto_result
from tinkex.local.app.runtime import owner_of_request, runtime_of
from tinkex.local.app.work import future_response, submit_training
from tinkex.local.engine.custom_graph import run_compiled_loss
from tinkex.local.engine.errors import UserInputError
from tinkex.local.engine.optimizers import check_optimizer_kind
from tinkex.local.futures import PROTOBUF_CONTENT_TYPE, Result
from tinkex.local.queue import FIRST_SEQ_ID
from tinkex.local.store import LoraSettings, training_run_id
from tinkex.proto import decode_forward_backward_request
from tinkex.types import (
    CreateModelRequest,
    ForwardBackwardInput,
    ForwardBackwardRequest,
    ForwardRequest,
    GetInfoRequest,
    GetInfoResponse,
    LoadWeightsRequest,
    OptimStepRequest,
    SaveWeightsForSamplerRequest,
    SaveWeightsRequest,
)

__all__ = ["routes"]


async def create_model(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, CreateModelRequest, runtime.config.max_body_bytes)
    runtime.store.sessions.get(body.session_id)
    runtime.workbench.check_model(body.base_model)
    model_id = training_run_id(body.session_id, body.model_seq_id)
    spec = lora_spec(body.lora_config)
    optimizer = optimizer_kind(body.optimizer_config)
    owner = owner_of_request(request)

    def work() -> Result:
        runtime.workbench.create_trainer(model_id, body.base_model, spec, optimizer)
        runtime.store.runs.create(
            model_id,
            session_id=body.session_id,
            base_model=body.base_model,
            owner=owner,
            lora=LoraSettings(
                rank=spec.rank,
                seed=spec.seed,
                train_mlp=spec.train_mlp,
                train_attn=spec.train_attn,
                train_unembed=spec.train_unembed,
            ),
            model_seq_id=body.model_seq_id,
            user_metadata=body.user_metadata,
            optimizer=optimizer,
        )
        return Result({"model_id": model_id, "type": "create_model"})

    request_id = submit_training(
        request, model_id, "create_model", FIRST_SEQ_ID, work, new_model=True
    )
    return future_response(request_id, model_id=model_id)


async def get_info(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, GetInfoRequest, runtime.config.max_body_bytes)
    run = owned_run(runtime.store, owner_of_request(request), body.model_id)
    return json_response(
        GetInfoResponse(
            type="get_info",
            model_data=runtime.workbench.model_data(run.base_model),
            model_id=run.model_id,
            is_lora=run.is_lora,
            lora_rank=run.lora.rank,
            model_name=run.base_model,
            optimizer_config=optimizer_config(run.optimizer),
        )
    )


async def forward_backward(request: Request) -> Response:
    """Protobuf from the 0.38 client (`forward_only` picks forward); JSON from older ones."""
    runtime = runtime_of(request)
    body = await read_body(request, runtime.config.max_body_bytes)
    content_type = request.headers.get("content-type", "")
    backward = True
    if PROTOBUF_CONTENT_TYPE in content_type.lower():
        decoded = decode_forward_backward_request(
            body, content_encoding=request.headers.get("content-encoding")
        )
        fb, backward = decoded.request, not decoded.forward_only
    else:
        fb = parse_json(body, ForwardBackwardRequest)
    return _forward(request, fb.model_id, fb.seq_id, fb.forward_backward_input, backward=backward)


async def forward(request: Request) -> Response:
    """The pre-0.38 JSON forward endpoint."""
    runtime = runtime_of(request)
    body = await parse_body(request, ForwardRequest, runtime.config.max_body_bytes)
    return _forward(request, body.model_id, body.seq_id, body.forward_input, backward=False)


def _forward(
    request: Request,
    model_id: str,
    seq_id: int | None,
    fb_input: ForwardBackwardInput,
    *,
    backward: bool,
) -> Response:
    runtime = runtime_of(request)
    data = engine_data(fb_input.data)
    config = fb_input.loss_fn_config
    owner = owner_of_request(request)
    model = owned_run(runtime.store, owner, model_id)
    tokens = sum(len(datum.tokens) for datum in data)
    custom = custom_loss_for(request, model_id, fb_input)

    def work() -> Result:
        trainer = runtime.workbench.trainer(model_id)
        run = trainer.forward_backward if backward else trainer.forward
        output = (
            run(recorded_inputs(data, fb_input, runtime.sequences), fb_input.loss_fn, config)
            if custom is None
            else run_compiled_loss(trainer, data, custom, backward=backward)
        )
        runtime.store.usage.record(
            owner, "training", tokens, session_id=model.session_id, base_model=model.base_model
        )
        return proto_result(forward_backward_output(output))

    kind = "forward_backward" if backward else "forward"
    return future_response(
        submit_training(request, model_id, kind, seq_id, work, run=model), model_id=model_id
    )


async def optim_step(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, OptimStepRequest, runtime.config.max_body_bytes)

    def work() -> Result:
        # Bad params fail the future (category user) rather than the request: a refused
        # submission would leave its seq_id a gap that stalls the model's later requests.
        step = step_config(body.optim_params)
        metrics = runtime.workbench.trainer(body.model_id).optim_step(step)
        return Result({"metrics": metrics, "type": "optim_step"})

    request_id = submit_training(request, body.model_id, "optim_step", body.seq_id, work)
    return future_response(request_id, model_id=body.model_id)


async def save_weights(request: Request) -> Response:
    """A training checkpoint: adapter plus AdamW state (`save_state`)."""
    runtime = runtime_of(request)
    body = await parse_body(request, SaveWeightsRequest, runtime.config.max_body_bytes)
    name = body.path or _default_name(body.seq_id)

    def work() -> Result:
        with runtime.store.checkpoints.writer(
            body.model_id,
            "training",
            name,
            ttl_seconds=body.ttl_seconds,
            user_metadata=body.user_metadata,
            overwrite=body.overwrite,
        ) as draft:
            runtime.workbench.save_trainer(body.model_id, draft.directory, optimizer=True)
        assert draft.record is not None
        return Result({"path": draft.record.tinker_path, "type": "save_weights"})

    request_id = submit_training(request, body.model_id, "save_weights", body.seq_id, work)
    return future_response(request_id, model_id=body.model_id)


async def save_weights_for_sampler(request: Request) -> Response:
    """Named: a sampler checkpoint (`tinker://.../sampler_weights/<name>`). Unnamed with a
    `sampling_session_seq_id`: an in-memory snapshot served as a new sampling session."""
    runtime = runtime_of(request)
    body = await parse_body(request, SaveWeightsForSamplerRequest, runtime.config.max_body_bytes)
    run = owned_run(runtime.store, owner_of_request(request), body.model_id)
    if body.path is None and body.sampling_session_seq_id is None:
        raise ApiError(
            400,
            "path: missing; pass a checkpoint name, or a sampling_session_seq_id for an "
            "ephemeral sampler",
            "path",
        )

    def named(name: str) -> Result:
        with runtime.store.checkpoints.writer(
            body.model_id,
            "sampler",
            name,
            ttl_seconds=body.ttl_seconds,
            user_metadata=body.user_metadata,
        ) as draft:
            runtime.workbench.save_trainer(body.model_id, draft.directory, optimizer=False)
        assert draft.record is not None
        return Result({"path": draft.record.tinker_path, "type": "save_weights_for_sampler"})

    def ephemeral(seq: int) -> Result:
        sampler_id = f"{run.session_id}:sample:{seq}"
        runtime.workbench.snapshot_sampler(sampler_id, body.model_id)
        runtime.store.samplers.create(
            sampler_id,
            session_id=run.session_id,
            base_model=run.base_model,
            sampling_session_seq_id=seq,
        )
        return Result({"sampling_session_id": sampler_id, "type": "save_weights_for_sampler"})

    def work() -> Result:
        if body.path is not None:
            return named(body.path)
        assert body.sampling_session_seq_id is not None
        return ephemeral(body.sampling_session_seq_id)

    request_id = submit_training(
        request, body.model_id, "save_weights_for_sampler", body.seq_id, work, run=run
    )
    return future_response(request_id, model_id=body.model_id)


async def load_weights(request: Request) -> Response:
    """Into an existing model (`model_id` + `seq_id`), or as a new model (`session_id` +
    `model_seq_id`, base model recovered from the checkpoint when not given)."""
    runtime = runtime_of(request)
    body = await parse_body(request, LoadWeightsRequest, runtime.config.max_body_bytes)
    if body.model_id is not None:
        return _load_into(request, body, body.model_id)
    if body.session_id is None or body.model_seq_id is None:
        raise ApiError(
            400,
            "model_id: missing; pass model_id (load into a model) or session_id and "
            "model_seq_id (load as a new model)",
            "model_id",
        )
    return _load_new(request, body, body.session_id, body.model_seq_id)


def _load_into(request: Request, body: LoadWeightsRequest, model_id: str) -> Response:
    runtime, owner = runtime_of(request), owner_of_request(request)

    def work() -> Result:
        directory = readable_checkpoint_dir(runtime.store, owner, body.path)
        run = runtime.store.runs.get(model_id)
        runtime.workbench.load_trainer(
            model_id,
            run.base_model,
            directory,
            with_optimizer=body.optimizer,
            optimizer=check_optimizer_kind(run.optimizer),
        )
        return Result({"path": body.path, "model_id": model_id, "type": "load_weights"})

    request_id = submit_training(request, model_id, "load_weights", body.seq_id, work)
    return future_response(request_id, model_id=model_id)


def _load_new(
    request: Request, body: LoadWeightsRequest, session_id: str, model_seq_id: int
) -> Response:
    runtime, owner = runtime_of(request), owner_of_request(request)
    runtime.store.sessions.get(session_id)
    model_id = training_run_id(session_id, model_seq_id)
    if body.base_model is not None:
        runtime.workbench.check_model(body.base_model)
    # With the optimizer state, the family is the checkpoint's; otherwise the request's.
    optimizer = None if body.optimizer else optimizer_kind(body.optimizer_config)

    def work() -> Result:
        directory = readable_checkpoint_dir(runtime.store, owner, body.path)
        base_model = body.base_model or runtime.workbench.checkpoint_base_model(directory)
        family = runtime.workbench.load_trainer(
            model_id, base_model, directory, with_optimizer=body.optimizer, optimizer=optimizer
        )
        source = runtime.store.runs.get(runtime.store.checkpoints.get(body.path).model_id)
        runtime.store.runs.create(
            model_id,
            session_id=session_id,
            base_model=base_model,
            owner=owner,
            lora=source.lora,
            model_seq_id=model_seq_id,
            user_metadata=body.user_metadata,
            optimizer=family,
        )
        return Result({"path": body.path, "model_id": model_id, "type": "load_weights"})

    request_id = submit_training(
        request, model_id, "load_weights", FIRST_SEQ_ID, work, new_model=True
    )
    return future_response(request_id, model_id=model_id)


def _default_name(seq_id: int | None) -> str:
    if seq_id is None:
        raise UserInputError("path: missing; name the checkpoint (e.g. 'step-100')")
    return f"seq-{seq_id}"


routes = [
    Route("/create_model", guarded(create_model), methods=["POST"]),
    Route("/get_info", guarded(get_info), methods=["POST"]),
    Route("/forward_backward", guarded(forward_backward), methods=["POST"]),
    Route("/forward", guarded(forward), methods=["POST"]),
    Route("/optim_step", guarded(optim_step), methods=["POST"]),
    Route("/save_weights", guarded(save_weights), methods=["POST"]),
    Route("/save_weights_for_sampler", guarded(save_weights_for_sampler), methods=["POST"]),
    Route("/load_weights", guarded(load_weights), methods=["POST"]),
]
