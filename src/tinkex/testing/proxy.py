"""A seeded fault-injecting HTTP/1.1 reverse proxy for reliability tests.

Runs its own asyncio loop in a background thread on 127.0.0.1, forwards to an
upstream base URL with httpx (streaming, so SSE and chunked bodies pass through)
and injects the faults chosen by a :class:`FaultPlanner`. Resets are real TCP
RSTs, so clients see the same errors they would see on a flaky network.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import httpx

from tinkex.testing._http11 import (
    HOP_BY_HOP,
    MAX_HEADER_BYTES,
    ClientGone,
    Request,
    read_raw,
    read_request,
    reset_connection,
    status_head,
    stream_response,
    write_simple,
)
from tinkex.testing.faults import (
    FaultKind,
    FaultPlanner,
    FaultRates,
    FaultRecord,
    ScriptedFault,
)

# Faults answered by the proxy itself; upstream never sees the request.
_SYNTHETIC = frozenset({FaultKind.SERVER_ERROR, FaultKind.RATE_LIMIT, FaultKind.REQUEST_TIMEOUT})


@dataclass(frozen=True)
class FaultOptions:
    """How injected faults look: statuses, Retry-After and the slow-mode hold time."""

    server_error_status: int = 503
    retry_after: float = 1.0
    retry_after_ms: bool = False
    slow_delay: float = 30.0
    upstream_timeout: float = 60.0
    start_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not 500 <= self.server_error_status <= 599:
            raise ValueError(
                f"server_error_status={self.server_error_status}: use a 5xx status code"
            )
        for name in ("retry_after", "slow_delay", "upstream_timeout", "start_timeout"):
            if getattr(self, name) < 0:
                raise ValueError(f"FaultOptions.{name} must be >= 0 seconds")


class FaultProxy:
    """Reverse proxy that injects seeded or scripted faults; ``start()`` returns its URL."""

    def __init__(
        self,
        upstream: str,
        *,
        rates: FaultRates | None = None,
        seed: int = 0,
        options: FaultOptions | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not upstream.startswith(("http://", "https://")):
            raise ValueError(f"upstream={upstream!r}: give an http:// or https:// base URL")
        self.upstream = upstream.rstrip("/")
        self.options = options or FaultOptions()
        self.planner = FaultPlanner(rates, seed=seed)
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._release = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._release_async: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> str:
        """Bind, start the loop thread and return ``http://127.0.0.1:<port>``."""
        if self._thread is not None:
            raise RuntimeError("FaultProxy already started; call stop() first")
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.options.start_timeout):
            raise TimeoutError(f"fault proxy did not start within {self.options.start_timeout}s")
        if self._error is not None:
            self._thread.join(self.options.start_timeout)
            self._thread = None
            raise RuntimeError(f"fault proxy failed to start: {self._error}") from self._error
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Drop every connection (held responses included) and join the loop thread."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = self._loop = self._stopping = self._release_async = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- control -----------------------------------------------------------------------------

    def script(self, faults: Iterable[FaultKind | ScriptedFault], path: str | None = None) -> None:
        """Apply these faults, in order, to the next requests (matching ``path`` if given)."""
        self.planner.script(faults, path)

    def set_rates(self, rates: FaultRates) -> None:
        self.planner.set_rates(rates)

    def release_slow(self) -> None:
        """Let every held (slow) response go; later slow faults are not held any more."""
        self._release.set()
        loop, release = self._loop, self._release_async
        if loop is not None and release is not None:
            loop.call_soon_threadsafe(release.set)

    def reset(self, *, seed: int | None = None) -> None:
        """Clear log, counters and script, re-arm slow holds and restart the seeded stream."""
        self.planner.reset(seed=seed)
        self._release.clear()
        loop, release = self._loop, self._release_async
        if loop is not None and release is not None:
            loop.call_soon_threadsafe(release.clear)

    @property
    def log(self) -> list[FaultRecord]:
        return self.planner.log

    @property
    def counts(self) -> Counter[FaultKind]:
        return self.planner.counts

    # -- loop thread -------------------------------------------------------------------------

    def _run(self) -> None:
        self._error = None
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._release_async = asyncio.Event()
        if self._release.is_set():
            self._release_async.set()
        handlers: set[asyncio.Task[None]] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await self._handle_connection(client, reader, writer)
            finally:
                handlers.discard(task)

        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        timeout = httpx.Timeout(self.options.upstream_timeout)
        async with httpx.AsyncClient(
            base_url=self.upstream, timeout=timeout, limits=limits, trust_env=False
        ) as client:
            server = await asyncio.start_server(
                on_connect, self._host, self._port, limit=MAX_HEADER_BYTES
            )
            port = server.sockets[0].getsockname()[1]
            self.base_url = f"http://{self._host}:{port}"
            self._ready.set()
            async with server:
                await self._stopping.wait()
                server.close()
                for task in list(handlers):
                    task.cancel()
                await asyncio.gather(*handlers, return_exceptions=True)

    async def _handle_connection(
        self,
        client: httpx.AsyncClient,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            keep_alive = True
            while keep_alive:
                request = await read_request(reader)
                if request is None:
                    break
                keep_alive = await self._handle_request(client, request, reader, writer)
        except (ClientGone, ConnectionError, asyncio.IncompleteReadError, ValueError):
            # The client left or sent something unparsable: drop the connection.
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _handle_request(
        self,
        client: httpx.AsyncClient,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Serve one request; return whether the connection may carry another.

        Each request is logged before the client can observe its outcome, so a test
        that has seen the response (or the error) also sees the log entry.
        """
        path = request.target.split("?", 1)[0]
        fault = self.planner.decide(path)

        def note(upstream_status: int | None) -> None:
            self.planner.record(FaultRecord(request.method, path, fault, upstream_status))

        if fault is FaultKind.RESET_BEFORE:
            note(None)
            reset_connection(writer)
            return False
        if fault in _SYNTHETIC:
            note(None)
            await write_simple(writer, self._synthetic_response(fault), request.keep_alive)
            return request.keep_alive
        upstream_request = client.build_request(
            request.method,
            request.target,
            headers=[(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP],
            content=request.body,
        )
        try:
            response = await client.send(upstream_request, stream=True)
        except httpx.HTTPError as exc:
            note(None)
            body = f"fault proxy: upstream unreachable: {exc!r}".encode()
            await write_simple(writer, (502, [], body), request.keep_alive)
            return request.keep_alive
        try:
            note(response.status_code)
            return await self._deliver(fault, request, response, reader, writer)
        finally:
            await response.aclose()

    def _synthetic_response(self, fault: FaultKind) -> tuple[int, list[tuple[str, str]], bytes]:
        if fault is FaultKind.SERVER_ERROR:
            return self.options.server_error_status, [], b'{"error":"injected server error"}'
        if fault is FaultKind.RATE_LIMIT:
            seconds = self.options.retry_after
            if self.options.retry_after_ms:
                header = ("Retry-After-Ms", str(round(seconds * 1000)))
            else:
                header = ("Retry-After", f"{seconds:g}")
            return 429, [header], b'{"error":"injected rate limit"}'
        return 408, [], b'{"error":"injected request timeout"}'

    async def _deliver(
        self,
        fault: FaultKind,
        request: Request,
        response: httpx.Response,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in HOP_BY_HOP]
        if fault is FaultKind.RESET_AFTER:
            await response.aread()
            reset_connection(writer)
            return False
        if fault is FaultKind.TRUNCATE:
            body = await read_raw(response)
            declared = max(len(body), 2)
            head = status_head(response.status_code, headers, {"Content-Length": str(declared)})
            writer.write(head + body[: declared // 2])
            await writer.drain()
            writer.close()
            return False
        if fault is FaultKind.SLOW:
            await self._hold(reader)
        return await stream_response(request, response, headers, writer)

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """Hold the response until released, the delay passes, or the client goes away."""
        assert self._release_async is not None
        released = asyncio.ensure_future(self._release_async.wait())
        gone = asyncio.ensure_future(reader.read(1))
        try:
            done, _ = await asyncio.wait(
                {released, gone},
                timeout=self.options.slow_delay,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            released.cancel()
            gone.cancel()
        if gone in done:
            raise ClientGone
