"""Signed, expiring download URLs for checkpoint files.

Why: the official CLI downloads the URLs of `get_external_weights_urls` with a bare
`urllib.request.urlopen`, no API key, like the presigned object-store URLs of the hosted
service. A local server stands in with an HMAC over the path and expiry, keyed by a secret
made at start-up, so a URL works until it expires (or the server restarts) and cannot be
altered to reach another file.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote

__all__ = ["UrlSigner"]


@dataclass(frozen=True)
class UrlSigner:
    """Sign and check `(path, expires)` pairs."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def query(self, path: str, expires: int) -> str:
        """The query string that makes `path` downloadable until `expires` (epoch seconds)."""
        return f"expires={expires}&signature={self._signature(path, expires)}"

    def valid(self, path: str, expires: str | None, signature: str | None, now: float) -> bool:
        """Whether the query of a request for `path` is a signature of ours, not expired."""
        if expires is None or signature is None or not expires.isdigit():
            return False
        expected = self._signature(path, int(expires))
        return hmac.compare_digest(expected, signature) and now < int(expires)

    def _signature(self, path: str, expires: int) -> str:
        message = f"{quote(path)}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()
