"""Shared fixtures for the pristine tests: anyio on asyncio, a fake clock, a telemetry sink
and a pipeline factory aimed at the loopback server."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from pristine.context import Context
from pristine.manifest import load_manifest
from pristine.pipeline import Pipeline
from pristine.telemetry import ListSink
from pristine.testing import FakeClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


PipelineFactory = Callable[..., Pipeline]


@pytest.fixture
def make_pipeline(
    httpserver: HTTPServer, clock: FakeClock, sink: ListSink
) -> Iterator[PipelineFactory]:
    """Build a Pipeline for a manifest against the loopback server, with a fake clock."""

    def build(manifest: Mapping[str, Any], **context: Any) -> Pipeline:
        options: dict[str, Any] = {
            "base_url": httpserver.url_for("/"),
            "clock": clock,
            "telemetry": sink,
            "rng": random.Random(7),
        }
        options.update(context)
        return Pipeline(load_manifest(manifest), Context(**options))

    yield build
    httpserver.check_assertions()
