"""Typed reads of environment variables, with errors that say what to fix.

`Env` takes the mapping to read (default `os.environ`, read when a value is asked for, never
at import), so tests pass a plain dict. Blank values count as unset. A bad value raises
`EnvError` naming the variable, the value and the accepted forms, except that the value of
a secret (a name ending in KEY, TOKEN or SECRET) is never repeated.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import overload

__all__ = ["Env", "EnvError"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SECRET_SUFFIXES = ("KEY", "TOKEN", "SECRET")
_DURATION = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s|m|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class EnvError(ValueError):
    """An environment variable is set to a value that cannot be used."""

    def __init__(self, name: str, value: str, accepted: str) -> None:
        secret = name.upper().endswith(_SECRET_SUFFIXES)
        self.name = name
        self.value = None if secret else value
        shown = "<hidden>" if secret else repr(value)
        super().__init__(f"environment variable {name}={shown} is invalid: expected {accepted}")


class Env:
    """Reads environment variables as str, int, float, bool, list or duration."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or default

    @overload
    def get_int(self, name: str) -> int | None: ...
    @overload
    def get_int(self, name: str, default: int) -> int: ...
    def get_int(self, name: str, default: int | None = None) -> int | None:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise EnvError(name, raw, "an integer such as 10") from None

    @overload
    def get_float(self, name: str) -> float | None: ...
    @overload
    def get_float(self, name: str, default: float) -> float: ...
    def get_float(self, name: str, default: float | None = None) -> float | None:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise EnvError(name, raw, "a finite number such as 2.5")
        return value

    @overload
    def get_bool(self, name: str) -> bool | None: ...
    @overload
    def get_bool(self, name: str, default: bool) -> bool: ...
    def get_bool(self, name: str, default: bool | None = None) -> bool | None:
        raw = self.get(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise EnvError(name, raw, "one of true/false/1/0/yes/no/on/off (any case)")

    def get_list(self, name: str, default: Sequence[str] = ()) -> list[str]:
        """Comma-separated items, trimmed, empty items dropped."""
        raw = self.get(name)
        if raw is None:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    @overload
    def get_duration(self, name: str) -> float | None: ...
    @overload
    def get_duration(self, name: str, default: float) -> float: ...
    def get_duration(self, name: str, default: float | None = None) -> float | None:
        """Seconds, from a number with an optional unit: 250ms, 30, 1.5s, 2m, 1h."""
        raw = self.get(name)
        if raw is None:
            return default
        match = _DURATION.fullmatch(raw)
        if match is None:
            raise EnvError(name, raw, "a duration such as 250ms, 30, 1.5s, 2m or 1h")
        return float(match["number"]) * _UNIT_SECONDS[match["unit"]]
