"""`RestClient`: training runs, checkpoints, sessions and samplers over the REST endpoints.

Every method returns an `APIFuture` (call `.result()` or `await` it) and has the official
client's name, parameters and defaults; the `_async` twins return the value itself. Calls go
through the pristine pipeline (bounded retries, finite timeouts, redacted errors) on the
holder's loop thread. On top of the official API, `iter_training_runs`, `iter_user_checkpoints`
and `iter_sessions` (and their `_async` twins) walk every page.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pristine.errors import NotFoundError
from pristine.sync import LoopBoundPipeline
from tinkex import types

if TYPE_CHECKING:
    from tinkex.clients._holder import ClientHolder
    from tinkex.clients.admin import AdminClient
    from tinkex.clients.future import APIFuture

__all__ = ["AccessScope", "RestClient", "RestCore", "RestHolder"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
AccessScope = Literal["owned", "accessible"]

TRACE_EXPORT_POLL_INTERVAL_S = 5.0
TRACE_EXPORT_DEADLINE_S = 30 * 60.0
"""A trace export that is not ready after this long fails instead of polling forever."""


def _checkpoint_params(tinker_path: str) -> dict[str, str]:
    """Path params of a checkpoint endpoint, from `tinker://<run>/<kind>/<name>`."""
    parsed = types.ParsedCheckpointTinkerPath.from_tinker_path(tinker_path)
    kind, name = parsed.checkpoint_id.split("/", 1)
    return {
        "training_run_id": parsed.training_run_id,
        "checkpoint_kind": kind,
        "checkpoint_name": name,
    }


def _split_checkpoint_id(training_run_id: str, checkpoint_id: str) -> dict[str, str]:
    kind, slash, name = checkpoint_id.partition("/")
    if not slash or not name:
        raise ValueError(
            f"checkpoint_id {checkpoint_id!r} must look like '<kind>/<name>', e.g. "
            "'weights/step-10' (kind: weights, sampler_weights or external_weights)"
        )
    return {"training_run_id": training_run_id, "checkpoint_kind": kind, "checkpoint_name": name}


def whoami_from_jwt(jwt: str) -> types.WhoamiResponse:
    """The principal named by a JWT's claims (the signature is the server's business)."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return types.WhoamiResponse(
            user_urn=claims["sub"],
            org_urn=f"tml:organization:{claims['org_id']}",
            email=claims.get("email") or None,
        )
    except (IndexError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"the server's auth token is not a JWT with sub/org_id claims: {error}"
        ) from error


def _check_page_size(page_size: int) -> None:
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")


class RestHolder(Protocol):
    """What the REST clients need from the client core (`tinkex.clients._holder`)."""

    @property
    def pipeline(self) -> LoopBoundPipeline: ...

    def run_coroutine_threadsafe(self, coro: Coroutine[Any, Any, T]) -> APIFuture[T]:
        """Run `coro` on the core's loop thread; an `APIFuture` of its result."""
        ...


class RestCore:
    """What `RestClient` and `AdminClient` share: a holder and one way to call endpoints.

    Given no holder, the client opens its own session-less core (connections and a loop
    thread) and `close()` releases it; a holder handed over stays its owner's to close.
    """

    def __init__(
        self,
        _holder: RestHolder | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
    ) -> None:
        self._own_core: ClientHolder | None = None
        self._closed = False
        if _holder is not None:
            if base_url is not None or api_key is not None:
                raise ValueError(
                    f"{type(self).__name__} takes either a holder or base_url/api_key, not "
                    "both: the holder already carries its own base URL and credentials"
                )
            self.holder: RestHolder = _holder
            return
        from tinkex.clients._holder import ClientHolder

        self._own_core = ClientHolder.sessionless(base_url=base_url, api_key=api_key)
        self.holder = self._own_core

    def close(self) -> None:
        """Release the connections and loop thread this client opened (idempotent); later
        calls raise. A client sharing a `ServiceClient`'s holder leaves that to its owner."""
        if self._closed:
            return
        self._closed = True
        if self._own_core is not None:
            self._own_core.close()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> APIFuture[T]:
        if self._closed:
            coro.close()
            raise RuntimeError(
                f"this {type(self).__name__} is closed; create a new {type(self).__name__}"
            )
        return self.holder.run_coroutine_threadsafe(coro)

    async def _call(
        self,
        endpoint_id: str,
        payload: object = None,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Call an endpoint through the pipeline; query values that are None are left out."""
        return await self.holder.pipeline.call(
            endpoint_id,
            payload,
            path_params=path_params,
            query={k: v for k, v in (query or {}).items() if v is not None},
            headers=headers,
            idempotency_key=idempotency_key,
        )

    async def _call_none(
        self,
        endpoint_id: str,
        payload: object = None,
        *,
        path_params: Mapping[str, str],
    ) -> None:
        await self._call(endpoint_id, payload, path_params=path_params)


class RestClient(RestCore):
    """REST operations: list and inspect runs, checkpoints, sessions and samplers.

    Construct it directly (`RestClient()`, credentials from the environment) or get one
    from `ServiceClient.create_rest_client()`.
    """

    def _admin_client(self, method: str) -> AdminClient:
        """The AdminClient behind a deprecated admin method kept here for compatibility."""
        from tinkex.clients.admin import AdminClient

        warnings.warn(
            f"RestClient.{method}() is deprecated; use AdminClient().{method}() (constructed "
            "like RestClient)",
            FutureWarning,
            stacklevel=3,
        )
        return AdminClient(self.holder)

    # -- server -------------------------------------------------------------------------------

    def get_server_capabilities(self) -> APIFuture[types.GetServerCapabilitiesResponse]:
        """The models the caller can use and the server's features."""
        return self._submit(self._call("get_server_capabilities"))

    async def get_server_capabilities_async(self) -> types.GetServerCapabilitiesResponse:
        return await self.get_server_capabilities()

    # -- training runs ------------------------------------------------------------------------

    def get_training_run(
        self, training_run_id: str, access_scope: AccessScope = "owned"
    ) -> APIFuture[types.TrainingRun]:
        """One training run, with its latest checkpoints and user metadata."""
        return self._submit(
            self._call(
                "get_training_run",
                path_params={"training_run_id": training_run_id},
                query={"access_scope": access_scope},
            )
        )

    async def get_training_run_async(
        self, training_run_id: str, access_scope: AccessScope = "owned"
    ) -> types.TrainingRun:
        return await self.get_training_run(training_run_id, access_scope)

    def get_training_run_by_tinker_path(
        self, tinker_path: str, access_scope: AccessScope = "owned"
    ) -> APIFuture[types.TrainingRun]:
        """The training run a `tinker://` checkpoint path belongs to."""
        parsed = types.ParsedCheckpointTinkerPath.from_tinker_path(tinker_path)
        return self.get_training_run(parsed.training_run_id, access_scope)

    async def get_training_run_by_tinker_path_async(
        self, tinker_path: str, access_scope: AccessScope = "owned"
    ) -> types.TrainingRun:
        return await self.get_training_run_by_tinker_path(tinker_path, access_scope)

    def get_weights_info_by_tinker_path(
        self, tinker_path: str
    ) -> APIFuture[types.WeightsInfoResponse]:
        """Base model, LoRA settings and optimizer of a checkpoint."""
        request = types.WeightsInfoRequest(tinker_path=tinker_path)
        return self._submit(self._call("weights_info", request))

    async def get_weights_info_by_tinker_path_async(
        self, tinker_path: str
    ) -> types.WeightsInfoResponse:
        return await self.get_weights_info_by_tinker_path(tinker_path)

    def list_training_runs(
        self,
        limit: int = 20,
        offset: int = 0,
        access_scope: AccessScope = "owned",
        project_id: str | None = None,
    ) -> APIFuture[types.TrainingRunsResponse]:
        """One page of training runs; `iter_training_runs` walks them all."""
        query = {
            "limit": limit,
            "offset": offset,
            "access_scope": access_scope,
            "project_id": project_id,
        }
        return self._submit(self._call("list_training_runs", query=query))

    async def list_training_runs_async(
        self,
        limit: int = 20,
        offset: int = 0,
        access_scope: AccessScope = "owned",
        project_id: str | None = None,
    ) -> types.TrainingRunsResponse:
        return await self.list_training_runs(limit, offset, access_scope, project_id)

    # -- checkpoints --------------------------------------------------------------------------

    def list_checkpoints(self, training_run_id: str) -> APIFuture[types.CheckpointsListResponse]:
        """Every checkpoint (training, sampler, external) of a training run."""
        params = {"training_run_id": training_run_id}
        return self._submit(self._call("list_checkpoints", path_params=params))

    async def list_checkpoints_async(self, training_run_id: str) -> types.CheckpointsListResponse:
        return await self.list_checkpoints(training_run_id)

    def list_user_checkpoints(
        self, limit: int = 100, offset: int = 0
    ) -> APIFuture[types.CheckpointsListResponse]:
        """One page of the caller's checkpoints, newest first."""
        query = {"limit": limit, "offset": offset}
        return self._submit(self._call("list_user_checkpoints", query=query))

    async def list_user_checkpoints_async(
        self, limit: int = 100, offset: int = 0
    ) -> types.CheckpointsListResponse:
        return await self.list_user_checkpoints(limit, offset)

    def get_external_weights_urls(
        self, tinker_path: str
    ) -> APIFuture[types.ExternalWeightsUrlsResponse]:
        """Signed download URLs of an `external_weights` checkpoint."""
        params = _checkpoint_params(tinker_path)
        return self._submit(self._call("get_external_weights_urls", path_params=params))

    async def get_external_weights_urls_async(
        self, tinker_path: str
    ) -> types.ExternalWeightsUrlsResponse:
        return await self.get_external_weights_urls(tinker_path)

    def delete_checkpoint(self, training_run_id: str, checkpoint_id: str) -> APIFuture[None]:
        """Delete a checkpoint; `checkpoint_id` is `<kind>/<name>`, e.g. `weights/step-10`."""
        params = _split_checkpoint_id(training_run_id, checkpoint_id)
        return self._submit(self._call_none("delete_checkpoint", path_params=params))

    async def delete_checkpoint_async(self, training_run_id: str, checkpoint_id: str) -> None:
        await self.delete_checkpoint(training_run_id, checkpoint_id)

    def delete_checkpoint_from_tinker_path(self, tinker_path: str) -> APIFuture[None]:
        """Delete the checkpoint at a `tinker://` path."""
        params = _checkpoint_params(tinker_path)
        return self._submit(self._call_none("delete_checkpoint", path_params=params))

    async def delete_checkpoint_from_tinker_path_async(self, tinker_path: str) -> None:
        await self.delete_checkpoint_from_tinker_path(tinker_path)

    def publish_checkpoint_from_tinker_path(self, tinker_path: str) -> APIFuture[None]:
        """Make a checkpoint public."""
        params = _checkpoint_params(tinker_path)
        return self._submit(self._call_none("publish_checkpoint", path_params=params))

    async def publish_checkpoint_from_tinker_path_async(self, tinker_path: str) -> None:
        await self.publish_checkpoint_from_tinker_path(tinker_path)

    def unpublish_checkpoint_from_tinker_path(self, tinker_path: str) -> APIFuture[None]:
        """Make a public checkpoint private again."""
        params = _checkpoint_params(tinker_path)
        return self._submit(self._call_none("unpublish_checkpoint", path_params=params))

    async def unpublish_checkpoint_from_tinker_path_async(self, tinker_path: str) -> None:
        await self.unpublish_checkpoint_from_tinker_path(tinker_path)

    def set_checkpoint_ttl_from_tinker_path(
        self, tinker_path: str, ttl_seconds: int | None
    ) -> APIFuture[None]:
        """Set (3600 s to 10 years) or remove (None) a checkpoint's expiry."""
        params = _checkpoint_params(tinker_path)
        request = types.SetCheckpointTtlRequest(ttl_seconds=ttl_seconds)
        return self._submit(self._call_none("set_checkpoint_ttl", request, path_params=params))

    async def set_checkpoint_ttl_from_tinker_path_async(
        self, tinker_path: str, ttl_seconds: int | None
    ) -> None:
        await self.set_checkpoint_ttl_from_tinker_path(tinker_path, ttl_seconds)

    def copy_weights(
        self,
        path: str,
        destination_project_id: str | None = None,
        *,
        ttl_seconds: int | None = None,
        weights_access_token: str | None = None,
    ) -> APIFuture[str]:
        """Copy a checkpoint into a project (default `$TINKER_PROJECT_ID`); returns its path."""
        project = destination_project_id or os.environ.get("TINKER_PROJECT_ID") or None
        if project is None:
            raise ValueError("copy_weights: pass destination_project_id or set TINKER_PROJECT_ID")
        request = types.CopyWeightsRequest(
            source_path=path, destination_project_id=project, ttl_seconds=ttl_seconds
        )
        headers = (
            {"X-Tinker-Weights-Access-Token": weights_access_token}
            if weights_access_token is not None
            else None
        )
        # One idempotency key for every attempt, so a retried copy is not made twice.
        key = str(uuid.uuid4())

        async def copy() -> str:
            response: types.CopyWeightsResponse = await self._call(
                "copy_weights", request, headers=headers, idempotency_key=key
            )
            logger.info("Copied %s to %s", path, response.tinker_path)
            return response.tinker_path

        return self._submit(copy())

    async def copy_weights_async(
        self,
        path: str,
        destination_project_id: str | None = None,
        *,
        ttl_seconds: int | None = None,
        weights_access_token: str | None = None,
    ) -> str:
        return await self.copy_weights(
            path,
            destination_project_id,
            ttl_seconds=ttl_seconds,
            weights_access_token=weights_access_token,
        )

    # -- sessions and samplers ----------------------------------------------------------------

    def get_session(
        self, session_id: str, access_scope: AccessScope = "owned"
    ) -> APIFuture[types.GetSessionResponse]:
        """The training runs and samplers of a session."""
        return self._submit(
            self._call(
                "get_session",
                path_params={"session_id": session_id},
                query={"access_scope": access_scope},
            )
        )

    async def get_session_async(
        self, session_id: str, access_scope: AccessScope = "owned"
    ) -> types.GetSessionResponse:
        return await self.get_session(session_id, access_scope)

    def list_sessions(
        self, limit: int = 20, offset: int = 0, access_scope: AccessScope = "owned"
    ) -> APIFuture[types.ListSessionsResponse]:
        """One page of session ids; `iter_sessions` walks them all."""
        query = {"limit": limit, "offset": offset, "access_scope": access_scope}
        return self._submit(self._call("list_sessions", query=query))

    async def list_sessions_async(
        self, limit: int = 20, offset: int = 0, access_scope: AccessScope = "owned"
    ) -> types.ListSessionsResponse:
        return await self.list_sessions(limit, offset, access_scope)

    def assign_session_project(self, session_id: str, project_id: str) -> APIFuture[None]:
        """Move a session (its runs and samplers) into a project."""
        request = types.SessionProjectRequest(project_id=project_id)
        params = {"session_id": session_id}
        return self._submit(self._call_none("assign_session_project", request, path_params=params))

    async def assign_session_project_async(self, session_id: str, project_id: str) -> None:
        await self.assign_session_project(session_id, project_id)

    def export_session_trace(self, session_id: str) -> APIFuture[str]:
        """Build a Perfetto trace of a session and return its signed download URL."""
        return self._submit(self._export_session_trace(session_id))

    async def export_session_trace_async(self, session_id: str) -> str:
        return await self.export_session_trace(session_id)

    async def _export_session_trace(self, session_id: str) -> str:
        clock = self.holder.pipeline.context.clock
        started = clock.monotonic()
        params = {"session_id": session_id}
        first_poll = True
        while True:
            response: types.SessionTraceExportResponse = await self._call(
                "export_session_trace", path_params=params
            )
            if response.status == "ready" and response.url is not None:
                return response.url
            if response.status == "failed":
                raise RuntimeError(
                    f"Trace export failed for session {session_id}: {response.error}"
                )
            if first_poll:
                first_poll = False
                logger.warning(
                    "Building trace export for session: %s (this may take a while)", session_id
                )
            if clock.monotonic() - started >= TRACE_EXPORT_DEADLINE_S:
                raise RuntimeError(
                    f"trace export of session {session_id} not ready after "
                    f"{TRACE_EXPORT_DEADLINE_S:.0f} s; call export_session_trace again later"
                )
            await clock.sleep(TRACE_EXPORT_POLL_INTERVAL_S)

    def search_sessions(
        self, request: types.SessionSearchRequest
    ) -> APIFuture[types.SessionSearchResponse]:
        """Search the organization's sessions, newest first (experimental)."""
        return self._submit(self._call("search_sessions", request))

    async def search_sessions_async(
        self, request: types.SessionSearchRequest
    ) -> types.SessionSearchResponse:
        return await self.search_sessions(request)

    def get_sampler(self, sampler_id: str) -> APIFuture[types.GetSamplerResponse]:
        """A sampler's base model and model path."""
        params = {"sampler_id": sampler_id}
        return self._submit(self._call("get_sampler", path_params=params))

    async def get_sampler_async(self, sampler_id: str) -> types.GetSamplerResponse:
        return await self.get_sampler(sampler_id)

    def whoami(self) -> APIFuture[types.WhoamiResponse]:
        """The calling principal: the claims of a JWT exchanged for the credential."""
        return self._submit(self._whoami())

    async def whoami_async(self) -> types.WhoamiResponse:
        return await self.whoami()

    async def _whoami(self) -> types.WhoamiResponse:
        try:
            token: types.AuthTokenResponse = await self._call("auth_token", {})
        except NotFoundError as error:
            raise RuntimeError(
                "whoami needs JWT auth, which this server does not offer (no /auth/token)"
            ) from error
        return whoami_from_jwt(token.jwt)

    # -- admin (deprecated here, kept for compatibility) --------------------------------------

    def get_audit_log(
        self,
        event_type: Literal["all", "checkpoints", "projects", "teams", "organizations"] = "all",
        day: date | None = None,
    ) -> APIFuture[types.AuditLogResponse]:
        """Deprecated: use `AdminClient.get_audit_log`."""
        return self._admin_client("get_audit_log").get_audit_log(event_type, day)

    async def get_audit_log_async(
        self,
        event_type: Literal["all", "checkpoints", "projects", "teams", "organizations"] = "all",
        day: date | None = None,
    ) -> types.AuditLogResponse:
        return await self.get_audit_log(event_type, day)

    def get_billing_usage(
        self, starting_on: datetime | str, ending_before: datetime | str
    ) -> APIFuture[types.BillingUsageResponse]:
        """Deprecated: use `AdminClient.get_billing_usage`."""
        return self._admin_client("get_billing_usage").get_billing_usage(starting_on, ending_before)

    async def get_billing_usage_async(
        self, starting_on: datetime | str, ending_before: datetime | str
    ) -> types.BillingUsageResponse:
        return await self.get_billing_usage(starting_on, ending_before)

    def get_current_checkpoint_storage_usage(
        self, project_id: str | None = None
    ) -> APIFuture[types.CurrentCheckpointStorageUsageResponse]:
        """Deprecated: use `AdminClient.get_current_checkpoint_storage_usage`."""
        return self._admin_client(
            "get_current_checkpoint_storage_usage"
        ).get_current_checkpoint_storage_usage(project_id)

    async def get_current_checkpoint_storage_usage_async(
        self, project_id: str | None = None
    ) -> types.CurrentCheckpointStorageUsageResponse:
        return await self.get_current_checkpoint_storage_usage(project_id)

    # -- pagination helpers (tinkex additions) ------------------------------------------------

    def iter_training_runs(
        self,
        page_size: int = 100,
        access_scope: AccessScope = "owned",
        project_id: str | None = None,
    ) -> Iterator[types.TrainingRun]:
        """Every training run, fetching `page_size` at a time."""
        return self._blocking(self.iter_training_runs_async(page_size, access_scope, project_id))

    def iter_training_runs_async(
        self,
        page_size: int = 100,
        access_scope: AccessScope = "owned",
        project_id: str | None = None,
    ) -> AsyncIterator[types.TrainingRun]:
        _check_page_size(page_size)
        return _paged(
            lambda offset: self.list_training_runs(page_size, offset, access_scope, project_id),
            lambda page: page.training_runs,
            lambda page, seen: seen >= page.cursor.total_count,
        )

    def iter_user_checkpoints(self, page_size: int = 100) -> Iterator[types.Checkpoint]:
        """Every checkpoint of the caller, newest first, `page_size` at a time."""
        return self._blocking(self.iter_user_checkpoints_async(page_size))

    def iter_user_checkpoints_async(self, page_size: int = 100) -> AsyncIterator[types.Checkpoint]:
        _check_page_size(page_size)
        return _paged(
            lambda offset: self.list_user_checkpoints(page_size, offset),
            lambda page: page.checkpoints,
            lambda page, seen: (
                seen >= page.cursor.total_count
                if page.cursor is not None
                else len(page.checkpoints) < page_size
            ),
        )

    def iter_sessions(
        self, page_size: int = 100, access_scope: AccessScope = "owned"
    ) -> Iterator[str]:
        """Every session id; the listing has no total, so a short page ends it."""
        return self._blocking(self.iter_sessions_async(page_size, access_scope))

    def iter_sessions_async(
        self, page_size: int = 100, access_scope: AccessScope = "owned"
    ) -> AsyncIterator[str]:
        _check_page_size(page_size)
        return _paged(
            lambda offset: self.list_sessions(page_size, offset, access_scope),
            lambda page: page.sessions,
            lambda page, seen: len(page.sessions) < page_size,
        )

    def _blocking(self, items: AsyncIterator[T]) -> Iterator[T]:
        """Drive an async iterator on the holder's loop, one blocking step per item."""

        async def step() -> list[T]:
            try:
                return [await anext(items)]
            except StopAsyncIteration:
                return []

        while batch := self._submit(step()).result():
            yield batch[0]


P = TypeVar("P")


async def _paged(
    fetch: Callable[[int], Awaitable[P]],
    items_of: Callable[[P], list[T]],
    is_last: Callable[[P, int], bool],
) -> AsyncIterator[T]:
    """Items of consecutive offset pages until an empty page or `is_last(page, seen)`."""
    seen = 0
    while True:
        page = await fetch(seen)
        items = items_of(page)
        for item in items:
            yield item
        seen += len(items)
        if not items or is_last(page, seen):
            return
