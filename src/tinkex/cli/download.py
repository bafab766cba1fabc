"""Fetching a checkpoint's files to disk: signed URLs -> streamed, resumable downloads.

A checkpoint is served as one or more files (`get_external_weights_urls`); a `.tar` file is
unpacked with `tinkex.archive.safe_extract_tar`, anything else is kept as is. URLs on the
configured server carry the API key (the local backend checks it); other URLs are signed
and get no credentials.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import click
import httpx

from tinkex import types
from tinkex.archive import ByteStream, ProgressCallback, download_to_file, safe_extract_tar
from tinkex.cli.context import CliContext, CliError

__all__ = ["DownloadResult", "ProgressFactory", "download_checkpoint", "target_directory"]

DOWNLOAD_TIMEOUT_S = 60.0
"""Connect/read timeout of each HTTP request of a download (an idle stream fails after it)."""

ProgressFactory = Callable[[str], ProgressCallback]
"""Given a file name, returns the callback that reports its progress."""


@dataclass(frozen=True)
class DownloadResult:
    destination: Path
    size_bytes: int
    files: list[str]


def parse_downloadable(tinker_path: str) -> types.ParsedCheckpointTinkerPath:
    try:
        parsed = types.ParsedCheckpointTinkerPath.from_tinker_path(tinker_path)
    except ValueError as error:
        raise CliError(
            f"invalid checkpoint path {tinker_path!r}",
            "use tinker://<run-id>/weights/<name> or tinker://<run-id>/external_weights/<name>",
        ) from error
    if parsed.checkpoint_type == "sampler":
        raise CliError(
            f"sampler checkpoints cannot be downloaded: {tinker_path}",
            "download the training checkpoint (tinker://<run-id>/weights/<name>) instead",
        )
    return parsed


def target_directory(tinker_path: str, output: Path | None) -> Path:
    """`<output>/<run>_<kind>_<name>`: one directory per checkpoint."""
    name = tinker_path.removeprefix("tinker://").replace("/", "_")
    return (output or Path.cwd()) / name


def _credentials_for(url: str, ctx: CliContext) -> dict[str, str]:
    base_url = ctx.effective_base_url()
    key = ctx.api_key
    if base_url and key and url.startswith(base_url.rstrip("/") + "/"):
        return {"X-API-Key": key}
    return {}


def _local_name(name: str, directory: Path) -> Path:
    candidate = (directory / name).resolve()
    if not candidate.is_relative_to(directory.resolve()):
        raise CliError(
            f"the server named an unsafe file {name!r}",
            "the checkpoint listing may be corrupt; report it to the server's operator",
        )
    return candidate


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    destination: Path,
    progress: ProgressCallback,
    credentials: dict[str, str],
) -> None:
    async with contextlib.AsyncExitStack() as stack:

        async def open_from(offset: int) -> ByteStream:
            headers = {**credentials, **({"Range": f"bytes={offset}-"} if offset else {})}
            request = client.build_request("GET", url, headers=headers)
            response = await client.send(request, stream=True)
            stack.push_async_callback(response.aclose)
            if response.status_code >= 400:
                await response.aread()
                raise CliError(
                    f"download of {destination.name} failed with HTTP {response.status_code}",
                    "check the path with 'tinkex checkpoint list', then retry (it resumes)",
                )
            start = offset if response.status_code == 206 else 0
            length = response.headers.get("content-length")
            total = start + int(length) if length is not None else None
            chunks: AsyncIterator[bytes] = response.aiter_bytes()
            return ByteStream(chunks=chunks, offset=start, total=total)

        await download_to_file(open_from, destination, progress=progress)


async def _download_all(
    urls: dict[str, str], directory: Path, ctx: CliContext, progress: ProgressFactory
) -> list[Path]:
    saved: list[Path] = []
    timeout = httpx.Timeout(DOWNLOAD_TIMEOUT_S)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
        for name, url in sorted(urls.items()):
            destination = _local_name(name, directory)
            credentials = _credentials_for(url, ctx)
            await _fetch(client, url, destination, progress(name), credentials)
            saved.append(destination)
    return saved


def download_checkpoint(
    ctx: CliContext,
    tinker_path: str,
    target: Path,
    *,
    force: bool,
    progress: ProgressFactory,
) -> DownloadResult:
    """Download (and unpack) a checkpoint into the new directory `target`."""
    parse_downloadable(tinker_path)
    if target.exists():
        if not force:
            raise CliError(
                f"{target} already exists", "pass --force to replace it, or choose --output"
            )
        shutil.rmtree(target)
    staging = target.with_name(target.name + ".download")
    with _file_urls(ctx, tinker_path) as urls:
        if not urls:
            raise CliError(f"the server lists no files for {tinker_path}", "check the path")
        staging.mkdir(parents=True, exist_ok=True)
        files = anyio.run(_download_all, urls, staging, ctx, progress)
    return _install(files, staging, target)


def _refused(error: Exception) -> bool:
    """The client or server will not sign URLs for this kind of checkpoint."""
    return isinstance(error, ValueError) or getattr(error, "status_code", None) in (400, 422)


@contextlib.contextmanager
def _file_urls(ctx: CliContext, tinker_path: str) -> Iterator[dict[str, str]]:
    """Signed file URLs; a training checkpoint the server will not sign directly is first
    exported as temporary external weights (deleted afterwards), like the official CLI."""
    rest = ctx.rest()
    try:
        direct: dict[str, str] | None = ctx.wait(rest.get_external_weights_urls(tinker_path)).urls
    except Exception as error:
        if parse_downloadable(tinker_path).checkpoint_type == "external" or not _refused(error):
            raise
        direct = None
    if direct is not None:
        yield direct
        return
    if not ctx.json:
        click.echo(f"Exporting {tinker_path} as external weights first...", err=True)
    exported = ctx.clients.exported(ctx.base_url, ctx.api_key, tinker_path, ctx.timeout_s)
    with exported as export_path:
        yield ctx.wait(rest.get_external_weights_urls(export_path)).urls


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
                path.rename(target / path.name)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    names = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    size = sum((target / name).stat().st_size for name in names)
    return DownloadResult(destination=target, size_bytes=size, files=names)
