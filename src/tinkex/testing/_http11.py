"""Just enough HTTP/1.1 on asyncio streams for the fault proxy's client side.

The proxy must control the socket (RSTs, truncation, holding a response), which an
ASGI server hides, so it speaks the wire format itself; upstream goes through httpx.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

import httpx

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "host",
    }
)
MAX_HEADER_BYTES = 64 * 1024


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool


class ClientGone(Exception):
    """The client closed its connection mid-request."""


def reset_connection(writer: asyncio.StreamWriter) -> None:
    """Abort with a TCP RST (SO_LINGER 0) rather than a graceful FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def status_head(status: int, headers: Sequence[tuple[str, str]], extra: dict[str, str]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def write_simple(
    writer: asyncio.StreamWriter,
    response: tuple[int, list[tuple[str, str]], bytes],
    keep_alive: bool,
) -> None:
    status, headers, body = response
    extra = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "keep-alive" if keep_alive else "close",
    }
    writer.write(status_head(status, headers, extra) + body)
    await writer.drain()


async def read_raw(response: httpx.Response) -> bytes:
    return b"".join([chunk async for chunk in response.aiter_raw()])


async def stream_response(
    request: Request,
    response: httpx.Response,
    headers: list[tuple[str, str]],
    writer: asyncio.StreamWriter,
) -> bool:
    """Pass the upstream response through, keeping its framing (length or chunked)."""
    connection = {"Connection": "keep-alive" if request.keep_alive else "close"}
    length = response.headers.get("content-length")
    no_body = request.method == "HEAD" or response.status_code in (204, 304)
    if no_body or length is not None:
        extra = {"Content-Length": length} if length is not None else {}
        writer.write(status_head(response.status_code, headers, extra | connection))
        if not no_body:
            async for chunk in response.aiter_raw():
                writer.write(chunk)
                await writer.drain()
        await writer.drain()
        return request.keep_alive
    extra = {"Transfer-Encoding": "chunked"} | connection
    writer.write(status_head(response.status_code, headers, extra))
    async for chunk in response.aiter_raw():
        if chunk:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return request.keep_alive


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Parse one HTTP/1.1 request; None on a clean close between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise ClientGone from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise ClientGone from exc
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    lookup = {k.lower(): v.lower() for k, v in headers}
    if "chunked" in lookup.get("transfer-encoding", ""):
        body = await read_chunked(reader)
    else:
        body = await reader.readexactly(int(lookup.get("content-length", "0")))
    connection = lookup.get("connection", "")
    keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
    return Request(method, target, headers, body, keep_alive)


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # skip trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
