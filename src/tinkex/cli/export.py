"""Exporting a training checkpoint as temporary external weights, so it can be downloaded.

The hosted service signs download URLs only for `external_weights` checkpoints; for a
training checkpoint the official CLI loads it into a new training run, saves it with
`save_weights_external` and deletes that temporary copy after the download. This module
does the same through any service client with the official method names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from tinkex.cli.context import RestApi

__all__ = ["EXPORT_TTL_S", "exported_weights"]

EXPORT_TTL_S = 2 * 3600
"""The temporary export expires on its own if the command dies before deleting it."""


@contextlib.contextmanager
def exported_weights(
    service: Any, rest: RestApi, tinker_path: str, timeout_s: float
) -> Iterator[str]:
    """The path of a temporary external-weights copy of `tinker_path`, deleted on exit."""
    status = "errored"
    try:
        training = service.create_training_client_from_state(
            tinker_path, user_metadata={"created_by": "tinkex checkpoint download"}
        ).result(timeout=timeout_s)
        saved = training.save_weights_external("download", ttl_seconds=EXPORT_TTL_S)
        export_path = str(saved.result(timeout=timeout_s).path)
        try:
            yield export_path
        finally:
            _delete_quietly(rest, export_path, timeout_s)
        status = "success"
    finally:
        service.close(status).result(timeout=timeout_s)


def _delete_quietly(rest: RestApi, export_path: str, timeout_s: float) -> None:
    try:
        rest.delete_checkpoint_from_tinker_path(export_path).result(timeout=timeout_s)
    except Exception as error:
        click.echo(
            f"Warning: could not delete the temporary export {export_path} ({error}); "
            f"it expires in {EXPORT_TTL_S} seconds",
            err=True,
        )
