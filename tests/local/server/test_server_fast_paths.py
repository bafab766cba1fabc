"""The local server runs on uvicorn's compiled HTTP parser and event loop when installed.

h11 and the pure-Python loop cost several milliseconds of GIL time per training step, time
the worker thread's torch step then waits for (bench/bench_server.py).
"""

from __future__ import annotations

import sys

import pytest
import uvicorn

pytest.importorskip("torch", reason="the local server needs the [local] extra (torch)")


def test_the_local_extra_brings_httptools_and_uvloop() -> None:
    config = uvicorn.Config(app=lambda *_: None)
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    if sys.platform != "win32":
        loop_factory = config.get_loop_factory()
        assert loop_factory is not None
        assert loop_factory.__module__.startswith("uvloop")
