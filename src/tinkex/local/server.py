"""Run the local server: in a background thread (tests, notebooks) or blocking (the CLI).

`LocalServer(config).start()` binds the socket itself (port 0 picks a free one, so tests
never collide), runs uvicorn in a daemon thread and returns once the app's start-up (store
opened, queue running) has finished, signalled by an event rather than by polling.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

import uvicorn

from tinkex.local.app import create_app
from tinkex.local.config import ServerConfig

__all__ = [
    "DEFAULT_START_TIMEOUT_S",
    "DEFAULT_STOP_TIMEOUT_S",
    "LocalServer",
    "bind",
    "serve",
    "url_of",
]

DEFAULT_START_TIMEOUT_S = 60.0
DEFAULT_STOP_TIMEOUT_S = 30.0
LISTEN_BACKLOG = 2048


class _SignallingServer(uvicorn.Server):
    """A uvicorn server that sets an event once start-up has finished (or failed)."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self._ready.set()

    def run_quietly(self, sockets: list[socket.socket]) -> None:
        """`run`, except that a failed start-up (uvicorn exits, after logging why) only
        ends this thread; `LocalServer.start` reports it."""
        with contextlib.suppress(SystemExit):
            self.run(sockets=sockets)


def _uvicorn_config(config: ServerConfig) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(config),
        host=config.host,
        port=config.port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


class LocalServer:
    """The server in a background thread: `start()` -> base URL, `stop()`, or `with`."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._server: _SignallingServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> str:
        """Bind, serve and wait until ready; returns e.g. `http://127.0.0.1:54321`."""
        if self._thread is not None:
            raise RuntimeError("the server is already running; stop() it first")
        sock = bind(self.config)
        ready = threading.Event()
        server = _SignallingServer(_uvicorn_config(self.config), ready)
        thread = threading.Thread(
            target=server.run_quietly, args=([sock],), name="tinkex-local", daemon=True
        )
        thread.start()
        if not ready.wait(timeout_s) or not server.started:
            server.should_exit = True
            thread.join(DEFAULT_STOP_TIMEOUT_S)
            sock.close()
            raise RuntimeError(
                f"tinkex.local did not start within {timeout_s} s (see the log above); "
                f"check that --data-dir {self.config.data_dir} is writable"
            )
        self._server, self._thread = server, thread
        self.base_url = url_of(sock)
        return self.base_url

    def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """Stop serving, fail unfinished requests, close the store; idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout_s)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout_s)
        self._server = self._thread = None
        self.base_url = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def bind(config: ServerConfig) -> socket.socket:
    """A listening socket for `config` (port 0: any free port), or an error saying what to do."""
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # `proto` says TCP, and accepted sockets inherit it. With proto 0, every answer on a
    # kept-alive connection waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {config.host}:{config.port} ({exc}); "
            "pick another port, or port 0 for any free one"
        ) from exc
    # Listen now, so clients that connect before uvicorn is up wait instead of being refused.
    sock.listen(LISTEN_BACKLOG)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def serve(config: ServerConfig, sock: socket.socket | None = None) -> None:
    """Serve in the foreground until Ctrl-C (uvicorn handles the signals)."""
    uvicorn.Server(_uvicorn_config(config)).run(sockets=[sock or bind(config)])
