"""Weights leaving a training run: external exports, copies, and signed file downloads.

- `save_weights_external` (a future, in the model's `seq_id` order) writes the adapter as a
  PEFT directory, the external format of a LoRA model, as `tinker://.../external_weights/<name>`.
- `copy_weights` copies a readable checkpoint into a new run of a new session in the
  destination project (or into the given `session_id`/`model_seq_id` slot); the copy keeps the
  source's kind and name. The idempotency key names the new session, so retries of one call
  (which share the key) return the first copy instead of making another.
- `external_weights_urls` answers one signed URL per file; the files route serves them
  without an API key (see `signing`), since the official CLI downloads them with a bare
  `urlopen`.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from tinkex.local.app.access import owned_run, readable_checkpoint
from tinkex.local.app.auth import SIGNED_PREFIX
from tinkex.local.app.http import ApiError, guarded, json_response, parse_body
from tinkex.local.app.runtime import Runtime, owner_of_request, runtime_of
from tinkex.local.app.work import future_response, submit_training
from tinkex.local.engine.errors import UserInputError
from tinkex.local.futures import Result
from tinkex.local.store import CheckpointRecord, NotFoundError, TinkerPath, training_run_id
from tinkex.local.store.names import checkpoint_kind_for_segment, validate_name
from tinkex.types import (
    CopyWeightsRequest,
    CopyWeightsResponse,
    ExternalWeightsUrlsResponse,
    SaveWeightsExternalRequest,
)

__all__ = ["routes"]

URL_LIFETIME = timedelta(hours=1)
_FILE = "/checkpoint_files/{run_id}/{kind}/{name}/{file}"
_IDEMPOTENCY_HEADER = "x-idempotency-key"


async def save_weights_external(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, SaveWeightsExternalRequest, runtime.config.max_body_bytes)

    def work() -> Result:
        # Refused in the future, not the request, so the seq_id is consumed in order.
        if body.age_encryption_recipients:
            raise UserInputError(
                "age_encryption_recipients: encrypted exports are not supported by "
                "tinkex.local; omit the recipients (the files never leave this machine)"
            )
        with runtime.store.checkpoints.writer(
            body.model_id, "external", body.path, ttl_seconds=body.ttl_seconds
        ) as draft:
            runtime.workbench.save_trainer(body.model_id, draft.directory, optimizer=False)
        assert draft.record is not None
        return Result(
            {
                "path": draft.record.tinker_path,
                "size_bytes": draft.record.size_bytes,
                "type": "save_weights_external",
            }
        )

    request_id = submit_training(request, body.model_id, "save_weights_external", body.seq_id, work)
    return future_response(request_id, model_id=body.model_id)


async def copy_weights(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await parse_body(request, CopyWeightsRequest, runtime.config.max_body_bytes)
    owner = owner_of_request(request)
    source = readable_checkpoint(runtime.store, owner, body.source_path)
    if (body.session_id is None) != (body.model_seq_id is None):
        raise ApiError(
            400,
            "session_id: pass session_id and model_seq_id together, or neither (then the "
            "copy gets a new session in destination_project_id)",
            "session_id",
        )
    if body.session_id is not None and body.model_seq_id is not None:
        runtime.store.sessions.get(body.session_id)
        destination = training_run_id(body.session_id, body.model_seq_id)
    else:
        key = request.headers.get(_IDEMPOTENCY_HEADER) or f"{time.time_ns()}"
        destination = _copy_session(runtime, owner, body.destination_project_id, key)
    path = await anyio.to_thread.run_sync(
        _copy, runtime, owner, source, destination, body.ttl_seconds
    )
    return json_response(CopyWeightsResponse(tinker_path=path))


def _copy_session(runtime: Runtime, owner: str, project_id: str | None, key: str) -> str:
    """The run that holds a copy: `<session>:train:0` of a session named after the call."""
    digest = hashlib.sha256(f"{owner}\n{key}".encode()).hexdigest()[:32]
    session_id = f"session-copy-{digest}"
    try:
        runtime.store.sessions.get(session_id)
    except NotFoundError:
        runtime.store.sessions.create(
            session_id,
            sdk_version="tinkex.local",
            owner=owner,
            project_id=project_id,
            display_name="copy_weights",
        )
    return training_run_id(session_id, 0)


def _copy(
    runtime: Runtime,
    owner: str,
    source: CheckpointRecord,
    destination: str,
    ttl_seconds: int | None,
) -> str:
    """Copy `source`'s files into run `destination` (created like the source's run if
    missing); an identical copy already there is returned as it is."""
    store = runtime.store
    target = TinkerPath.build(destination, source.kind, source.path.name)
    try:
        existing = store.checkpoints.get(str(target))
    except NotFoundError:
        existing = None
    if existing is not None and existing.sha256 == source.sha256:
        return existing.tinker_path
    try:
        owned_run(store, owner, destination)
    except NotFoundError:
        origin = store.runs.get(source.model_id)
        session_id, _, seq = destination.rpartition(":train:")
        store.runs.create(
            destination,
            session_id=session_id,
            base_model=origin.base_model,
            owner=owner,
            lora=origin.lora,
            model_seq_id=int(seq),
            user_metadata={"copied_from": source.tinker_path},
            optimizer=origin.optimizer,
        )
    store.checkpoints.record_read(source.tinker_path, reader=owner, purpose="copy_weights")
    with store.checkpoints.writer(
        destination, source.kind, source.path.name, ttl_seconds=ttl_seconds, overwrite=True
    ) as draft:
        shutil.copytree(store.data_dir / source.directory, draft.directory, dirs_exist_ok=True)
    assert draft.record is not None
    return draft.record.tinker_path


async def external_weights_urls(request: Request) -> Response:
    """One signed URL per file of the checkpoint, served by this server."""
    runtime = runtime_of(request)
    params = request.path_params
    owned_run(runtime.store, owner_of_request(request), params["run_id"])
    kind = checkpoint_kind_for_segment(params["kind"], "checkpoint_id")
    record = runtime.store.checkpoints.get(
        str(TinkerPath.build(params["run_id"], kind, params["name"]))
    )
    directory = runtime.store.data_dir / record.directory
    expires = datetime.now(UTC) + URL_LIFETIME
    base = str(request.base_url).rstrip("/")
    urls = {}
    for name in _files(directory):
        path = f"{SIGNED_PREFIX}{params['run_id']}/{params['kind']}/{params['name']}/{name}"
        query = runtime.signer.query(path, int(expires.timestamp()))
        urls[name] = f"{base}{path}?{query}"
    return json_response(ExternalWeightsUrlsResponse(urls=urls, expires=expires))


async def checkpoint_file(request: Request) -> Response:
    """A file of a checkpoint, for a URL signed by `external_weights_urls`."""
    runtime = runtime_of(request)
    query = request.query_params
    path = request.url.path
    if not runtime.signer.valid(path, query.get("expires"), query.get("signature"), time.time()):
        raise ApiError(
            403, "download URL: bad or expired signature; ask get_external_weights_urls again"
        )
    params = request.path_params
    kind = checkpoint_kind_for_segment(params["kind"], "checkpoint_id")
    tinker_path = str(TinkerPath.build(params["run_id"], kind, params["name"]))
    directory = runtime.store.checkpoints.directory(tinker_path)
    name = validate_name("file", params["file"])
    if name not in _files(directory):
        raise NotFoundError("checkpoint file", f"{tinker_path}/{name}")
    runtime.store.checkpoints.record_read(tinker_path, reader="signed-url", purpose="download")
    return FileResponse(directory / name, filename=name)


def _files(directory: Path) -> list[str]:
    """The checkpoint's files (a checkpoint directory is flat)."""
    return sorted(path.name for path in directory.iterdir() if path.is_file())


CHECKPOINT = "/training_runs/{run_id}/checkpoints/{kind}/{name}"

routes = [
    Route("/save_weights_external", guarded(save_weights_external), methods=["POST"]),
    Route("/copy_weights", guarded(copy_weights), methods=["POST"]),
    Route(f"{CHECKPOINT}/external_weights_urls", guarded(external_weights_urls), methods=["GET"]),
    Route(_FILE, guarded(checkpoint_file), methods=["GET"]),
]
