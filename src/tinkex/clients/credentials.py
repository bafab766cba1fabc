"""Where a client's credential and base URL come from, in the official client's order.

The API key is the `api_key` argument, else `$TINKER_API_KEY`, else the output of
`$TINKER_CREDENTIAL_CMD` (for short-lived tokens), else the default key stored by
`tinker auth login` in `~/.tinker/credentials.json`. The base URL is the argument, else
`$TINKER_BASE_URL`, else production. Both are resolved once, when the client is built, so a
client pickled into a worker process carries them along.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "CREDENTIAL_CMD_TIMEOUT_S",
    "DEFAULT_BASE_URL",
    "MissingCredentialError",
    "default_credentials_path",
    "resolve_api_key",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://tinker.thinkingmachines.dev/services/tinker-prod"
CREDENTIAL_CMD_TIMEOUT_S = 30.0


class MissingCredentialError(RuntimeError):
    """No credential source gave an API key."""


def default_credentials_path() -> Path:
    """The file `tinker auth login` writes: `~/.tinker/credentials.json`."""
    return Path("~/.tinker/credentials.json").expanduser()


def resolve_base_url(base_url: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The argument, else `$TINKER_BASE_URL`, else production; no trailing slash."""
    environ = os.environ if env is None else env
    resolved = base_url or environ.get("TINKER_BASE_URL") or DEFAULT_BASE_URL
    return resolved.rstrip("/")


def resolve_api_key(
    api_key: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    credentials_path: Path | None = None,
) -> str:
    """The API key from the first source that has one; raises `MissingCredentialError`."""
    environ = os.environ if env is None else env
    if api_key:
        return api_key
    if key := environ.get("TINKER_API_KEY"):
        return key
    if command := environ.get("TINKER_CREDENTIAL_CMD"):
        return _run_credential_command(command)
    if key := _stored_default_key(credentials_path or default_credentials_path()):
        return key
    raise MissingCredentialError(
        "no Tinker API key: pass api_key=..., set TINKER_API_KEY, set TINKER_CREDENTIAL_CMD to a "
        "command that prints one, or run `tinker auth login`"
    )


def _run_credential_command(command: str) -> str:
    try:
        completed = subprocess.run(
            command,
            shell=True,
            capture_output=True,
            text=True,
            timeout=CREDENTIAL_CMD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MissingCredentialError(
            f"TINKER_CREDENTIAL_CMD did not finish within {CREDENTIAL_CMD_TIMEOUT_S} s; "
            "make the command print the credential and exit"
        ) from None
    credential = completed.stdout.strip()
    if completed.returncode != 0 or not credential:
        raise MissingCredentialError(
            f"TINKER_CREDENTIAL_CMD exited with status {completed.returncode} and printed "
            f"{'nothing' if not credential else 'a credential'}; fix the command so that it "
            "prints a valid credential and exits 0"
        )
    return credential


def _stored_default_key(path: Path) -> str | None:
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise MissingCredentialError(
            f"cannot read the stored credentials in {path} ({error}); run `tinker auth login` "
            "again or pass api_key=..."
        ) from error
    default = stored.get("default") if isinstance(stored, dict) else None
    record = stored.get("keys", {}).get(default) if default else None
    key = record.get("key") if isinstance(record, dict) else None
    return key if isinstance(key, str) and key else None
