"""The root group: global options, version, one-line errors, exit codes, secret masking."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from cli_testkit import Done, FakeClients, run

from pristine.errors import APIConnectionError, AuthenticationError, InternalServerError
from tinkex import types
from tinkex.cli import main
from tinkex.cli.app import package_version
from tinkex.cli.context import CliContext, CliError, RestApi

SECRET = "tml-supersecretvalue123456"


@dataclass
class RaisingRest:
    """A REST client whose every call raises `error` (after recording the call)."""

    error: BaseException
    calls: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        def call(*_args: object, **_kwargs: object) -> Done:
            self.calls.append(name)
            raise self.error

        return call


def _run(rest: Any, *argv: str) -> Any:
    return run(["--api-key", SECRET, *argv], FakeClients(rest))


def test_version_in_table_and_json() -> None:
    clients = FakeClients()
    assert run(["version"], clients).stdout == f"tinkex {package_version()}\n"
    assert json.loads(run(["version", "--json"], clients).stdout) == {"version": package_version()}
    assert json.loads(run(["-f", "json", "version"], clients).stdout)["version"]
    assert package_version() in run(["--version"], clients).stdout


def test_main_is_the_console_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"tinkex {package_version()}\n"


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (AuthenticationError(f"bad key {SECRET}", status_code=401), "check the API key"),
        (InternalServerError("boom", status_code=500), "the server failed"),
        (APIConnectionError("refused"), "cannot reach http://x: check --base-url"),
        (CliError("the cause", "the fix"), "the fix"),
        (RuntimeError(f"weird\nthing {SECRET}"), "TINKEX_DEBUG=1"),
    ],
)
def test_errors_are_one_masked_line_with_a_fix(error: BaseException, fix: str) -> None:
    result = _run(RaisingRest(error), "--base-url", "http://x", "run", "info", "r")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert fix in result.stderr
    assert SECRET not in result.stderr


def test_other_status_codes_ask_to_fix_the_request() -> None:
    error = AuthenticationError("teapot", status_code=418)

    result = _run(RaisingRest(error), "run", "info", "r")

    assert "teapot; fix the request" in result.stderr


def test_debug_mode_raises_unexpected_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINKEX_DEBUG", "1")

    with pytest.raises(RuntimeError, match="bug"):
        _run(RaisingRest(RuntimeError("bug")), "run", "info", "r")


def test_ctrl_c_exits_130() -> None:
    result = _run(RaisingRest(KeyboardInterrupt()), "run", "list")

    assert result.exit_code == 130
    assert "Interrupted." in result.stderr


def test_end_of_input_at_a_prompt_aborts_with_1() -> None:
    result = _run(
        RaisingRest(RuntimeError("unused")), "checkpoint", "delete", "tinker://r/weights/a"
    )

    assert result.exit_code == 1
    assert "Aborted." in result.stderr


def test_usage_errors_are_one_line_naming_the_help() -> None:
    result = _run(None, "run", "list", "--limit", "-1")

    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "'--limit'" in result.stderr
    assert "see 'tinkex run list --help'" in result.stderr


def test_unknown_commands_are_errors() -> None:
    result = _run(None, "frobnicate")

    assert result.exit_code == 1
    assert "No such command 'frobnicate'" in result.stderr


def test_auth_status_without_a_key_says_how_to_set_one() -> None:
    result = run(["auth", "status"], FakeClients(RaisingRest(RuntimeError("unused"))))

    assert result.exit_code == 1
    assert "no API key configured; set TINKER_API_KEY" in result.stderr


def test_api_key_and_base_url_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TINKER_API_KEY", SECRET)
    monkeypatch.setenv("TINKER_BASE_URL", "http://env-host:1")
    seen: dict[str, str | None] = {}

    class Recording(FakeClients):
        def rest(self, base_url: str | None, api_key: str | None) -> RestApi:
            seen.update(base_url=base_url, api_key=api_key)
            return super().rest(base_url, api_key)

    capabilities = types.GetServerCapabilitiesResponse(supported_models=[])

    class Capabilities:
        def get_server_capabilities(self) -> Done:
            return Done(capabilities)

    result = run(["-f", "json", "auth", "status"], Recording(Capabilities()))

    assert result.exit_code == 0, result.stderr
    assert seen == {"base_url": "http://env-host:1", "api_key": SECRET}
    assert json.loads(result.stdout)["base_url"] == "http://env-host:1"


def test_context_secrets_include_the_environment_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINKER_API_KEY", SECRET)

    assert CliContext(api_key="tml-other-key").secrets() == ("tml-other-key", SECRET)
