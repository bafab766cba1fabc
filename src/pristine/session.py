"""Keeping a server-side session alive with a background heartbeat.

The server drops a session that stops beating, so an SDK runs `Heartbeat` for as long as
the session is in use. A beat that fails is not fatal (the network may come back), except
HTTP 410: the session is gone for good and beating on would only spam the server.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import anyio
from anyio.abc import TaskGroup

from pristine.errors import APIStatusError
from pristine.ports.clock import Clock

__all__ = ["Heartbeat"]

_logger = logging.getLogger(__name__)


class Heartbeat:
    """Calls `beat` every `interval_s` in a background task until stopped.

    Each beat is cut off after `timeout_s` (on the event loop's timer: a hung connection is
    a real-time event). When no beat has succeeded for `warn_after_s`, one warning is
    logged (and passed to `on_warning`) for that silence; the next success re-arms it.
    A beat raising `APIStatusError` 410 stops the heartbeat and sets `stopped_reason`.

    Use it as `async with Heartbeat(...)`, or `await start()` / `await stop()` from the
    same task.
    """

    def __init__(
        self,
        beat: Callable[[], Awaitable[None]],
        *,
        interval_s: float = 10.0,
        timeout_s: float = 10.0,
        warn_after_s: float = 120.0,
        clock: Clock,
        on_warning: Callable[[str], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._beat = beat
        self._interval_s = _checked("interval_s", interval_s, allow_zero=False)
        self._timeout_s = _checked("timeout_s", timeout_s, allow_zero=False)
        self._warn_after_s = _checked("warn_after_s", warn_after_s, allow_zero=True)
        self._clock = clock
        self._on_warning = on_warning
        self._logger = logger or _logger
        self._task_group: TaskGroup | None = None
        self._stopped = anyio.Event()
        self._last_success = 0.0
        self._warned = False
        self.stopped_reason: str | None = None
        self.last_error: BaseException | None = None
        self.consecutive_failures = 0

    @property
    def running(self) -> bool:
        return self._task_group is not None and not self._stopped.is_set()

    async def start(self) -> None:
        """Start beating in the background; the first beat comes after one interval."""
        if self._task_group is not None:
            raise RuntimeError("Heartbeat is already running; call stop() before start()")
        self._stopped = anyio.Event()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        task_group.start_soon(self._run)
        self._task_group = task_group

    async def stop(self) -> None:
        """Stop beating (idempotent); waits for an in-flight beat to be cancelled."""
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return
        task_group.cancel_scope.cancel()
        await task_group.__aexit__(None, None, None)
        self._stopped.set()

    async def wait_stopped(self) -> None:
        """Return once the heartbeat has stopped, by `stop()` or because the session is gone."""
        await self._stopped.wait()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _run(self) -> None:
        self._last_success = self._clock.monotonic()
        while True:
            await self._clock.sleep(self._interval_s)
            try:
                with anyio.fail_after(self._timeout_s):
                    await self._beat()
            except APIStatusError as error:
                if error.status_code == 410:
                    self.stopped_reason = f"session gone (HTTP 410): {error.message}"
                    self._logger.info("heartbeat stopped: %s", self.stopped_reason)
                    self._stopped.set()
                    return
                self._failed(error)
            except Exception as error:  # any other failure may be transient: keep beating
                self._failed(error)
            else:
                self._last_success = self._clock.monotonic()
                self._warned = False
                self.last_error = None
                self.consecutive_failures = 0

    def _failed(self, error: Exception) -> None:
        self.last_error = error
        self.consecutive_failures += 1
        silent_s = self._clock.monotonic() - self._last_success
        if self._warned or silent_s < self._warn_after_s:
            return
        self._warned = True
        message = (
            f"session heartbeat has failed for {silent_s:.0f}s "
            f"({self.consecutive_failures} beat(s)); last error: {type(error).__name__}: "
            f"{error}. The connection may be unreliable or the service down; the server "
            "ends sessions that stop beating."
        )
        self._logger.warning("%s", message)
        if self._on_warning is not None:
            self._on_warning(message)


def _checked(name: str, value: float, *, allow_zero: bool) -> float:
    if math.isfinite(value) and (value > 0 or (allow_zero and value == 0)):
        return value
    bound = ">= 0" if allow_zero else "> 0"
    raise ValueError(f"Heartbeat: {name} must be a finite number {bound}, got {value}")
