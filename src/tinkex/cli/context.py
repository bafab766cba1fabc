"""What every command receives: output format, credentials, and where clients come from.

Commands never build clients themselves; they ask `CliContext.rest()` / `CliContext.sampler()`,
which go through a `ClientFactory`. The default factory builds `tinkex.clients`; tests hand in
another one, so the same commands can be driven against any client with the official method
names (and against the local backend) without patching modules.

A command's clients live as long as the command: the root group enters the `CliContext` around
it, and leaving the context leaves the factory, which closes what it built (connections, loop
threads, the session, finished with the command's outcome). Otherwise aiohttp complains about
unclosed sessions at exit and the server keeps the session until it expires.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, Self, TypeVar

if TYPE_CHECKING:
    from tinkex import types
    from tinkex.clients.service import ServiceClient

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TIMEOUT_S",
    "CliContext",
    "CliError",
    "ClientFactory",
    "OutputFormat",
    "Pending",
    "RestApi",
    "SampleRequest",
    "Sampler",
    "TinkexClients",
    "TokenCallback",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

OutputFormat = Literal["table", "json"]

DEFAULT_TIMEOUT_S = 300.0
"""How long one CLI request may take before the command gives up."""

DEFAULT_PAGE_SIZE = 100
"""Items fetched per request when a listing walks every page."""


class CliError(Exception):
    """A failure the user can fix: printed as one line, `<cause>; <fix>`, exit code 1."""

    def __init__(self, cause: str, fix: str | None = None) -> None:
        super().__init__(cause if fix is None else f"{cause}; {fix}")


class Pending(Protocol[T_co]):
    """A submitted request (`APIFuture` in tinkex and in the official SDK)."""

    def result(self, timeout: float | None = None) -> T_co: ...


class RestApi(Protocol):
    """The `RestClient` methods the CLI uses (official names and parameters)."""

    def get_server_capabilities(self) -> Pending[types.GetServerCapabilitiesResponse]: ...

    def list_training_runs(
        self, limit: int = 20, offset: int = 0
    ) -> Pending[types.TrainingRunsResponse]: ...

    def get_training_run(self, training_run_id: str) -> Pending[types.TrainingRun]: ...

    def list_checkpoints(self, training_run_id: str) -> Pending[types.CheckpointsListResponse]: ...

    def list_user_checkpoints(
        self, limit: int = 100, offset: int = 0
    ) -> Pending[types.CheckpointsListResponse]: ...

    def get_weights_info_by_tinker_path(
        self, tinker_path: str
    ) -> Pending[types.WeightsInfoResponse]: ...

    def publish_checkpoint_from_tinker_path(self, tinker_path: str) -> Pending[None]: ...

    def unpublish_checkpoint_from_tinker_path(self, tinker_path: str) -> Pending[None]: ...

    def set_checkpoint_ttl_from_tinker_path(
        self, tinker_path: str, ttl_seconds: int | None
    ) -> Pending[None]: ...

    def delete_checkpoint_from_tinker_path(self, tinker_path: str) -> Pending[None]: ...

    def get_external_weights_urls(
        self, tinker_path: str
    ) -> Pending[types.ExternalWeightsUrlsResponse]: ...

    def list_sessions(
        self, limit: int = 20, offset: int = 0
    ) -> Pending[types.ListSessionsResponse]: ...

    def get_session(self, session_id: str) -> Pending[types.GetSessionResponse]: ...


@dataclass(frozen=True)
class SampleRequest:
    """What `tinkex sample` asks for, independent of any client's request types."""

    prompt_tokens: Sequence[int]
    num_samples: int
    max_tokens: int
    temperature: float
    seed: int | None


TokenCallback = Callable[[int, int], None]
"""Called with (sequence index, token id) as each sampled token arrives."""


class Sampler(Protocol):
    """A sampling client bound to one model, reduced to what the CLI needs."""

    @property
    def base_model(self) -> str: ...

    @property
    def streams(self) -> bool:
        """True when `sample` reports tokens to `on_token` as they are produced."""
        ...

    def sample(
        self, request: SampleRequest, on_token: TokenCallback | None = None
    ) -> types.SampleResponse: ...


class ClientFactory(Protocol):
    """Builds the clients a command talks to.

    A factory whose clients hold connections is also a context manager: the CLI context
    enters it for one command and leaves it, with the command's outcome, when the command
    ends; leaving it closes every client it built.
    """

    def rest(self, base_url: str | None, api_key: str | None) -> RestApi: ...

    def sampler(
        self, base_url: str | None, api_key: str | None, model: str, timeout_s: float
    ) -> Sampler: ...

    def exported(
        self, base_url: str | None, api_key: str | None, tinker_path: str, timeout_s: float
    ) -> AbstractContextManager[str]:
        """A temporary external-weights copy of a training checkpoint (see `cli.export`)."""
        ...


class TinkexClients:
    """The default factory: `tinkex.clients`, imported only when a command needs a client.

    It owns what it builds until it is left (then it can be entered again).
    """

    def __init__(self) -> None:
        self._opened = ExitStack()

    def rest(self, base_url: str | None, api_key: str | None) -> RestApi:
        from tinkex.clients.rest import RestClient

        client = RestClient(base_url=base_url, api_key=api_key)
        self._opened.callback(client.close)
        return client

    def service(self, base_url: str | None, api_key: str | None) -> ServiceClient:
        """A ServiceClient whose session is finished with the command's outcome."""
        from tinkex.clients.service import ServiceClient

        return self._opened.enter_context(ServiceClient(base_url=base_url, api_key=api_key))

    def sampler(
        self, base_url: str | None, api_key: str | None, model: str, timeout_s: float
    ) -> Sampler:
        from tinkex import types
        from tinkex.cli.sampler import ServiceSampler

        return ServiceSampler.open(self.service(base_url, api_key), model, types, timeout_s)

    def exported(
        self, base_url: str | None, api_key: str | None, tinker_path: str, timeout_s: float
    ) -> AbstractContextManager[str]:
        from tinkex.cli.export import exported_weights

        service = self.service(base_url, api_key)
        return exported_weights(service, self.rest(base_url, api_key), tinker_path, timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Every client is closed even if one fails to; a failed close is not the command's
        # failure (the server expires what is left), so it never changes the exit code.
        with contextlib.suppress(Exception):
            self._opened.__exit__(exc_type, exc, traceback)


@dataclass
class CliContext:
    """Global options, resolved once by the root group and passed to every command."""

    format: OutputFormat = "table"
    base_url: str | None = None
    api_key: str | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    timeout_s: float = DEFAULT_TIMEOUT_S
    clients: ClientFactory = field(default_factory=TinkexClients)
    _rest: RestApi | None = field(default=None, init=False, repr=False)
    _entered: ExitStack = field(default_factory=ExitStack, init=False, repr=False)

    @property
    def json(self) -> bool:
        return self.format == "json"

    def rest(self) -> RestApi:
        """The command's REST client: one per command, however many calls it makes."""
        if self._rest is None:
            self._rest = self.clients.rest(self.base_url, self.api_key)
        return self._rest

    def wait(self, pending: Pending[T]) -> T:
        """The result of a submitted request, waiting at most `--timeout` seconds."""
        return pending.result(timeout=self.timeout_s)

    def sampler(self, model: str) -> Sampler:
        return self.clients.sampler(self.base_url, self.api_key, model, self.timeout_s)

    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach the terminal (masked in error text)."""
        candidates = (self.api_key, os.environ.get("TINKER_API_KEY"))
        return tuple(value for value in candidates if value)

    def effective_base_url(self) -> str | None:
        return self.base_url or os.environ.get("TINKER_BASE_URL") or None

    def __enter__(self) -> Self:
        if isinstance(self.clients, AbstractContextManager):
            self._entered.enter_context(self.clients)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the command's clients; the command's own exception goes on unchanged."""
        self._rest = None
        self._entered.__exit__(exc_type, exc, traceback)
