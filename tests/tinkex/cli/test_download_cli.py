"""`checkpoint download`'s CLI layer: naming, credentials, exports and errors.

The download itself is tested in tests/tinkex/test_download.py.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cli_testkit import Done, FakeClients
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pristine.errors import InternalServerError
from tinkex import types
from tinkex.cli.context import CliContext, CliError
from tinkex.cli.download import download_checkpoint, target_directory

PATH = "tinker://run-1/external_weights/final"
KEY = "tml-download-key-123456"


@dataclass
class UrlsOnly:
    urls: dict[str, str]

    def get_external_weights_urls(self, tinker_path: str) -> Done:
        assert tinker_path == PATH
        response = types.ExternalWeightsUrlsResponse(urls=self.urls, expires=datetime.now(UTC))
        return Done(response)


def _context(urls: dict[str, str], base_url: str) -> CliContext:
    return CliContext(base_url=base_url, api_key=KEY, clients=FakeClients(UrlsOnly(urls)))


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _no_progress(_name: str) -> Any:
    return lambda _done, _total: None


def test_tar_files_are_unpacked_and_plain_files_kept(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/a.tar").respond_with_data(_tar({"adapter/w.bin": b"w" * 10}))
    httpserver.expect_request("/config.json").respond_with_data(b"{}")
    urls = {
        "a.tar": httpserver.url_for("/a.tar"),
        "config.json": httpserver.url_for("/config.json"),
    }
    target = target_directory(PATH, tmp_path)
    progress: list[tuple[str, int, int | None]] = []

    def report(name: str) -> Any:
        return lambda done, total: progress.append((name, done, total))

    result = download_checkpoint(
        _context(urls, "http://elsewhere"), PATH, target, force=False, progress=report
    )

    assert target.name == "run-1_external_weights_final"
    assert result.files == ["adapter/w.bin", "config.json"]
    assert result.size_bytes == 12
    assert (target / "adapter" / "w.bin").read_bytes() == b"w" * 10
    assert ("config.json", 2, 2) in progress
    assert not target.with_name(target.name + ".download").exists()


def _recording(headers: list[dict[str, str]], body: bytes) -> Any:
    def handler(request: Request) -> Response:
        headers.append(dict(request.headers))
        return Response(body)

    return handler


def test_the_api_key_goes_only_to_the_configured_server(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    seen: list[dict[str, str]] = []
    httpserver.expect_request("/f").respond_with_handler(_recording(seen, b"x"))
    url = httpserver.url_for("/f")

    download_checkpoint(
        _context({"f": url}, httpserver.url_for("")),
        PATH,
        tmp_path / "a",
        force=False,
        progress=_no_progress,
    )
    download_checkpoint(
        _context({"f": url}, "http://other-host"),
        PATH,
        tmp_path / "b",
        force=False,
        progress=_no_progress,
    )

    assert seen[0].get("X-Api-Key") == KEY
    assert "X-Api-Key" not in seen[1]


def test_refusals_become_one_line_cli_errors(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="unsafe file"):
        download_checkpoint(
            _context({"../x": "http://127.0.0.1:9/x"}, "http://x"),
            PATH,
            tmp_path / "t",
            force=False,
            progress=_no_progress,
        )
    with pytest.raises(CliError, match="sampler checkpoints cannot be downloaded"):
        download_checkpoint(
            _context({}, "http://x"),
            "tinker://run-1/sampler_weights/s",
            tmp_path / "t",
            force=False,
            progress=_no_progress,
        )


def test_an_existing_target_needs_the_force_flag(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    with pytest.raises(CliError, match="pass --force"):
        download_checkpoint(
            _context({}, "http://x"), PATH, tmp_path / "t", force=False, progress=_no_progress
        )


@dataclass
class SignsOnlyExternal:
    """Like the hosted service: URLs for external weights only."""

    urls: dict[str, str]
    error: Exception

    def get_external_weights_urls(self, tinker_path: str) -> Done:
        if "/external_weights/" not in tinker_path:
            raise self.error
        response = types.ExternalWeightsUrlsResponse(urls=self.urls, expires=datetime.now(UTC))
        return Done(response)


TRAINING = "tinker://run-1/weights/final"
EXPORT = "tinker://run-2/external_weights/download"


def test_training_checkpoints_are_exported_first_when_the_server_insists(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/f").respond_with_data(b"data")
    rest = SignsOnlyExternal({"f": httpserver.url_for("/f")}, ValueError("external only"))
    clients = FakeClients(rest, export_path=EXPORT)
    ctx = CliContext(base_url="http://x", api_key=KEY, clients=clients)

    result = download_checkpoint(ctx, TRAINING, tmp_path / "t", force=False, progress=_no_progress)

    assert clients.exports == [TRAINING]
    assert result.files == ["f"]


def test_other_failures_are_not_papered_over_by_an_export(tmp_path: Path) -> None:
    error = InternalServerError("down", status_code=503)
    clients = FakeClients(SignsOnlyExternal({}, error), export_path=EXPORT)
    ctx = CliContext(base_url="http://x", api_key=KEY, clients=clients)

    with pytest.raises(InternalServerError):
        download_checkpoint(ctx, TRAINING, tmp_path / "t", force=False, progress=_no_progress)
    assert clients.exports == []
