"""`exported_weights`: the temporary external-weights copy behind a training download."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from cli_testkit import Done

from tinkex.cli.context import RestApi
from tinkex.cli.export import EXPORT_TTL_S, exported_weights

SOURCE = "tinker://run-1/weights/final"
EXPORT = "tinker://run-2/external_weights/download"


@dataclass
class Saved:
    path: str


@dataclass
class Training:
    saves: list[tuple[str, int | None]] = field(default_factory=list)

    def save_weights_external(self, name: str, ttl_seconds: int | None = None) -> Done:
        self.saves.append((name, ttl_seconds))
        return Done(Saved(EXPORT))


@dataclass
class Service:
    training: Training = field(default_factory=Training)
    loaded: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    def create_training_client_from_state(self, path: str, user_metadata: Any = None) -> Done:
        self.loaded.append(path)
        return Done(self.training)

    def close(self, status: str) -> Done:
        self.closed.append(status)
        return Done(None)


@dataclass
class Deleter:
    fail: bool = False
    deleted: list[str] = field(default_factory=list)

    def delete_checkpoint_from_tinker_path(self, path: str) -> Done:
        if self.fail:
            raise RuntimeError("storage hiccup")
        self.deleted.append(path)
        return Done(None)


def _rest(deleter: Deleter) -> RestApi:
    rest: RestApi = deleter  # type: ignore[assignment]
    return rest


def test_the_export_is_made_used_and_deleted() -> None:
    service, deleter = Service(), Deleter()

    with exported_weights(service, _rest(deleter), SOURCE, 5.0) as path:
        assert path == EXPORT
        assert deleter.deleted == []

    assert service.loaded == [SOURCE]
    assert service.training.saves == [("download", EXPORT_TTL_S)]
    assert deleter.deleted == [EXPORT]
    assert service.closed == ["success"]


def test_a_failed_download_still_deletes_and_closes_as_errored() -> None:
    service, deleter = Service(), Deleter()

    with (
        pytest.raises(OSError, match="disk full"),
        exported_weights(service, _rest(deleter), SOURCE, 5.0),
    ):
        raise OSError("disk full")

    assert deleter.deleted == [EXPORT]
    assert service.closed == ["errored"]


def test_a_failed_delete_is_only_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    service = Service()

    with exported_weights(service, _rest(Deleter(fail=True)), SOURCE, 5.0):
        pass

    warning = capsys.readouterr().err
    assert f"could not delete the temporary export {EXPORT}" in warning
    assert f"expires in {EXPORT_TTL_S} seconds" in warning
    assert service.closed == ["success"]
