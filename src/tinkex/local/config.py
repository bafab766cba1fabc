"""Settings of the local Tinker-compatible server, checked once when the server is built.

Why one frozen dataclass: the CLI, `LocalServer` and the tests build the same object, and a
bad value fails at start-up with a message naming the setting instead of mid-request.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

__all__ = ["DEFAULT_ALIASES", "DEFAULT_MODELS", "KEY_PREFIX", "ServerConfig", "parse_alias"]

DEFAULT_MODELS = ("tinkex/tiny-llama",)
"""The bundled tiny model: loads in a fraction of a second, offline."""

DEFAULT_ALIASES: Mapping[str, str] = MappingProxyType(
    {"Qwen/Qwen3-4B-Instruct-2507": "HuggingFaceTB/SmolLM2-135M-Instruct"}
)
"""Names clients may use for a local model. The tinker-cookbook only knows the models of
its `model_info` table; SmolLM2 speaks the same ChatML as this Qwen model (the cookbook's
`qwen3_instruct` renderer), so the cookbook's recipes run on it unchanged."""

KEY_PREFIX = "tml-"
"""The official client refuses API keys without this prefix."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything `tinkex.local` needs to serve; every field has a safe default.

    `api_keys` empty means "accept any key starting with `tml-`" (a single-user local
    server); otherwise only the listed keys are accepted. `long_poll_s` is how long
    `retrieve_future` holds a request before answering `try_again` (the official client
    times out after 45 s). `port=0` picks a free port. `model_aliases` maps a name clients
    send as `base_model` to a served model name or directory; the name is kept as given
    (runs, checkpoints and `get_info` report it), only the weights come from the target.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = field(default_factory=lambda: Path.home() / ".tinkex" / "local")
    models: tuple[str, ...] = DEFAULT_MODELS
    model_aliases: Mapping[str, str] = field(default_factory=lambda: DEFAULT_ALIASES)
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024 * 1024
    long_poll_s: float = 25.0
    gap_timeout_s: float = 360.0
    max_concurrent_samples: int = 4
    max_queued: int = 10_000
    future_retention_s: float = 900.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "api_keys", tuple(self.api_keys))
        object.__setattr__(self, "model_aliases", MappingProxyType(dict(self.model_aliases)))
        _check_host(self.host)
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port: must be 0..65535 (0 = any free port), got {self.port}")
        if not self.models:
            raise ValueError("models: list at least one model name or path to serve")
        for alias, target in self.model_aliases.items():
            if not alias.strip() or not target.strip() or alias == target:
                raise ValueError(
                    f"model_aliases: {alias!r} -> {target!r} is not usable; give NAME=PATH with "
                    "a non-empty name and a different model name or directory"
                )
        for key in self.api_keys:
            if not key.startswith(KEY_PREFIX) or len(key) <= len(KEY_PREFIX):
                raise ValueError(
                    f"api_keys: {key[:8]!r}... must start with {KEY_PREFIX!r} (the official "
                    "client refuses other keys); pass keys like 'tml-<secret>'"
                )
        positive = {
            "max_body_bytes": self.max_body_bytes,
            "gap_timeout_s": self.gap_timeout_s,
            "max_concurrent_samples": self.max_concurrent_samples,
            "max_queued": self.max_queued,
            "future_retention_s": self.future_retention_s,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name}: must be > 0, got {value}")
        if not 0 <= self.long_poll_s <= 30:
            raise ValueError(
                f"long_poll_s: must be 0..30 s (the official client gives up after 45 s), "
                f"got {self.long_poll_s}"
            )

    def replace(self, **changes: object) -> ServerConfig:
        """A copy with some settings changed (checked again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def parse_alias(text: str) -> tuple[str, str]:
    """`NAME=PATH` (as `--model-alias` takes it) split at the first `=` (names have none)."""
    alias, sep, target = text.partition("=")
    if not sep or not alias.strip() or not target.strip():
        raise ValueError(
            f"model alias {text!r}: expected NAME=PATH, e.g. "
            "Qwen/Qwen3-4B-Instruct-2507=/models/SmolLM2-135M-Instruct"
        )
    return alias.strip(), target.strip()


def _check_host(host: str) -> None:
    if host == "localhost":
        return
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"host: {host!r} is not an IP address; use 127.0.0.1 (local only) or 0.0.0.0"
        ) from None
