"""`RecoveryPolicy`: how often to checkpoint, which failures to recover, how hard to try."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tinkex.recovery.monitor import is_recoverable

__all__ = ["RecoveryPolicy"]


@dataclass(frozen=True)
class RecoveryPolicy:
    """Opt-in recovery settings; the defaults suit the hosted service.

    `max_attempts` is the number of restores in a row without a completed step in between
    (a step that completes resets the count). The n-th restore waits
    `min(backoff_s * 2**(n-1), max_backoff_s)` first, giving a restarting server time.
    """

    max_attempts: int = 3
    backoff_s: float = 5.0
    max_backoff_s: float = 60.0
    checkpoint_every: int = 10
    """Save the training state (weights + optimizer) after every this many steps."""
    restore_optimizer: bool = True
    """Restore with `create_training_client_from_state_with_optimizer` (else weights only)."""
    timeout_s: float = 600.0
    """How long one save, restore or health check may take."""
    recoverable: Callable[[BaseException], bool] = is_recoverable
    """Which failures trigger a restore; anything else is raised at once."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        for name in ("backoff_s", "max_backoff_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value}")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError(
                f"timeout_s must be a finite number of seconds > 0, got {self.timeout_s}"
            )

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before restore number `attempt` (1-based)."""
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))
