"""Errors the store raises; the HTTP routes map them to status codes.

```
ValueError
 └─ UserInputError        bad name, path, limit or TTL: the caller must fix the request (400)
     └─ ConflictError     the name is taken (a checkpoint exists and overwrite was not asked) (409)
LookupError
 └─ NotFoundError         no such session, run, checkpoint or sampler (404)
```
"""

from __future__ import annotations

__all__ = ["ConflictError", "NotFoundError", "UserInputError"]


class UserInputError(ValueError):
    """The request carried a value the server refuses; the message names the field and the fix."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class ConflictError(UserInputError):
    """The name is already taken."""


class NotFoundError(LookupError):
    """The named object does not exist (or no longer exists)."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} not found: {key!r}")
        self.kind = kind
        self.key = key
