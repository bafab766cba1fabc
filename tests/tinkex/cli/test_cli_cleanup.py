"""Every command closes the clients it opened, whatever its outcome.

Before, `tinkex run list` & co. left the aiohttp session of their RestClient open, and
aiohttp printed "Unclosed client session" / "Unclosed connector" on stderr at exit; the
sample command never finished its session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from types import TracebackType

import httpx
import pytest
from cli_testkit import TINY, Done, FakeClients, run, seed_runs

from tinkex import types
from tinkex.cli.context import CliError, RestApi, TinkexClients
from tinkex.clients.service import ServiceClient

MISSING = "tinker://no-such-run/weights/x"
CLI = "import sys; from tinkex.cli import main; main(sys.argv[1:])"
SUBPROCESS_TIMEOUT_S = 120.0


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [(("run", "list"), 0), (("checkpoint", "info", MISSING), 1)],
    ids=["success", "error"],
)
def test_a_command_exits_without_unclosed_warnings(
    base_url: str, api_key: str, args: tuple[str, ...], exit_code: int
) -> None:
    env = {**os.environ, "TINKER_BASE_URL": base_url, "TINKER_API_KEY": api_key}
    done = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert done.returncode == exit_code, done.stderr
    assert "Unclosed" not in done.stderr
    assert "ResourceWarning" not in done.stderr


class RecordingClients(TinkexClients):
    """The real factory, remembering every client it built."""

    def __init__(self) -> None:
        super().__init__()
        self.rests: list[RestApi] = []
        self.services: list[ServiceClient] = []

    def rest(self, base_url: str | None, api_key: str | None) -> RestApi:
        client = super().rest(base_url, api_key)
        self.rests.append(client)
        return client

    def service(self, base_url: str | None, api_key: str | None) -> ServiceClient:
        client = super().service(base_url, api_key)
        self.services.append(client)
        return client


def _assert_closed(rest: RestApi) -> None:
    with pytest.raises(RuntimeError, match="closed"):
        rest.get_server_capabilities()


def _assert_finished(service: ServiceClient, base_url: str, api_key: str) -> None:
    """The server refuses heartbeats of a session its client finished."""
    beat = httpx.post(
        f"{base_url}/api/v1/session_heartbeat",
        json={"session_id": service.holder.get_session_id()},
        headers={"X-API-Key": api_key},
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert beat.status_code == 410, beat.text


def _tinkex(base_url: str, api_key: str, clients: RecordingClients, *args: str) -> int:
    return run(["--base-url", base_url, "--api-key", api_key, *args], clients).exit_code


def test_rest_commands_close_their_one_rest_client(base_url: str, api_key: str) -> None:
    (seeded,) = seed_runs(base_url, api_key, 1)
    clients = RecordingClients()

    assert _tinkex(base_url, api_key, clients, "checkpoint", "info", seeded.state_path) == 0
    assert len(clients.rests) == 1  # `checkpoint info` makes two calls on one client
    assert _tinkex(base_url, api_key, clients, "checkpoint", "info", MISSING) == 1

    assert len(clients.rests) == 2
    for rest in clients.rests:
        _assert_closed(rest)


def test_sample_finishes_its_session(base_url: str, api_key: str) -> None:
    clients = RecordingClients()
    args = ("sample", "-m", TINY, "-p", "hello", "--max-tokens", "2")

    assert _tinkex(base_url, api_key, clients, *args) == 0

    (service,) = clients.services
    _assert_finished(service, base_url, api_key)


def test_an_export_closes_its_training_session_and_rest_client(base_url: str, api_key: str) -> None:
    (seeded,) = seed_runs(base_url, api_key, 1)
    clients = RecordingClients()

    with clients, clients.exported(base_url, api_key, seeded.state_path, 60.0) as path:
        assert path.startswith("tinker://")

    (service,) = clients.services
    _assert_finished(service, base_url, api_key)
    assert clients.rests
    for rest in clients.rests:
        _assert_closed(rest)


@dataclass
class Capabilities:
    """A REST client whose capabilities call returns or raises `outcome`."""

    outcome: BaseException | None

    def get_server_capabilities(self) -> Done:
        if self.outcome is not None:
            raise self.outcome
        return Done(types.GetServerCapabilitiesResponse(supported_models=[]))


@dataclass
class ClosableClients(FakeClients):
    """A factory that is a context manager, recording the outcome it is left with."""

    exits: list[type[BaseException] | None] = field(default_factory=list)

    def __enter__(self) -> ClosableClients:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.exits.append(exc_type)


@pytest.mark.parametrize(
    ("outcome", "exit_code"),
    [(None, 0), (CliError("no models", "ask for some"), 1), (KeyboardInterrupt(), 130)],
    ids=["success", "error", "interrupt"],
)
def test_the_factory_is_left_once_with_the_command_outcome(
    outcome: BaseException | None, exit_code: int
) -> None:
    clients = ClosableClients(rest_client=Capabilities(outcome))

    result = run(["model", "list"], clients)

    assert result.exit_code == exit_code, result.stderr
    assert clients.exits == [None if outcome is None else type(outcome)]


def test_commands_without_clients_still_leave_the_factory() -> None:
    clients = ClosableClients()

    assert run(["version"], clients).exit_code == 0
    assert clients.exits == [None]
