"""Chunk metrics reduce exactly as the official client reduces them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tinker.lib.chunked_fwdbwd_helpers import _metrics_reduction
from tinker.types import ForwardBackwardOutput as OfficialOutput

from tinkex.metrics import REDUCTIONS, reduce_chunk_metrics, reduce_metrics

_SUFFIXES = [*REDUCTIONS, "unique", "median", ""]
_names = st.text(st.characters(blacklist_characters=":"), max_size=6)
_keys = st.tuples(_names, st.sampled_from(_SUFFIXES)).map(":".join)
_values = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@dataclass
class _Chunk:
    """The two attributes reduction reads from a ForwardBackwardOutput."""

    metrics: dict[str, float]
    loss_fn_outputs: list[object] = field(default_factory=list)


@st.composite
def _chunks(draw: st.DrawFn) -> list[_Chunk]:
    keys = draw(st.lists(_keys, min_size=1, max_size=6, unique=True))
    chunks = []
    for _ in range(draw(st.integers(1, 5))):
        present = draw(st.lists(st.sampled_from(keys), unique=True))
        metrics = {key: draw(_values) for key in present}
        chunks.append(_Chunk(metrics, [{}] * draw(st.integers(0, 4))))
    if all(not chunk.loss_fn_outputs for chunk in chunks):
        chunks[0].loss_fn_outputs.append({})  # the official client divides by the total weight
    return chunks


def _same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a
    )


@given(chunks=_chunks())
def test_reduction_matches_the_official_client(chunks: list[_Chunk]) -> None:
    official = [
        OfficialOutput(loss_fn_output_type="", loss_fn_outputs=c.loss_fn_outputs, metrics=c.metrics)  # type: ignore[arg-type]
        for c in chunks
    ]
    assert _same(reduce_chunk_metrics(chunks), _metrics_reduction(official))


def test_each_reduction_on_a_small_example() -> None:
    chunks = [
        _Chunk({"loss:mean": 1.0, "n:sum": 2, "lo:min": 3, "hi:max": 3, "s:slack": 1.0}, [{}]),
        _Chunk({"loss:mean": 4.0, "n:sum": 5, "lo:min": 1, "hi:max": 9, "s:slack": 4.0}, [{}] * 2),
    ]
    assert reduce_chunk_metrics(chunks) == {
        "loss:mean": 3.0,
        "n:sum": 7,
        "lo:min": 1,
        "hi:max": 9,
        "s:slack": 1.0,
    }


def test_unique_keeps_every_value_under_numbered_keys() -> None:
    reduced = reduce_metrics(
        [{"id:unique": 1.0}, {"id:unique": 2.0}, {"id:unique": 3.0}], [1, 1, 1]
    )
    assert reduced == {"id:unique": 1.0, "id:unique_1": 2.0, "id:unique_2": 3.0}


def test_hash2_is_order_insensitive_and_wraps_at_64_bits() -> None:
    big = float(2**63)
    assert reduce_metrics([{"h:hash2": big}, {"h:hash2": big + 2048}], [1, 1]) == {"h:hash2": 2048}
    forward = reduce_metrics([{"h:hash2": 3.0}, {"h:hash2": -1.0}], [1, 1])
    backward = reduce_metrics([{"h:hash2": -1.0}, {"h:hash2": 3.0}], [1, 1])
    assert forward == backward == {"h:hash2": 2}


def test_hash2_of_a_non_finite_value_names_the_metric() -> None:
    with pytest.raises(ValueError, match=r"cannot reduce metric 'h:hash2': .*finite"):
        reduce_metrics([{"h:hash2": math.inf}], [1])


def test_keys_missing_from_a_chunk_or_with_unknown_reductions_are_dropped() -> None:
    reduced = reduce_metrics(
        [{"a:sum": 1.0, "b:sum": 1.0, "c:median": 1.0}, {"a:sum": 2.0}], [1, 1]
    )
    assert reduced == {"a:sum": 3.0}


def test_zero_total_weight_falls_back_to_equal_weights() -> None:
    reduced = reduce_metrics(
        [{"m:mean": 1.0, "s:slack": 1.0}, {"m:mean": 3.0, "s:slack": 3.0}], [0, 0]
    )
    assert reduced == {"m:mean": 2.0, "s:slack": 1.0}


@pytest.mark.parametrize("key", ["loss", "a:b:mean"])
def test_key_without_exactly_one_colon_is_rejected_with_a_clear_error(key: str) -> None:
    with pytest.raises(ValueError, match=r"must be '<name>:<reduction>' with exactly one colon"):
        reduce_metrics([{key: 1.0}], [1])


def test_weights_must_match_the_chunks() -> None:
    with pytest.raises(ValueError, match="one weight per chunk"):
        reduce_metrics([{"a:sum": 1.0}], [])


def test_no_chunks_reduce_to_no_metrics() -> None:
    assert reduce_metrics([], []) == {}
