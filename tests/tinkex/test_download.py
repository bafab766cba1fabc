"""`tinkex.download`: checkpoints from signed URLs, against loopback servers.

Most tests serve files with pytest-httpserver behind a scripted URL signer; the last one
downloads a real checkpoint written by the local backend through tinkex's RestClient.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pristine.errors import InternalServerError, NotFoundError
from tinkex import types
from tinkex.archive import ChecksumMismatchError, ProgressCallback
from tinkex.download import DownloadRefusedError, download_checkpoint

EXTERNAL = "tinker://run-1/external_weights/final"
TRAINING = "tinker://run-1/weights/final"
EXPORTED = "tinker://run-2/external_weights/download"
KEY = "tml-download-key-123456"


@dataclass(frozen=True)
class Done:
    value: types.ExternalWeightsUrlsResponse

    def result(self, timeout: float | None = None) -> types.ExternalWeightsUrlsResponse:
        return self.value


@dataclass
class Signer:
    """Signs `urls` for external-weights paths; `refusal` is raised for any other path."""

    urls: dict[str, str]
    refusal: Exception | None = None
    lifetime: timedelta = timedelta(hours=1)
    signed: list[str] = field(default_factory=list)

    def get_external_weights_urls(self, tinker_path: str) -> Done:
        self.signed.append(tinker_path)
        if self.refusal is not None and "/external_weights/" not in tinker_path:
            raise self.refusal
        expires = datetime.now(UTC) + self.lifetime
        return Done(types.ExternalWeightsUrlsResponse(urls=self.urls, expires=expires))


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _recording(seen: list[dict[str, str]], response: Response) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        seen.append(dict(request.headers))
        return response

    return handler


def test_tar_files_are_unpacked_plain_files_kept_with_progress(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/a.tar").respond_with_data(_tar({"adapter/w.bin": b"w" * 10}))
    httpserver.expect_request("/config.json").respond_with_data(b"{}")
    signer = Signer(
        {"a.tar": httpserver.url_for("/a.tar"), "config.json": httpserver.url_for("/config.json")}
    )
    progress: list[tuple[str, int, int | None]] = []

    def report(name: str) -> ProgressCallback:
        return lambda done, total: progress.append((name, done, total))

    result = download_checkpoint(signer, EXTERNAL, tmp_path / "out", progress=report)

    assert result.files == ["adapter/w.bin", "config.json"]
    assert result.size_bytes == 12
    assert (tmp_path / "out" / "adapter" / "w.bin").read_bytes() == b"w" * 10
    assert ("config.json", 2, 2) in progress
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_credentials_go_only_to_the_clients_own_server(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    seen: list[dict[str, str]] = []
    httpserver.expect_request("/f").respond_with_handler(_recording(seen, Response(b"x")))
    signer = Signer({"f": httpserver.url_for("/f")})

    download_checkpoint(
        signer, EXTERNAL, tmp_path / "a", base_url=httpserver.url_for(""), api_key=KEY
    )
    download_checkpoint(signer, EXTERNAL, tmp_path / "b", base_url="http://other", api_key=KEY)

    assert seen[0].get("X-Api-Key") == KEY
    assert "X-Api-Key" not in seen[1]


def test_redirects_are_followed_without_carrying_credentials_away(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    seen: list[dict[str, str]] = []
    elsewhere = httpserver.url_for("/blob").replace("localhost", "127.0.0.1")
    httpserver.expect_request("/f").respond_with_data(
        b"", status=302, headers={"Location": elsewhere}
    )
    httpserver.expect_request("/blob").respond_with_handler(_recording(seen, Response(b"data")))
    base = httpserver.url_for("")
    url = httpserver.url_for("/f")

    result = download_checkpoint(
        Signer({"f": url}), EXTERNAL, tmp_path / "t", base_url=base, api_key=KEY
    )

    assert (result.destination / "f").read_bytes() == b"data"
    assert ("X-Api-Key" in seen[0]) == elsewhere.startswith(base)


def test_a_partial_file_is_resumed_with_a_range_request(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    seen: list[dict[str, str]] = []
    httpserver.expect_request("/f").respond_with_handler(
        _recording(seen, Response(b"world", status=206))
    )
    staging = tmp_path / "t.download"
    staging.mkdir()
    (staging / "f.part").write_bytes(b"hello ")

    download_checkpoint(Signer({"f": httpserver.url_for("/f")}), EXTERNAL, tmp_path / "t")

    assert seen[0]["Range"] == "bytes=6-"
    assert (tmp_path / "t" / "f").read_bytes() == b"hello world"


def test_a_server_ignoring_the_range_restarts_the_file(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/f").respond_with_data(b"hello world")
    staging = tmp_path / "t.download"
    staging.mkdir()
    (staging / "f.part").write_bytes(b"stale ")

    download_checkpoint(Signer({"f": httpserver.url_for("/f")}), EXTERNAL, tmp_path / "t")

    assert (tmp_path / "t" / "f").read_bytes() == b"hello world"


def _sha256_header(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def test_the_servers_checksum_is_verified(httpserver: HTTPServer, tmp_path: Path) -> None:
    good = {"Repr-Digest": _sha256_header(b"payload")}
    md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    httpserver.expect_request("/ok").respond_with_data(b"payload", headers=good)
    httpserver.expect_request("/bad").respond_with_data(
        b"payload", headers={"x-goog-hash": f"crc32c=AAAAAA==,md5={md5}"}
    )

    download_checkpoint(Signer({"f": httpserver.url_for("/ok")}), EXTERNAL, tmp_path / "ok")
    with pytest.raises(ChecksumMismatchError, match="md5 of f"):
        download_checkpoint(Signer({"f": httpserver.url_for("/bad")}), EXTERNAL, tmp_path / "bad")

    assert (tmp_path / "ok" / "f").read_bytes() == b"payload"
    assert not (tmp_path / "bad").exists()
    assert not list((tmp_path / "bad.download").iterdir())


def test_http_errors_name_the_file_and_the_fix(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/f").respond_with_data(b"gone", status=404)

    with pytest.raises(NotFoundError, match=r"download of .*/f failed with HTTP 404.*retry"):
        download_checkpoint(Signer({"f": httpserver.url_for("/f")}), EXTERNAL, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_expiring_urls_are_signed_again_between_files(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/f").respond_with_data(b"x")
    urls = {"a": httpserver.url_for("/f"), "b": httpserver.url_for("/f")}
    signer = Signer(urls, lifetime=timedelta(minutes=1))

    download_checkpoint(signer, EXTERNAL, tmp_path / "t")

    assert signer.signed == [EXTERNAL] * 3


def test_an_existing_target_needs_force(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/f").respond_with_data(b"new")
    target = tmp_path / "t"
    target.mkdir()
    (target / "old").write_text("old")
    signer = Signer({"f": httpserver.url_for("/f")})

    with pytest.raises(FileExistsError, match="force=True"):
        download_checkpoint(signer, EXTERNAL, target)
    result = download_checkpoint(signer, EXTERNAL, target, force=True)

    assert result.files == ["f"]
    assert signer.signed == [EXTERNAL]


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "."])
def test_file_names_leaving_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(DownloadRefusedError, match="unsafe file"):
        download_checkpoint(Signer({name: "http://127.0.0.1:9/x"}), EXTERNAL, tmp_path / "t")
    assert not (tmp_path / "escape").exists()


def test_an_empty_listing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadRefusedError, match="lists no files"):
        download_checkpoint(Signer({}), EXTERNAL, tmp_path / "t")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tinker://run-1/sampler_weights/s", "sampler checkpoints cannot be downloaded"),
        ("weights/x", "is not a checkpoint path"),
    ],
)
def test_sampler_and_malformed_paths_are_refused_before_any_request(
    tmp_path: Path, path: str, message: str
) -> None:
    signer = Signer({})
    with pytest.raises(DownloadRefusedError, match=message):
        download_checkpoint(signer, path, tmp_path / "t")
    assert signer.signed == []


@dataclass
class Exports:
    done: list[str] = field(default_factory=list)

    @contextmanager
    def __call__(self, tinker_path: str) -> Iterator[str]:
        self.done.append(tinker_path)
        yield EXPORTED


def test_a_training_checkpoint_the_service_will_not_sign_is_exported_first(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/f").respond_with_data(b"data")
    signer = Signer({"f": httpserver.url_for("/f")}, refusal=ValueError("external only"))
    exports = Exports()

    result = download_checkpoint(signer, TRAINING, tmp_path / "t", export=exports)

    assert exports.done == [TRAINING]
    assert signer.signed == [TRAINING, EXPORTED]
    assert result.files == ["f"]


def test_without_an_exporter_the_refusal_says_what_to_do(tmp_path: Path) -> None:
    signer = Signer({}, refusal=ValueError("external only"))
    with pytest.raises(DownloadRefusedError, match="export it as external weights first"):
        download_checkpoint(signer, TRAINING, tmp_path / "t")


def test_other_failures_are_not_papered_over_by_an_export(tmp_path: Path) -> None:
    signer = Signer({}, refusal=InternalServerError("down", status_code=503))
    exports = Exports()
    with pytest.raises(InternalServerError):
        download_checkpoint(signer, TRAINING, tmp_path / "t", export=exports)
    assert exports.done == []


@pytest.fixture
def local_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """The embedded server (bundled tiny model): its URL and data directory."""
    pytest.importorskip("torch", reason="the local backend needs the [local] extra")
    from tinkex.local.config import ServerConfig
    from tinkex.local.server import LocalServer

    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    data_dir = tmp_path / "server"
    server = LocalServer(ServerConfig(port=0, data_dir=data_dir))
    url = server.start()
    try:
        yield url, data_dir
    finally:
        server.stop()


def test_a_checkpoint_written_by_the_local_backend_downloads_intact(
    local_backend: tuple[str, Path], tmp_path: Path
) -> None:
    from tinkex.clients.service import ServiceClient
    from tinkex.local.config import DEFAULT_MODELS

    url, data_dir = local_backend
    with ServiceClient(base_url=url, api_key=KEY) as service:
        training = service.create_lora_training_client(DEFAULT_MODELS[0], rank=4).result(120)
        saved = training.save_state("for-download").result(120)
        result = download_checkpoint(service.create_rest_client(), saved.path, tmp_path / "ckpt")
    (stored,) = [p for p in data_dir.rglob("for-download") if p.is_dir()]

    expected = sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file())
    assert {"adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors"} <= set(
        result.files
    )
    assert result.files == expected
    for name in expected:
        assert (tmp_path / "ckpt" / name).read_bytes() == (stored / name).read_bytes()
    assert not (tmp_path / "ckpt.download").exists()
