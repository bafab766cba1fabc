"""Download a checkpoint to a local directory: signed URLs -> streamed, resumable files.

The service lists a checkpoint's files as signed URLs (`RestClient.get_external_weights_urls`).
Each file streams through a pristine transport (the same adapters and timeouts as every API
call) into a staging directory next to the target, so an interrupted download resumes from
its `.part` file on the next call. A file is checked against the digest the server sends
(`Repr-Digest`/`Digest` SHA-256, or the MD5 of `x-goog-hash`), `.tar` files are unpacked
with `tinkex.archive.safe_extract_tar`, and the target appears only once everything is in.

URLs on the client's own server carry its credentials (the local backend checks them);
any other URL is pre-signed and gets none.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import anyio

from pristine.adapters.auth import ApiKeyHeader
from pristine.context import Context
from pristine.errors import APIResponseValidationError, status_error_class
from pristine.manifest import PoolPolicy
from pristine.ports.auth import Auth
from pristine.ports.transport import RawRequest, StreamedResponse, Transport, TransportFactory
from tinkex import types
from tinkex.archive import (
    ByteStream,
    ChecksumMismatchError,
    ProgressCallback,
    download_to_file,
    safe_extract_tar,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DownloadRefusedError",
    "DownloadResult",
    "Exporter",
    "ProgressFactory",
    "UrlSigner",
    "check_downloadable",
    "download_checkpoint",
    "download_checkpoint_async",
]

DEFAULT_TIMEOUT_S = 300.0
"""How long signing the URLs may take, and how long one file may go without a byte."""

REQUEST_TIMEOUT_S = 60.0
"""Connect/read timeout of each HTTP request (an idle stream fails after it)."""

RESIGN_MARGIN = timedelta(minutes=5)
"""URLs this close to expiry are signed again before the next file."""

API_KEY_HEADER = "X-API-Key"
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_POOL = PoolPolicy(max_connections=4, max_keepalive_connections=4, share_rate_limit_window=False)

ProgressFactory = Callable[[str], ProgressCallback]
"""Given a file name, returns the callback that reports its progress."""

Exporter = Callable[[str], AbstractContextManager[str]]
"""Given a training checkpoint path, a temporary `external_weights` copy of it (a context)."""


class DownloadRefusedError(ValueError):
    """This checkpoint cannot be downloaded as asked; the message says what to do instead."""


class _Pending(Protocol):
    def result(self, timeout: float | None = None) -> types.ExternalWeightsUrlsResponse: ...


class UrlSigner(Protocol):
    """The one `RestClient` method a download needs (tinkex's or the official one)."""

    def get_external_weights_urls(self, tinker_path: str) -> _Pending: ...


@dataclass(frozen=True)
class DownloadResult:
    destination: Path
    size_bytes: int
    files: list[str]
    """Paths relative to `destination`, sorted."""


def check_downloadable(tinker_path: str) -> types.ParsedCheckpointTinkerPath:
    """The parsed path, or DownloadRefusedError for bad paths and sampler checkpoints."""
    try:
        parsed = types.ParsedCheckpointTinkerPath.from_tinker_path(tinker_path)
    except ValueError as error:
        raise DownloadRefusedError(
            f"tinker_path: {tinker_path!r} is not a checkpoint path; use "
            "tinker://<run-id>/weights/<name> or tinker://<run-id>/external_weights/<name>"
        ) from error
    if parsed.checkpoint_type == "sampler":
        raise DownloadRefusedError(
            f"tinker_path: sampler checkpoints cannot be downloaded ({tinker_path}); save the "
            "run with save_state() and download tinker://<run-id>/weights/<name> instead"
        )
    return parsed


@dataclass(frozen=True)
class _Origin:
    """The client's own server (the only one that gets credentials), its auth, its transport."""

    base_url: str | None
    auth: Auth
    transport_factory: TransportFactory

    def owns(self, url: str) -> bool:
        return bool(self.base_url) and url.startswith(str(self.base_url).rstrip("/") + "/")


def _origin_of(client: object, base_url: str | None, api_key: str | None) -> _Origin:
    """Settings of a tinkex `RestClient` (its pipeline's), overridden by explicit values."""
    pipeline: Any = getattr(getattr(client, "holder", None), "pipeline", None)
    context: Context = getattr(pipeline, "context", None) or Context()
    auth, factory = context.auth, context.transport_factory
    if pipeline is not None:
        base_url = base_url or pipeline.base_url
    if api_key:
        auth = ApiKeyHeader(API_KEY_HEADER, api_key)
    return _Origin(base_url, auth, factory)


def download_checkpoint(
    rest_client: UrlSigner,
    tinker_path: str,
    output_dir: str | Path,
    *,
    progress: ProgressFactory | None = None,
    force: bool = False,
    export: Exporter | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> DownloadResult:
    """Download `tinker_path` into the new directory `output_dir` (tar files unpacked).

    `force` replaces an existing `output_dir`. A training checkpoint the service will not
    sign directly is exported first with `export` (see `tinkex checkpoint download`).
    `base_url`/`api_key` are for clients other than tinkex's `RestClient`, whose own
    settings are used otherwise. Blocking; call `download_checkpoint_async` from async code.
    """
    check_downloadable(tinker_path)
    target = Path(output_dir)
    if target.exists():
        if not force:
            raise FileExistsError(
                f"output_dir: {str(target)!r} already exists; pass force=True to replace it"
            )
        shutil.rmtree(target)
    origin = _origin_of(rest_client, base_url, api_key)
    staging = target.with_name(target.name + ".download")
    with _signed_urls(rest_client, tinker_path, export, timeout_s) as sign:
        staging.mkdir(parents=True, exist_ok=True)
        files = anyio.run(_download_all, sign, staging, origin, progress, timeout_s)
    return _install(files, staging, target)


async def download_checkpoint_async(
    rest_client: UrlSigner, tinker_path: str, output_dir: str | Path, **options: Any
) -> DownloadResult:
    """`download_checkpoint` in a worker thread, for callers inside an event loop."""

    def run() -> DownloadResult:
        return download_checkpoint(rest_client, tinker_path, output_dir, **options)

    return await anyio.to_thread.run_sync(run)


Signer = Callable[[], types.ExternalWeightsUrlsResponse]


def _refused(error: Exception) -> bool:
    """The client or server will not sign URLs for this kind of checkpoint."""
    return isinstance(error, ValueError) or getattr(error, "status_code", None) in (400, 422)


@contextmanager
def _signed_urls(
    client: UrlSigner, tinker_path: str, export: Exporter | None, timeout_s: float
) -> Iterator[Signer]:
    """A function signing the checkpoint's URLs; a training checkpoint the service will not
    sign is exported as temporary external weights (deleted by `export` afterwards)."""

    def signer(path: str) -> Signer:
        return lambda: client.get_external_weights_urls(path).result(timeout=timeout_s)

    try:
        first = signer(tinker_path)()
    except Exception as error:
        kind = check_downloadable(tinker_path).checkpoint_type
        if kind == "external" or not _refused(error):
            raise
        if export is None:
            raise DownloadRefusedError(
                f"the service does not sign URLs for {tinker_path} ({error}); export it as "
                "external weights first (pass export=, or use 'tinkex checkpoint download')"
            ) from error
        with export(tinker_path) as exported:
            yield signer(exported)
        return
    cached = [first]

    def sign_once_then_fresh() -> types.ExternalWeightsUrlsResponse:
        return cached.pop() if cached else signer(tinker_path)()

    yield sign_once_then_fresh


async def _download_all(
    sign: Signer,
    staging: Path,
    origin: _Origin,
    progress: ProgressFactory | None,
    timeout_s: float,
) -> list[Path]:
    signed = sign()
    if not signed.urls:
        raise DownloadRefusedError("the server lists no files for this checkpoint; check the path")
    destinations = {name: _local_name(name, staging) for name in signed.urls}
    credentials = await origin.auth.headers()
    transport = origin.transport_factory("checkpoint-download", _POOL)
    try:
        for name in sorted(destinations):
            if signed.expires - datetime.now(UTC) < RESIGN_MARGIN:
                signed = sign()
            url = signed.urls[name]
            get = _Getter(transport, origin, credentials)
            report = progress(name) if progress is not None else None
            await _fetch(get, url, destinations[name], report, timeout_s)
    finally:
        await transport.aclose()
    return [destinations[name] for name in sorted(destinations)]


def _local_name(name: str, directory: Path) -> Path:
    candidate = (directory / name).resolve()
    if not candidate.is_relative_to(directory.resolve()) or candidate == directory.resolve():
        raise DownloadRefusedError(
            f"the server named an unsafe file {name!r}; the checkpoint listing may be corrupt "
            "or malicious, report it to the server's operator"
        )
    return candidate


@dataclass(frozen=True)
class _Getter:
    """GETs through a pristine transport: credentials only for the client's own server."""

    transport: Transport
    origin: _Origin
    credentials: Mapping[str, str]

    async def open(self, url: str, offset: int, stack: AsyncExitStack) -> StreamedResponse:
        """`url` from byte `offset`, following redirects, kept open until `stack` closes."""
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Accept-Encoding": "identity"}
            if self.origin.owns(target):
                headers.update(self.credentials)
            if offset:
                headers["Range"] = f"bytes={offset}-"
            attempt = AsyncExitStack()
            request = RawRequest("GET", target, headers, timeout_s=REQUEST_TIMEOUT_S)
            answer = await attempt.enter_async_context(self.transport.stream(request))
            location = answer.headers.get("location")
            if answer.status in _REDIRECTS and location:
                await attempt.aclose()
                target = urljoin(target, location)
                continue
            if answer.status >= 400:
                body = b"".join([chunk async for chunk in answer.chunks])[:500]
                await attempt.aclose()
                raise status_error_class(answer.status)(
                    f"download of {target.split('?', 1)[0]} failed with HTTP {answer.status}; "
                    "check the path (e.g. 'tinkex checkpoint list'), then retry: it resumes",
                    status_code=answer.status,
                    headers=answer.headers,
                    body=body.decode("utf-8", "replace"),
                )
            stack.push_async_callback(attempt.aclose)
            return answer
        raise DownloadRefusedError(f"more than {MAX_REDIRECTS} redirects downloading {url}")


async def _fetch(
    get: _Getter,
    url: str,
    destination: Path,
    progress: ProgressCallback | None,
    timeout_s: float,
) -> None:
    digests: list[tuple[str, str]] = []
    async with AsyncExitStack() as stack:

        async def open_from(offset: int) -> ByteStream:
            answer = await get.open(url, offset, stack)
            if answer.headers.get("content-encoding", "identity") != "identity":
                raise APIResponseValidationError(
                    f"the server encoded {destination.name} although asked for identity; "
                    "report it to the server's operator"
                )
            digests[:] = _expected_digests(answer.headers)
            start = offset if answer.status == 206 else 0
            length = answer.headers.get("content-length")
            total = start + int(length) if length is not None else None
            return ByteStream(chunks=answer.chunks, offset=start, total=total)

        await download_to_file(open_from, destination, progress=progress, idle_timeout=timeout_s)
    _verify(destination, digests)


def _expected_digests(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """(hashlib name, hex digest) pairs the server vouches for, over the whole file."""
    found: list[tuple[str, str]] = []
    for field in ("repr-digest", "digest"):
        for item in headers.get(field, "").split(","):
            algorithm, _, value = item.strip().partition("=")
            if algorithm.lower() == "sha-256" and value:
                found.append(("sha256", _hex(value.strip(":"))))
    for item in headers.get("x-goog-hash", "").split(","):
        algorithm, _, value = item.strip().partition("=")
        if algorithm == "md5" and value:
            found.append(("md5", _hex(value)))
    return found


def _hex(b64: str) -> str:
    return base64.b64decode(b64 + "=" * (-len(b64) % 4)).hex()


def _verify(path: Path, digests: list[tuple[str, str]]) -> None:
    for algorithm, expected in digests:
        hasher = hashlib.new(algorithm)
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
        if hasher.hexdigest() != expected:
            path.unlink()
            raise ChecksumMismatchError(
                f"{algorithm} of {path.name} is {hasher.hexdigest()}, the server says "
                f"{expected}; the file was deleted, download again"
            )


def _install(files: list[Path], staging: Path, target: Path) -> DownloadResult:
    """Move the downloaded files (tar archives unpacked) from `staging` into `target`."""
    target.mkdir(parents=True)
    try:
        for path in files:
            if path.suffix == ".tar":
                unpacked = safe_extract_tar(path, staging / (path.name + ".d"))
                for item in unpacked.iterdir():
                    item.rename(target / item.name)
            else:
                relative = path.relative_to(staging.resolve())
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                path.rename(target / relative)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    names = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    size = sum((target / name).stat().st_size for name in names)
    return DownloadResult(destination=target, size_bytes=size, files=names)
