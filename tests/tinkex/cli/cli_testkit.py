"""Shared helpers of the CLI tests: client factories, seeding the local backend, running it.

`OfficialClients` drives the CLI through the official `tinker` SDK (same method names as
`tinkex.clients`), so every command runs end to end against `tinkex.local` today;
`tinkex_clients_ready()` says when the tinkex clients can be used as well. The checkpoint
file listing (`get_external_weights_urls`) is read with plain HTTP, because the official
client only accepts `external_weights` paths there and the local backend serves every kind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx
from click.testing import CliRunner, Result

from tinkex import types
from tinkex.cli.app import cli
from tinkex.cli.context import (
    CliContext,
    ClientFactory,
    RestApi,
    Sampler,
    SampleRequest,
    TokenCallback,
)
from tinkex.cli.export import exported_weights
from tinkex.cli.sampler import ServiceSampler

TINY = "tinkex/tiny-llama"
API_PREFIX = "/api/v1"


def tinkex_clients_ready() -> bool:
    """True once `tinkex.clients` has the ServiceClient and the client core."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("tinkex.clients._holder", "tinkex.clients.service")
    )


@dataclass(frozen=True)
class Done:
    """An already finished request, shaped like an `APIFuture`."""

    value: Any

    def result(self, timeout: float | None = None) -> Any:
        return self.value


class OfficialRest:
    """The official `tinker.RestClient`, plus checkpoint file URLs for every kind."""

    def __init__(self, base_url: str, api_key: str) -> None:
        import tinker

        self._client = tinker.RestClient(base_url=base_url, api_key=api_key)
        self._base_url = base_url
        self._api_key = api_key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_external_weights_urls(self, tinker_path: str) -> Done:
        parsed = types.ParsedCheckpointTinkerPath.from_tinker_path(tinker_path)
        url = (
            f"{self._base_url}{API_PREFIX}/training_runs/{parsed.training_run_id}/checkpoints/"
            f"{parsed.checkpoint_id}/external_weights_urls"
        )
        response = httpx.get(url, headers={"X-API-Key": self._api_key}, timeout=60.0)
        response.raise_for_status()
        return Done(types.ExternalWeightsUrlsResponse.model_validate(response.json()))


class OfficialClients:
    """A `ClientFactory` over the official SDK."""

    def rest(self, base_url: str | None, api_key: str | None) -> RestApi:
        assert base_url is not None
        assert api_key is not None
        rest: RestApi = OfficialRest(base_url, api_key)
        return rest

    def sampler(
        self, base_url: str | None, api_key: str | None, model: str, timeout_s: float
    ) -> Sampler:
        import tinker

        service = tinker.ServiceClient(base_url=base_url, api_key=api_key)
        return ServiceSampler.open(service, model, tinker.types, timeout_s)

    def exported(
        self, base_url: str | None, api_key: str | None, tinker_path: str, timeout_s: float
    ) -> AbstractContextManager[str]:
        import tinker

        service = tinker.ServiceClient(base_url=base_url, api_key=api_key)
        return exported_weights(service, self.rest(base_url, api_key), tinker_path, timeout_s)


@dataclass
class FakeClients:
    """A `ClientFactory` handing out given objects; `exported` records what it exported."""

    rest_client: Any = None
    sampler_: Sampler | None = None
    export_path: str | None = None
    exports: list[str] = field(default_factory=list)

    def rest(self, base_url: str | None, api_key: str | None) -> RestApi:
        rest: RestApi = self.rest_client
        return rest

    def sampler(
        self, base_url: str | None, api_key: str | None, model: str, timeout_s: float
    ) -> Sampler:
        assert self.sampler_ is not None
        return self.sampler_

    @contextlib.contextmanager
    def exported(
        self, base_url: str | None, api_key: str | None, tinker_path: str, timeout_s: float
    ) -> Iterator[str]:
        assert self.export_path is not None
        self.exports.append(tinker_path)
        yield self.export_path


@dataclass(frozen=True)
class SeededRun:
    run_id: str
    state_path: str
    sampler_path: str


def seed_runs(base_url: str, api_key: str, count: int, rank: int = 4) -> list[SeededRun]:
    """`count` LoRA runs, each with one training and one sampler checkpoint."""
    import tinker

    service = tinker.ServiceClient(base_url=base_url, api_key=api_key)
    runs = []
    for index in range(count):
        training = service.create_lora_training_client(base_model=TINY, rank=rank).result()
        state = training.save_state(f"state-{index}").result().path
        sampler = training.save_weights_for_sampler(f"sampler-{index}").result().path
        runs.append(SeededRun(training.model_id, state, sampler))
    return runs


@dataclass(frozen=True)
class Cli:
    """Runs `tinkex` in-process against one server with one client factory."""

    base_url: str
    api_key: str
    clients: ClientFactory

    def __call__(self, *args: str, fmt: str = "table", stdin: str | None = None) -> Result:
        argv = ["--base-url", self.base_url, "--api-key", self.api_key, "-f", fmt, *args]
        return run(argv, self.clients, stdin)

    def json(self, *args: str) -> Any:
        import json

        result = self(*args, fmt="json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


def run(argv: Sequence[str], clients: ClientFactory, stdin: str | None = None) -> Result:
    context = CliContext(clients=clients)
    return CliRunner().invoke(cli, list(argv), obj=context, input=stdin, catch_exceptions=False)


class ScriptedSampler:
    """A streaming sampler that produces `text`'s tokens one by one.

    `gate` is called before each token: terminal tests make it wait for a key press, so
    they can see each piece of text on the screen before the next one exists.
    """

    def __init__(self, text: str, gate: Callable[[], object] | None = None) -> None:
        from tinkex.tokenizer import get_tokenizer

        self.tokens = get_tokenizer(TINY).encode(text)
        self.gate = gate
        self.requests: list[SampleRequest] = []

    @property
    def base_model(self) -> str:
        return TINY

    @property
    def streams(self) -> bool:
        return True

    def sample(
        self, request: SampleRequest, on_token: TokenCallback | None = None
    ) -> types.SampleResponse:
        self.requests.append(request)
        for token in self.tokens:
            if on_token is not None:
                if self.gate is not None:
                    self.gate()
                on_token(0, token)
        sequence = types.SampledSequence(stop_reason="length", tokens=self.tokens)
        return types.SampleResponse(sequences=[sequence] * request.num_samples)


class ScriptedClients(OfficialClients):
    """Official REST client; `sample` answers from a `ScriptedSampler`."""

    def __init__(self, sampler: ScriptedSampler) -> None:
        self.scripted = sampler

    def sampler(
        self, base_url: str | None, api_key: str | None, model: str, timeout_s: float
    ) -> Sampler:
        return self.scripted


def main() -> None:
    """`python cli_testkit.py ARGS...`: the CLI over the official SDK, for terminal tests.

    With `TINKEX_TEST_STREAM=<text>`, `sample` streams that text, one token per line read
    from stdin.
    """
    text = os.environ.get("TINKEX_TEST_STREAM")
    clients: ClientFactory = (
        OfficialClients() if text is None else ScriptedClients(ScriptedSampler(text, input))
    )
    cli.main(args=sys.argv[1:], prog_name="tinkex", obj=CliContext(clients=clients))


if __name__ == "__main__":
    main()
