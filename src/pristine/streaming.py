"""Server-sent events: an incremental decoder that follows the WHATWG event-stream rules.

Bytes arrive in arbitrary chunks; `SSEDecoder.feed` accepts them as they come (a chunk may
end inside a multi-byte character or between the CR and LF of one line break) and returns
the events completed so far. `aiter_sse` does the same over an async byte stream.

Rules (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
lines end in CRLF, LF or CR; a leading BOM is dropped; `:` starts a comment; one space after
the field's colon is stripped; `data` lines are joined with "\\n"; a blank line dispatches
the event, unless the block had no `data` line; `id` containing NUL is ignored and the last
id persists across events; `retry` counts only when it is all ASCII digits; an event
without its closing blank line at the end of the stream is dropped.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["SSEDecoder", "SSEEvent", "aiter_sse"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. `id` is the last event id in effect (None if none is set);
    `retry` is the reconnection time in ms sent in this event's block, if any."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """The data parsed as JSON; raises ValueError saying which event was not JSON."""
        try:
            return orjson.loads(self.data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(
                f"SSE event {self.event!r} (id={self.id!r}) has data that is not JSON "
                f"({exc}); data starts with {self.data[:80]!r}. Read `.data` for raw text."
            ) from exc


class SSEDecoder:
    """Turns a byte stream into `SSEEvent`s, chunk by chunk.

    Call `feed` for every chunk and `flush` once at the end of the stream. The decoder
    keeps the last event id and reconnection time, which a caller needs to resume.
    """

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._at_stream_start = True
        self._data: list[str] = []
        self._event = ""
        self._block_retry: int | None = None
        self.last_event_id = ""
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode one chunk; returns the events whose closing blank line it completed."""
        return self._consume(self._utf8.decode(chunk), final=False)

    def flush(self) -> list[SSEEvent]:
        """End of stream: finish a pending CR line break; drop an unterminated event."""
        events = self._consume(self._utf8.decode(b"", final=True), final=True)
        self._text = ""
        self._reset_block()
        return events

    def _consume(self, text: str, *, final: bool) -> list[SSEEvent]:
        if self._at_stream_start and text:
            self._at_stream_start = False
            text = text.removeprefix(_BOM)
        buffer = self._text + text
        events: list[SSEEvent] = []
        start = 0
        for brk in _LINE_BREAK.finditer(buffer):
            if brk.group() == "\r" and brk.end() == len(buffer) and not final:
                break  # the LF of a CRLF may open the next chunk
            event = self._line(buffer[start : brk.start()])
            if event is not None:
                events.append(event)
            start = brk.end()
        self._text = buffer[start:]
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._block_retry = self.retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._reset_block()
            return None
        event = SSEEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self.last_event_id or None,
            retry=self._block_retry,
        )
        self._reset_block()
        return event

    def _reset_block(self) -> None:
        self._data = []
        self._event = ""
        self._block_retry = None


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """Yield events from an async byte stream as soon as each one is complete."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.flush():
        yield event
