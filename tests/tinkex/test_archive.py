"""Safe tar extraction against malicious archives, and resumable streaming downloads."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from tinkex.archive import (
    ByteStream,
    ByteStreamSource,
    ChecksumMismatchError,
    IncompleteDownloadError,
    UnsafeArchiveError,
    check_member,
    download_to_file,
    safe_extract_tar,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _build(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_extracts_a_checkpoint_with_internal_links(tmp_path: Path) -> None:
    archive = _build(
        tmp_path / "ok.tar.gz",
        [
            _file("adapter_config.json", b"{}"),
            _file("weights/adapter_model.safetensors", b"\x00\x01"),
            _link("weights/alias", "adapter_model.safetensors", tarfile.SYMTYPE),
            _link("config_copy.json", "adapter_config.json", tarfile.LNKTYPE),
        ],
    )
    target = safe_extract_tar(archive, tmp_path / "out" / "ckpt")
    assert (target / "weights" / "adapter_model.safetensors").read_bytes() == b"\x00\x01"
    assert (target / "weights" / "alias").read_bytes() == b"\x00\x01"
    assert (target / "config_copy.json").read_bytes() == b"{}"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ckpt"]
    assert _tree(target) == {
        "adapter_config.json",
        "config_copy.json",
        "weights",
        "weights/adapter_model.safetensors",
        "weights/alias",
    }


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_file("/etc/evil", b"x"), "absolute"),
        (_file("C:/evil", b"x"), "absolute"),
        (_file("../evil", b"x"), "'..'"),
        (_file("a/../../evil", b"x"), "'..'"),
        (_file("a/../b", b"x"), "'..'"),
        (_link("link", "/etc/passwd", tarfile.SYMTYPE), "absolute"),
        (_link("sub/link", "../../outside", tarfile.SYMTYPE), "'..'"),
        (_link("hard", "../outside", tarfile.LNKTYPE), "'..'"),
        (_link("dev", "", tarfile.CHRTYPE), "special file"),
        (_link("fifo", "", tarfile.FIFOTYPE), "special file"),
    ],
)
def test_refuses_malicious_members_and_writes_nothing(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None], message: str
) -> None:
    # The bad member comes last: even the good files before it must not be written.
    archive = _build(tmp_path / "bad.tar", [_file("good.txt"), member])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract_tar(archive, out / "ckpt")
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar", "out"]


def test_refuses_empty_member_name(tmp_path: Path) -> None:
    info = tarfile.TarInfo("x")
    info.name = ""
    with pytest.raises(UnsafeArchiveError, match="empty"):
        check_member(info)


def test_link_through_an_internal_symlink_is_caught_by_the_filesystem_check(
    tmp_path: Path,
) -> None:
    # Each link looks inside on its own; together they escape. The second layer refuses it.
    archive = _build(
        tmp_path / "chain.tar",
        [
            _link("up", ".", tarfile.SYMTYPE),
            _link("a", "up/up", tarfile.SYMTYPE),
            _link("deeper/x", "../a/../../escape", tarfile.SYMTYPE),
        ],
    )
    out = tmp_path / "out"
    with pytest.raises((UnsafeArchiveError, tarfile.FilterError)):
        safe_extract_tar(archive, out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.tar"]


def test_refuses_an_existing_target(tmp_path: Path) -> None:
    archive = _build(tmp_path / "ok.tar", [_file("a")])
    (tmp_path / "ckpt").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        safe_extract_tar(archive, tmp_path / "ckpt")


def _source(
    payload: bytes,
    *,
    chunk: int = 4,
    honour_range: bool = True,
    stop_after: int | None = None,
    offset_override: int | None = None,
    known_size: bool = True,
    calls: list[int] | None = None,
) -> ByteStreamSource:
    async def open_at(start: int) -> ByteStream:
        if calls is not None:
            calls.append(start)
        begin = start if honour_range else 0
        end = len(payload) if stop_after is None else min(len(payload), stop_after)

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(begin, end, chunk):
                yield payload[i : min(i + chunk, end)]

        offset = begin if offset_override is None else offset_override
        return ByteStream(chunks(), offset, len(payload) if known_size else None)

    return open_at


@pytest.mark.anyio
async def test_download_streams_to_file_with_progress_and_checksum(tmp_path: Path) -> None:
    payload = bytes(range(50))
    seen: list[tuple[int, int | None]] = []
    path = await download_to_file(
        _source(payload),
        tmp_path / "a" / "ckpt.tar",
        sha256=hashlib.sha256(payload).hexdigest().upper(),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert path.read_bytes() == payload
    assert not (tmp_path / "a" / "ckpt.tar.part").exists()
    assert seen[-1] == (50, 50)
    assert len(seen) == 13


@pytest.mark.anyio
async def test_download_resumes_from_the_part_file(tmp_path: Path) -> None:
    payload = bytes(range(40))
    target = tmp_path / "ckpt.tar"
    with pytest.raises(IncompleteDownloadError, match="resume"):
        await download_to_file(_source(payload, stop_after=17), target)
    assert (tmp_path / "ckpt.tar.part").stat().st_size == 17
    calls: list[int] = []
    await download_to_file(
        _source(payload, calls=calls),
        target,
        sha256=hashlib.sha256(payload).hexdigest(),
    )
    assert calls == [17]
    assert target.read_bytes() == payload


@pytest.mark.anyio
async def test_source_ignoring_the_range_restarts_from_zero(tmp_path: Path) -> None:
    payload = b"abcdefghij"
    (tmp_path / "f.part").write_bytes(b"XXXX")
    await download_to_file(
        _source(payload, honour_range=False, known_size=False),
        tmp_path / "f",
    )
    assert (tmp_path / "f").read_bytes() == payload


@pytest.mark.anyio
async def test_source_answering_from_the_wrong_offset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.part").write_bytes(b"abcd")
    with pytest.raises(IncompleteDownloadError, match="from byte 2"):
        await download_to_file(
            _source(b"abcdefgh", offset_override=2),
            tmp_path / "f",
        )


@pytest.mark.anyio
async def test_checksum_mismatch_deletes_the_partial_file(tmp_path: Path) -> None:
    with pytest.raises(ChecksumMismatchError, match="expected 00"):
        await download_to_file(_source(b"data"), tmp_path / "f", sha256="00" * 32)
    assert not await anyio.Path(tmp_path / "f.part").exists()
    assert not await anyio.Path(tmp_path / "f").exists()


@pytest.mark.anyio
async def test_stalled_source_times_out_and_keeps_the_part_file(tmp_path: Path) -> None:
    never = anyio.Event()

    async def open_at(start: int) -> ByteStream:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"abc"
            await never.wait()
            yield b"never"  # pragma: no cover

        return ByteStream(chunks(), start, 10)

    with pytest.raises(TimeoutError):
        await download_to_file(open_at, tmp_path / "f", idle_timeout=0.05)
    assert (tmp_path / "f.part").read_bytes() == b"abc"


@pytest.mark.anyio
async def test_idle_timeout_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        await download_to_file(_source(b""), tmp_path / "f", idle_timeout=0)
