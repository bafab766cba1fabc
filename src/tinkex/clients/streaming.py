"""Streamed samples on the client: incremental text and the iterator users hold.

`SampleStream` drives an async generator of chunks (run on the client's event-loop thread,
one step per item) and is both a sync and an async iterator, so `sample_stream` serves
plain loops and `async for` alike. Closing it (or leaving a `with` block, or breaking out
of the loop and dropping it) closes the generator, which closes the HTTP stream; the server
then stops generating.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar

from tinkex import types
from tinkex.clients.future import APIFuture

__all__ = ["IncrementalText", "SampleStream", "StreamItem"]

T = TypeVar("T")

StreamItem = types.SampleStreamChunk | types.SampleResponse
"""What the source generator yields: chunks, then the whole response last."""

CONTEXT_TOKENS = 5
"""Prompt tokens decoded ahead of the completion, so a tokenizer that drops the leading
space of a text's first word still spells the completion's first word right."""

REPLACEMENT = "\ufffd"


class _Decoder(Protocol):
    def decode(self, ids: Sequence[int]) -> str: ...


class _Loop(Protocol):
    """Where the source generator runs: the client's event-loop thread."""

    def run_coroutine_threadsafe(self, coro: Coroutine[Any, Any, T]) -> APIFuture[T]: ...


class IncrementalText:
    """Turns one sequence's token ids, as they arrive, into text deltas.

    Decodes a short window of recent ids and emits only what the new ids added; while the
    window's text ends in U+FFFD (a character whose bytes are split across tokens) the text
    waits for the ids that complete it. Joined deltas equal `decode(all ids)`.
    """

    def __init__(self, tokenizer: _Decoder, context: Sequence[int] = ()) -> None:
        self._tokenizer = tokenizer
        self._ids = list(context)[-CONTEXT_TOKENS:]
        self._prefix = 0  # window start
        self._read = len(self._ids)  # ids before this are already emitted

    def push(self, tokens: Sequence[int]) -> str:
        """The text the new `tokens` complete (may be empty)."""
        self._ids.extend(tokens)
        shown = self._tokenizer.decode(self._ids[self._prefix : self._read])
        text = self._tokenizer.decode(self._ids[self._prefix :])
        if len(text) <= len(shown) or text.endswith(REPLACEMENT):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return text[len(shown) :]

    def finish(self) -> str:
        """Whatever is still held back at the end of the sequence (a truly broken character
        comes out as U+FFFD)."""
        shown = self._tokenizer.decode(self._ids[self._prefix : self._read])
        text = self._tokenizer.decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return text[len(shown) :]


class SampleStream:
    """The chunks of one sample as they are generated; `response` holds the whole
    `SampleResponse` (sequence ids, prompt logprobs, ...) once the chunks are exhausted.

    Iterate with `for` or `async for` (not both). Use `with`/`async with`, or call `close()`
    / `aclose()`, to stop early: that stops the generation on the server.
    """

    def __init__(
        self,
        source: AsyncGenerator[StreamItem, None],
        loop: _Loop,
        tokenizer: Callable[[], _Decoder | None],
        context: Sequence[int] = (),
    ) -> None:
        self._source = source
        self._loop = loop
        self._tokenizer_factory = tokenizer
        self._tokenizer: _Decoder | None = None
        self._tokenizer_loaded = False
        self._context = list(context)
        self._texts: dict[int, IncrementalText] = {}
        self._done = False
        self.response: types.SampleResponse | None = None

    # -- sync ---------------------------------------------------------------------------------

    def __iter__(self) -> SampleStream:
        return self

    def __next__(self) -> types.SampleStreamChunk:
        if self._done:
            raise StopIteration
        item = self._loop.run_coroutine_threadsafe(_step(self._source)).result()
        chunk = self._accept(item)
        if chunk is None:
            raise StopIteration
        return chunk

    def close(self) -> None:
        """Stop reading; the HTTP stream closes and the server stops generating."""
        if not self._done:
            self._done = True
            self._loop.run_coroutine_threadsafe(self._source.aclose()).result()

    def __enter__(self) -> SampleStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- async --------------------------------------------------------------------------------

    def __aiter__(self) -> SampleStream:
        return self

    async def __anext__(self) -> types.SampleStreamChunk:
        if self._done:
            raise StopAsyncIteration
        item = await self._loop.run_coroutine_threadsafe(_step(self._source))
        chunk = self._accept(item)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """`close`, awaited."""
        if not self._done:
            self._done = True
            await self._loop.run_coroutine_threadsafe(self._source.aclose())

    async def __aenter__(self) -> SampleStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- internals ----------------------------------------------------------------------------

    def _accept(self, item: StreamItem | None) -> types.SampleStreamChunk | None:
        """The chunk to hand out with its text, or None at the end (keeping the response)."""
        if item is None or isinstance(item, types.SampleResponse):
            self._done = True
            self.response = item
            return None
        tokenizer = self._load_tokenizer()
        if tokenizer is None:
            return item
        text = self._texts.get(item.sequence_index)
        if text is None:
            text = self._texts[item.sequence_index] = IncrementalText(tokenizer, self._context)
        delta = text.push(item.tokens)
        if item.stop_reason is not None:
            delta += text.finish()
        return item.model_copy(update={"text_delta": delta})

    def _load_tokenizer(self) -> _Decoder | None:
        if not self._tokenizer_loaded:
            self._tokenizer_loaded = True
            self._tokenizer = self._tokenizer_factory()
        return self._tokenizer


async def _step(source: AsyncGenerator[StreamItem, None]) -> StreamItem | None:
    """The next item, or None once the source is exhausted."""
    try:
        return await source.__anext__()
    except StopAsyncIteration:
        return None
