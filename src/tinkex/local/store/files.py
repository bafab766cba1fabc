"""File-system steps of a crash-safe checkpoint write: fsync, digest, rename, remove."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

__all__ = ["fsync_directory", "fsync_tree", "remove_tree", "tree_digest"]

_CHUNK = 1 << 20


def fsync_directory(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under `root`, so a rename publishes complete data."""
    for directory, _, files in os.walk(root):
        for name in files:
            fd = os.open(Path(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(Path(directory))


def tree_digest(root: Path) -> tuple[str, int]:
    """sha256 over every file's relative path and contents (sorted), and the total size.

    Symlinks are refused: a checkpoint must not point outside its own directory.
    """
    digest = hashlib.sha256()
    size = 0
    files: list[Path] = []
    for path in root.rglob("*"):
        if path.is_symlink():
            raise ValueError(f"checkpoint contains a symlink, which is not allowed: {path}")
        if path.is_file():
            files.append(path)
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        # Name and length first, so no two different trees can feed the same byte stream.
        header = f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0"
        digest.update(header.encode())
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    return digest.hexdigest(), size


def remove_tree(path: Path) -> None:
    """Remove a directory tree if it exists."""
    shutil.rmtree(path, ignore_errors=True)
