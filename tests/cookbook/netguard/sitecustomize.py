"""Record every network attempt that would leave loopback (put this directory on PYTHONPATH).

Python loads `sitecustomize` at start-up; the audit hook sees each `socket.connect` and
`socket.getaddrinfo` and appends the non-loopback ones to `$COOKBOOK_NET_LOG`, so the
driver can prove the recipes stayed offline without trusting their own logging.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from typing import Any

_LOG = os.environ.get("COOKBOOK_NET_LOG")
_LOCAL_NAMES = {"localhost", "", None}


def _is_local(host: object) -> bool:
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else None
        if isinstance(address, tuple) and not _is_local(host):
            _record(f"connect {address!r}")
    elif event == "socket.getaddrinfo" and not _is_local(args[0]):
        _record(f"getaddrinfo {args[0]!r}")


def _record(line: str) -> None:
    assert _LOG is not None
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {' '.join(sys.argv)[:200]}: {line}\n")


if _LOG:
    sys.addaudithook(_audit)
