"""Inspect the SDK's authentication state, as `tinker.auth` does.

The first two checks are local: they never run `TINKER_CREDENTIAL_CMD` (which may contact a
credential service) and never contact Tinker. `raise_if_tinker_not_accessible` makes one
request, so that a script can fail fast with the real reason before it starts a long job.
"""

from __future__ import annotations

import os

from tinkex.clients.credentials import MissingCredentialError, resolve_api_key
from tinkex.errors import TinkerError

__all__ = ["get_tinker_token", "raise_if_tinker_not_accessible", "tinker_has_credentials"]


def get_tinker_token() -> str | None:
    """The static credential (`TINKER_API_KEY` or the stored default key), or None."""
    environ = {k: v for k, v in os.environ.items() if k != "TINKER_CREDENTIAL_CMD"}
    try:
        return resolve_api_key(env=environ)
    except MissingCredentialError:
        return None


def tinker_has_credentials() -> bool:
    """Whether some credential source is configured; a `TINKER_CREDENTIAL_CMD` counts
    without being run."""
    return bool(os.environ.get("TINKER_CREDENTIAL_CMD")) or get_tinker_token() is not None


def raise_if_tinker_not_accessible() -> None:
    """Raise a `TinkerError` unless the service accepts the configured credential.

    One request to the billing-gated capabilities endpoint, never paused on 402 (callers
    want the error, not a wait): `AuthenticationError` for a rejected key, `BillingError`
    when billing is not set up, `APIConnectionError` when the service is unreachable,
    `TinkerError` without a credential.
    """
    from tinkex.clients._holder import ClientHolder

    try:
        holder = ClientHolder.sessionless()
    except MissingCredentialError as error:
        raise TinkerError(str(error)) from error
    try:
        holder.run_sync(holder.pipeline.call("get_server_capabilities"))
    finally:
        holder.close()
