"""Safe tar extraction and resumable streaming downloads, for checkpoint archives.

Checkpoint archives come from a server we do not control, so extraction validates every
member before anything is written (no absolute paths, no ``..``, no links leaving the
target, no device files), extracts into a temporary sibling directory and renames it into
place: the target either appears complete or not at all.

Downloads stream to ``<destination>.part`` and resume from its size through a source that
honours a start offset (an HTTP ``Range`` request); the bytes source is a plain callable,
so the REST client, a file or a test can provide it.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

__all__ = [
    "ByteStream",
    "ByteStreamSource",
    "ChecksumMismatchError",
    "IncompleteDownloadError",
    "ProgressCallback",
    "UnsafeArchiveError",
    "check_member",
    "download_to_file",
    "safe_extract_tar",
]

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")

DEFAULT_IDLE_TIMEOUT = 60.0
"""Seconds a download may wait for its next chunk before giving up (resumable later)."""


class UnsafeArchiveError(ValueError):
    """A tar member would write outside the target or create a special file."""


class ChecksumMismatchError(ValueError):
    """The downloaded bytes do not match the expected SHA-256."""


class IncompleteDownloadError(IOError):
    """The source ended before the announced size; the ``.part`` file is kept for resuming."""


def safe_extract_tar(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Extract ``archive`` into the new directory ``target``, refusing any unsafe member.

    The whole member list is checked before the first byte is written; extraction goes to a
    temporary directory next to ``target`` that is renamed into place on success and removed
    on failure. ``target`` must not exist yet (delete it first to replace a checkpoint).
    """
    destination = Path(target)
    if destination.exists():
        raise FileExistsError(
            f"target {str(destination)!r} already exists; remove it or choose another directory"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member)
            # The "data" filter re-checks against the real file system (links through links).
            tar.extractall(staging, members=members, filter="data")
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def check_member(member: tarfile.TarInfo) -> None:
    """Raise UnsafeArchiveError unless ``member`` stays inside the extraction directory."""
    name = member.name
    _check_inside(name, f"member {name!r}")
    if ".." in name.split("/"):
        raise UnsafeArchiveError(f"member {name!r}: '..' components are refused")
    if member.isreg() or member.isdir():
        return
    if member.issym():
        # A symlink's target is relative to the directory holding the link.
        resolved = posixpath.join(posixpath.dirname(name), member.linkname)
        _check_inside(resolved, f"symlink {name!r} -> {member.linkname!r}")
        return
    if member.islnk():
        # A hard link's target is relative to the archive root.
        _check_inside(member.linkname, f"hard link {name!r} -> {member.linkname!r}")
        return
    raise UnsafeArchiveError(
        f"member {name!r} is a device, FIFO or other special file; checkpoint archives may "
        "only hold regular files, directories and links inside the archive"
    )


def _check_inside(path: str, what: str) -> None:
    if not path or "\0" in path:
        raise UnsafeArchiveError(f"{what}: empty or NUL-containing path")
    if path.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(path):
        raise UnsafeArchiveError(f"{what}: absolute paths are refused")
    normalised = posixpath.normpath(path)
    if normalised == ".." or normalised.startswith("../"):
        raise UnsafeArchiveError(f"{what}: '..' would leave the extraction directory")


@dataclass(frozen=True)
class ByteStream:
    """Bytes from a source, starting at ``offset`` (0 when the source ignored the range)."""

    chunks: AsyncIterator[bytes]
    offset: int
    total: int | None
    """Full size of the resource in bytes, when the source knows it."""


ByteStreamSource = Callable[[int], Awaitable[ByteStream]]
"""Opens the resource from a byte offset, e.g. with ``Range: bytes=<offset>-``."""

ProgressCallback = Callable[[int, int | None], None]
"""Called with (bytes on disk, total size or None) after every chunk."""


async def download_to_file(
    source: ByteStreamSource,
    destination: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    progress: ProgressCallback | None = None,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> Path:
    """Stream ``source`` to ``destination``, resuming a previous ``.part`` file.

    Memory stays constant whatever the size. When ``sha256`` is given the finished file is
    verified and a mismatch deletes the partial data (it cannot be trusted for resuming).
    An interrupted or short download keeps ``<destination>.part`` so a later call resumes.
    """
    if idle_timeout <= 0:
        raise ValueError(f"idle_timeout must be > 0 seconds, got {idle_timeout}")
    final = Path(destination)
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.exists() else 0
    with anyio.fail_after(idle_timeout):
        stream = await source(start)
    if stream.offset not in (0, start):
        raise IncompleteDownloadError(
            f"source answered from byte {stream.offset} when asked for byte {start}; "
            f"delete {str(part)!r} to restart the download"
        )
    hasher = hashlib.sha256()
    mode = "ab" if stream.offset == start else "wb"
    if mode == "ab" and start:
        _hash_file(part, hasher)
    written = stream.offset
    with part.open(mode) as handle:
        while True:
            with anyio.fail_after(idle_timeout):
                chunk = await anext(stream.chunks, None)
            if chunk is None:
                break
            handle.write(chunk)
            hasher.update(chunk)
            written += len(chunk)
            if progress is not None:
                progress(written, stream.total)
    if stream.total is not None and written != stream.total:
        raise IncompleteDownloadError(
            f"got {written} of {stream.total} bytes; call again to resume from {str(part)!r}"
        )
    if sha256 is not None and hasher.hexdigest() != sha256.lower():
        part.unlink()
        raise ChecksumMismatchError(
            f"sha256 of {str(final)!r} is {hasher.hexdigest()}, expected {sha256.lower()}; "
            "the partial file was deleted, download again"
        )
    os.replace(part, final)
    return final


def _hash_file(path: Path, hasher: hashlib._Hash) -> None:
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
