"""Fault kinds, rates and the seeded planner that picks one fault per request.

Kept apart from the proxy so the decision logic is reproducible and testable
without sockets: same seed + same request sequence -> same faults.
"""

from __future__ import annotations

import enum
import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields


class FaultKind(enum.Enum):
    """What the proxy does to one request."""

    NONE = "none"
    SERVER_ERROR = "5xx"
    RATE_LIMIT = "429"
    REQUEST_TIMEOUT = "408"
    RESET_BEFORE = "reset_before"
    RESET_AFTER = "reset_after"
    SLOW = "slow"
    TRUNCATE = "truncate"


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault kind per request; the rest pass through untouched."""

    server_error: float = 0.0
    rate_limit: float = 0.0
    request_timeout: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0
    slow: float = 0.0
    truncate: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultRates.{f.name}={value!r}: use a probability in [0, 1]")
        if self.total > 1.0 + 1e-9:
            raise ValueError(f"FaultRates sum to {self.total:.3f}: lower them to sum to <= 1")

    @property
    def total(self) -> float:
        """Probability that a request gets any fault."""
        return sum(rate for _, rate in self._weighted())

    def _weighted(self) -> list[tuple[FaultKind, float]]:
        return [
            (FaultKind.SERVER_ERROR, self.server_error),
            (FaultKind.RATE_LIMIT, self.rate_limit),
            (FaultKind.REQUEST_TIMEOUT, self.request_timeout),
            (FaultKind.RESET_BEFORE, self.reset_before),
            (FaultKind.RESET_AFTER, self.reset_after),
            (FaultKind.SLOW, self.slow),
            (FaultKind.TRUNCATE, self.truncate),
        ]

    def pick(self, draw: float) -> FaultKind:
        """Map one uniform draw in [0, 1) to a fault kind (cumulative buckets)."""
        edge = 0.0
        for kind, rate in self._weighted():
            edge += rate
            if draw < edge:
                return kind
        return FaultKind.NONE


@dataclass(frozen=True)
class ScriptedFault:
    """A fault to apply to the next request whose path starts with ``path`` (any if None)."""

    kind: FaultKind
    path: str | None = None

    def matches(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)


@dataclass(frozen=True)
class FaultRecord:
    """One proxied request: what was asked, what fault hit it, what upstream answered."""

    method: str
    path: str
    fault: FaultKind
    upstream_status: int | None


class FaultPlanner:
    """Decides faults (script first, then seeded rates) and records what happened.

    Thread-safe: the proxy loop writes while the test thread reads.
    """

    def __init__(self, rates: FaultRates | None = None, *, seed: int = 0) -> None:
        self._rates = rates or FaultRates()
        self._seed = seed
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._script: list[ScriptedFault] = []
        self._log: list[FaultRecord] = []

    @property
    def rates(self) -> FaultRates:
        return self._rates

    def set_rates(self, rates: FaultRates) -> None:
        """Change the rates; the random stream continues (call ``reset`` to restart it)."""
        with self._lock:
            self._rates = rates

    def script(self, faults: Iterable[FaultKind | ScriptedFault], path: str | None = None) -> None:
        """Queue deterministic faults; each one is used by the next matching request."""
        with self._lock:
            for item in faults:
                entry = item if isinstance(item, ScriptedFault) else ScriptedFault(item, path)
                self._script.append(entry)

    def decide(self, path: str) -> FaultKind:
        """Pick the fault for a request; one random draw per unscripted request."""
        with self._lock:
            for index, entry in enumerate(self._script):
                if entry.matches(path):
                    del self._script[index]
                    return entry.kind
            return self._rates.pick(self._rng.random())

    def record(self, record: FaultRecord) -> None:
        with self._lock:
            self._log.append(record)

    @property
    def log(self) -> list[FaultRecord]:
        """A snapshot of every request handled so far, in completion order."""
        with self._lock:
            return list(self._log)

    @property
    def counts(self) -> Counter[FaultKind]:
        """How many requests each fault kind hit."""
        with self._lock:
            return Counter(record.fault for record in self._log)

    @property
    def pending_script(self) -> int:
        with self._lock:
            return len(self._script)

    def reset(self, *, seed: int | None = None) -> None:
        """Clear log and script and restart the random stream (same seed unless given)."""
        with self._lock:
            if seed is not None:
                self._seed = seed
            self._rng = random.Random(self._seed)
            self._script.clear()
            self._log.clear()
