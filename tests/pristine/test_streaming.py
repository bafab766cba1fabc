"""SSE decoding: spec examples, chunk-split invariance (hypothesis) and the async iterator."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pristine.streaming import SSEDecoder, SSEEvent, aiter_sse


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def decode(stream: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return decoder.feed(stream) + decoder.flush()


def decode_in_pieces(stream: bytes, cuts: list[int]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    bounds = [0, *sorted(cuts), len(stream)]
    for start, end in itertools.pairwise(bounds):
        events += decoder.feed(stream[start:end])
    return events + decoder.flush()


# --- the examples of the WHATWG specification ----------------------------------------------

SPEC_EXAMPLES: list[tuple[str, bytes, list[SSEEvent]]] = [
    (
        "data lines are joined with LF",
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        [SSEEvent(data="YHOO\n+2\n10")],
    ),
    (
        "comments, ids, id reset, and a final event without a blank line is dropped",
        b": test stream\n\ndata: first event\nid: 1\n\n"
        b"data:second event\nid\n\ndata:  third event\n",
        [SSEEvent(data="first event", id="1"), SSEEvent(data="second event", id=None)],
    ),
    (
        "a bare data field gives empty data; two give a single newline",
        b"data\n\ndata\ndata\n\ndata:",
        [SSEEvent(data=""), SSEEvent(data="\n")],
    ),
    (
        "only one leading space is stripped",
        b"data:test\n\ndata: test\n\ndata:  two\n\n",
        [SSEEvent(data="test"), SSEEvent(data="test"), SSEEvent(data=" two")],
    ),
    (
        "event names and the default type",
        b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\ndata: x\n\n",
        [
            SSEEvent(event="add", data="73857293"),
            SSEEvent(event="remove", data="2153"),
            SSEEvent(data="x"),
        ],
    ),
    (
        "CR and CRLF line endings",
        b"data: a\rdata: b\r\n\r\ndata: c\r\r",
        [SSEEvent(data="a\nb"), SSEEvent(data="c")],
    ),
    (
        "a leading BOM is dropped, but only one",
        "\ufeffdata: one\n\n".encode(),
        [SSEEvent(data="one")],
    ),
    (
        "a second BOM makes an unknown field name",
        "\ufeff\ufeffdata: one\n\ndata: two\n\n".encode(),
        [SSEEvent(data="two")],
    ),
    (
        "an id with NUL is ignored and the previous id persists",
        b"id: 7\ndata: a\n\nid: 8\x009\ndata: b\n\n",
        [SSEEvent(data="a", id="7"), SSEEvent(data="b", id="7")],
    ),
    (
        "retry counts only when all ASCII digits, and belongs to its block",
        b"retry: 1500\ndata: a\n\nretry: 15x\ndata: b\n\nretry: -1\nretry:\ndata: c\n\n",
        [SSEEvent(data="a", retry=1500), SSEEvent(data="b"), SSEEvent(data="c")],
    ),
    (
        "blocks without data are not dispatched and do not leak their event name",
        b"event: ping\n\nid: 3\n\ndata: after\n\n",
        [SSEEvent(data="after", id="3")],
    ),
    (
        "unknown fields and a field without a colon are ignored",
        b"foo: bar\nevent\nbaz\ndata: kept\n\n",
        [SSEEvent(data="kept")],
    ),
    (
        "invalid UTF-8 becomes U+FFFD",
        b"data: \xff\xfe!\n\n",
        [SSEEvent(data="\ufffd\ufffd!")],
    ),
]


@pytest.mark.parametrize(
    ("stream", "expected"),
    [pytest.param(stream, expected, id=name) for name, stream, expected in SPEC_EXAMPLES],
)
def test_decodes_spec_examples(stream: bytes, expected: list[SSEEvent]) -> None:
    assert decode(stream) == expected


def test_cr_at_the_end_of_one_chunk_and_lf_at_the_start_of_the_next_is_one_break() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == []
    assert decoder.feed(b"\ndata: b\n\n") == [SSEEvent(data="a"), SSEEvent(data="b")]


def test_flush_completes_a_trailing_cr_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == []
    assert decoder.flush() == [SSEEvent(data="a")]


def test_multibyte_character_split_across_chunks() -> None:
    stream = "data: héllo €𝄞\n\n".encode()
    for cut in range(len(stream) + 1):
        assert decode_in_pieces(stream, [cut]) == [SSEEvent(data="héllo €𝄞")]


def test_bom_split_across_chunks_is_still_dropped() -> None:
    assert decode_in_pieces("\ufeffdata: x\n\n".encode(), [1, 2]) == [SSEEvent(data="x")]


def test_decoder_keeps_last_event_id_and_retry_for_reconnection() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 42\nretry: 3000\n\n")
    assert decoder.last_event_id == "42"
    assert decoder.retry == 3000


def test_event_json_parses_data() -> None:
    assert SSEEvent(data='{"a": [1, 2]}').json() == {"a": [1, 2]}


def test_event_json_error_names_the_event() -> None:
    with pytest.raises(ValueError, match=r"SSE event 'delta' \(id='9'\).*not JSON"):
        SSEEvent(event="delta", data="{oops", id="9").json()


# --- property: any split of any stream decodes the same ------------------------------------

LINE_TEXT = st.text(
    alphabet=st.sampled_from(["a", "é", "€", "𝄞", " ", ":", "\0", "1", "\ufeff"]), max_size=6
)
FIELD_NAMES = st.sampled_from(["data", "event", "id", "retry", "", "x"])
SEPARATORS = st.sampled_from([":", ": ", ":  ", ""])
LINE_ENDINGS = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    lines = draw(
        st.lists(
            st.one_of(
                st.tuples(FIELD_NAMES, SEPARATORS, LINE_TEXT).map("".join),
                st.just(""),
            ),
            max_size=20,
        )
    )
    text = "".join(line + draw(LINE_ENDINGS) for line in lines)
    prefix = draw(st.sampled_from(["", "\ufeff"]))
    return (prefix + text + draw(st.sampled_from(["", "data: tail"]))).encode()


@given(data=st.data(), stream=sse_streams())
def test_any_split_of_a_stream_decodes_to_the_same_events(
    data: st.DataObject, stream: bytes
) -> None:
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=8))
    assert decode_in_pieces(stream, cuts) == decode(stream)


EVENT_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=8
)


@st.composite
def sse_events(draw: st.DrawFn) -> list[SSEEvent]:
    events = []
    for data_lines, name in draw(
        st.lists(
            st.tuples(
                st.lists(EVENT_TEXT, min_size=1, max_size=3),
                st.text(alphabet="abc", min_size=1, max_size=4),
            ),
            max_size=5,
        )
    ):
        events.append(SSEEvent(data="\n".join(data_lines), event=name))
    return events


def encode(events: list[SSEEvent]) -> bytes:
    blocks = []
    for event in events:
        lines = [f"event: {event.event}"] + [f"data: {line}" for line in event.data.split("\n")]
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks).encode()


@given(events=sse_events(), data=st.data())
def test_encoded_events_round_trip_through_any_split(
    events: list[SSEEvent], data: st.DataObject
) -> None:
    stream = encode(events)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=8))
    assert decode_in_pieces(stream, cuts) == events


# --- the async iterator --------------------------------------------------------------------


async def chunks_of(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.anyio
async def test_aiter_sse_yields_events_across_chunks_and_flushes_at_the_end() -> None:
    events = [e async for e in aiter_sse(chunks_of(b"data: a\n", b"\ndata: b\r", b"\r"))]
    assert events == [SSEEvent(data="a"), SSEEvent(data="b")]
