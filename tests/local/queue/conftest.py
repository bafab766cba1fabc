from __future__ import annotations

import pytest

from pristine.testing import FakeClock
from tinkex.local.futures import FutureRegistry


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(fake_clock: FakeClock) -> FutureRegistry:
    return FutureRegistry(clock=fake_clock, retention_s=60.0, max_retained=100)
