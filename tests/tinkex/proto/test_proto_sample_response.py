"""Sample results: wire-identical messages, decoded the same way as tinker 0.38."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tinker.proto import tinker_public_pb2 as official_pb
from tinker.proto.response_conv import deserialize_sample_response
from tinker.types.topk_logprobs import TopkLogprobs as OfficialTopk
from tinker.types.topk_logprobs import topk_to_lists as official_topk_to_lists
from tinkex_proto_cases import INT32_MAX, TensorSpec, tensor_specs

from tinkex.proto import (
    ProtoDecodeError,
    decode_proto_response,
    decode_sample_response,
    encode_sample_response,
)
from tinkex.types.sampling import (
    MASK_LOGPROB,
    PromptAltTokens,
    SampledSequence,
    SampleResponse,
)
from tinkex.types.tensor import TensorData

Topk = tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]


@st.composite
def _topk(draw: st.DrawFn, length: int) -> Topk:
    """Dense top-k matrices with masked cells anywhere; k is as tight as the rows allow."""
    k = draw(st.integers(1, 4))
    ids = draw(hnp.arrays(np.int32, (length, k), elements=st.integers(0, INT32_MAX)))
    lps = draw(hnp.arrays(np.float32, (length, k), elements={"max_value": 0}))
    masked = draw(hnp.arrays(np.bool_, (length, k)))
    masked[masked[:, 0]] = True  # a row with an empty first cell is None: nothing else survives
    ids[masked], lps[masked] = 0, MASK_LOGPROB
    kept = [len(row) if row else 0 for row in official_topk_to_lists(OfficialTopk(ids, lps))]
    tight = max(max(kept, default=0), 1)
    return ids[:, :tight].copy(), lps[:, :tight].copy()


@dataclass(frozen=True)
class SequenceSpec:
    stop: int
    tokens: npt.NDArray[np.int32]
    logprobs: npt.NDArray[np.float32] | None
    topk: Topk | None


@st.composite
def _sequences(draw: st.DrawFn) -> SequenceSpec:
    n = draw(st.integers(0, 6))
    tokens = draw(hnp.arrays(np.int32, n, elements=st.integers(0, INT32_MAX)))
    with_logprobs = n > 0 and draw(st.booleans())
    logprobs = draw(hnp.arrays(np.float32, n, elements={"max_value": 0}))
    topk = draw(_topk(n)) if n > 0 and draw(st.booleans()) else None
    stop = draw(st.sampled_from([0, 1]))
    return SequenceSpec(stop, tokens, logprobs if with_logprobs else None, topk)


@dataclass(frozen=True)
class ResponseSpec:
    sequences: list[SequenceSpec]
    prompt_logprobs: npt.NDArray[np.float32] | None
    topk_prompt: Topk | None
    target: TensorSpec | None
    alt: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None
    cache_hits: int


@st.composite
def _responses(draw: st.DrawFn) -> ResponseSpec:
    prompt = draw(st.integers(1, 6))
    prompt_logprobs = None
    if draw(st.booleans()):
        prompt_logprobs = draw(hnp.arrays(np.float32, prompt, elements={"allow_nan": True}))
        prompt_logprobs[0] = np.nan
        # Any NaN decodes to None, which encodes back as the canonical NaN.
        prompt_logprobs[np.isnan(prompt_logprobs)] = np.nan
    alt = None
    if draw(st.booleans()):
        k = draw(st.integers(0, 3))
        alt = (
            draw(hnp.arrays(np.int64, (prompt - 1, k), elements=st.integers(0, INT32_MAX))),
            draw(hnp.arrays(np.float32, (prompt - 1, k), elements={"allow_nan": False})),
        )
    # The server always sends the shape (the official decoder needs it).
    targets = tensor_specs().filter(lambda s: s.dtype == "float32" and s.keep_shape)
    target = draw(st.none() | targets)
    return ResponseSpec(
        sequences=draw(st.lists(_sequences(), max_size=4)),
        prompt_logprobs=prompt_logprobs,
        topk_prompt=draw(st.none() | _topk(prompt)),
        target=target,
        alt=alt,
        cache_hits=draw(st.integers(0, INT32_MAX)),
    )


def _official_tensor(array: npt.NDArray[Any], wire_dtype: int) -> official_pb.Tensor:
    return official_pb.Tensor(dense=array.tobytes(), dtype=wire_dtype, shape=array.shape)  # type: ignore[arg-type]


def _official_topk(topk: Topk) -> official_pb.TopkLogprobs:
    ids, lps = topk
    return official_pb.TopkLogprobs(
        token_ids=ids.tobytes(), logprobs=lps.tobytes(), k=ids.shape[1], length=ids.shape[0]
    )


def _reference_bytes(spec: ResponseSpec) -> bytes:
    """What a tinker server sends, built with the official module from first principles."""
    msg = official_pb.SampleResponse(prompt_cache_hit_tokens=spec.cache_hits)
    for seq in spec.sequences:
        out = msg.sequences.add(stop_reason=seq.stop, tokens=seq.tokens.tobytes())
        if seq.logprobs is not None:
            out.logprobs = seq.logprobs.tobytes()
        if seq.topk is not None:
            out.topk_sampled_logprobs.CopyFrom(_official_topk(seq.topk))
    if spec.prompt_logprobs is not None:
        msg.prompt_logprobs = spec.prompt_logprobs.tobytes()
    if spec.topk_prompt is not None:
        msg.topk_prompt_logprobs.CopyFrom(_official_topk(spec.topk_prompt))
    if spec.target is not None:
        target = official_pb.Tensor.FromString(_tinkex_tensor_bytes(spec.target.to_tinkex()))
        msg.target_prompt_logprobs.CopyFrom(target)
    if spec.alt is not None:
        alt = msg.prompt_alt_tokens
        alt.tokens.CopyFrom(_official_tensor(spec.alt[0], official_pb.DTYPE_INT64))
        alt.logprobs.CopyFrom(_official_tensor(spec.alt[1], official_pb.DTYPE_FLOAT32))
    return msg.SerializeToString()


def _tinkex_tensor_bytes(tensor: TensorData) -> bytes:
    """A Tensor message via the request path, already checked against the official encoder."""
    from tinkex.proto import tinker_public_pb2 as pb
    from tinkex.proto.tensors import write_tensor_data

    msg = pb.Tensor()
    write_tensor_data(tensor, msg)
    return msg.SerializeToString()


def _nan_to_none(values: npt.NDArray[np.float32]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def _tinkex(spec: ResponseSpec) -> SampleResponse:
    def rows(topk: Topk | None) -> Any:
        return None if topk is None else official_topk_to_lists(OfficialTopk(*topk))

    return SampleResponse(
        sequences=[
            SampledSequence(
                stop_reason="stop" if seq.stop == 0 else "length",
                tokens=seq.tokens.tolist(),
                logprobs=None if seq.logprobs is None else seq.logprobs.tolist(),
                topk_logprobs=rows(seq.topk),
            )
            for seq in spec.sequences
        ],
        prompt_logprobs=(
            None if spec.prompt_logprobs is None else _nan_to_none(spec.prompt_logprobs)
        ),
        topk_prompt_logprobs=rows(spec.topk_prompt),
        target_prompt_logprobs=None if spec.target is None else spec.target.to_tinkex(),
        prompt_cache_hit_tokens=spec.cache_hits,
        prompt_alt_tokens=(
            None
            if spec.alt is None
            else PromptAltTokens(
                tokens=TensorData.from_numpy(spec.alt[0]),
                logprobs=TensorData.from_numpy(spec.alt[1]),
            )
        ),
    )


@settings(max_examples=80, deadline=None)
@given(spec=_responses())
def test_encoding_is_byte_identical_to_a_reference_server(spec: ResponseSpec) -> None:
    assert encode_sample_response(_tinkex(spec)) == _reference_bytes(spec)


@settings(max_examples=80, deadline=None)
@given(spec=_responses())
def test_decodes_what_the_official_client_decodes(spec: ResponseSpec) -> None:
    body = _reference_bytes(spec)
    ours = decode_sample_response(body)
    theirs = deserialize_sample_response(body)
    assert ours == _tinkex(spec)
    assert ours.prompt_logprobs == theirs.prompt_logprobs
    assert ours.topk_prompt_logprobs == theirs.topk_prompt_logprobs
    assert ours.prompt_cache_hit_tokens == theirs.prompt_cache_hit_tokens
    for got, official in zip(ours.sequences, theirs.sequences, strict=True):
        assert got.stop_reason == official.stop_reason
        assert got.tokens == official.tokens
        assert got.logprobs == official.logprobs
        assert got.topk_logprobs == official.topk_logprobs


def test_nan_prompt_logprobs_become_none() -> None:
    body = official_pb.SampleResponse(
        prompt_logprobs=np.array([np.nan, -0.5, np.nan], np.float32).tobytes()
    ).SerializeToString()
    assert decode_sample_response(body).prompt_logprobs == [None, -0.5, None]


def test_empty_top_k_cells_are_dropped_and_empty_rows_are_none() -> None:
    ids = np.array([[5, 0], [0, 0], [0, 7]], np.int32)
    mask = MASK_LOGPROB
    lps = np.array([[-0.1, mask], [mask, mask], [mask, -2]], np.float32)
    msg = official_pb.SampleResponse(topk_prompt_logprobs=_official_topk((ids, lps)))
    body = msg.SerializeToString()
    rows = decode_sample_response(body).topk_prompt_logprobs
    assert rows is not None
    assert rows[0] == [(5, float(np.float32(-0.1)))]
    assert rows[1] is None
    # A row whose first cell is empty is None even when later cells are filled.
    assert rows[2] is None
    assert rows == deserialize_sample_response(body).topk_prompt_logprobs


@pytest.mark.parametrize(("k", "length"), [(0, 3), (2, 0)])
def test_empty_top_k_matrix_decodes_as_not_requested(k: int, length: int) -> None:
    body = _sequence(tokens=b"", topk_sampled_logprobs=official_pb.TopkLogprobs(k=k, length=length))
    assert decode_sample_response(body).sequences[0].topk_logprobs is None
    assert deserialize_sample_response(body).sequences[0].topk_logprobs is None


def test_rows_that_are_all_none_survive_a_round_trip() -> None:
    response = SampleResponse(sequences=[], topk_prompt_logprobs=[None, None])
    assert decode_sample_response(encode_sample_response(response)) == response


def test_int32_alt_tokens_from_the_server_widen_to_int64() -> None:
    tokens = np.array([[1, 2], [3, 4]], np.int32)
    msg = official_pb.SampleResponse()
    msg.prompt_alt_tokens.tokens.CopyFrom(_official_tensor(tokens, official_pb.DTYPE_INT32))
    msg.prompt_alt_tokens.logprobs.CopyFrom(
        _official_tensor(np.zeros((2, 2), np.float32), official_pb.DTYPE_FLOAT32)
    )
    alt = decode_sample_response(msg.SerializeToString()).prompt_alt_tokens
    assert alt is not None
    assert alt.tokens.dtype == "int64"
    assert alt.tokens.tolist() == [[1, 2], [3, 4]]


def test_decode_proto_response_dispatches_by_type() -> None:
    body = official_pb.SampleResponse(prompt_cache_hit_tokens=3).SerializeToString()
    assert decode_proto_response(body, SampleResponse).prompt_cache_hit_tokens == 3
    with pytest.raises(ValueError, match="has no protobuf form"):
        decode_proto_response(body, PromptAltTokens)


def _sequence(**fields: Any) -> bytes:
    msg = official_pb.SampleResponse()
    msg.sequences.add(**fields)
    return msg.SerializeToString()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_sequence(stop_reason=5), "sequences[0].stop_reason"),
        (_sequence(tokens=b"\0" * 6), "sequences[0].tokens"),
        (_sequence(tokens=b"\0" * 8, logprobs=b"\0" * 4), "sequences[0].logprobs"),
        (_sequence(tokens=b"\0" * 4, logprobs=b"\0" * 3), "sequences[0].logprobs"),
        (
            _sequence(topk_sampled_logprobs=official_pb.TopkLogprobs(k=2, length=1)),
            "sequences[0].topk_sampled_logprobs.token_ids",
        ),
        (
            official_pb.SampleResponse(
                topk_prompt_logprobs=official_pb.TopkLogprobs(
                    k=1, length=1, token_ids=b"\0" * 4, logprobs=b"\0" * 8
                )
            ).SerializeToString(),
            "topk_prompt_logprobs.logprobs",
        ),
        (official_pb.SampleResponse(prompt_logprobs=b"\0").SerializeToString(), "prompt_logprobs"),
        (
            official_pb.SampleResponse(
                target_prompt_logprobs=official_pb.Tensor(dense=b"\0" * 4, dtype=1, shape=[2])  # type: ignore[arg-type]
            ).SerializeToString(),
            "target_prompt_logprobs",
        ),
        (
            official_pb.SampleResponse(
                prompt_alt_tokens=official_pb.PromptAltTokens(
                    tokens=official_pb.Tensor(dense=b"", dtype=3),  # type: ignore[arg-type]
                    logprobs=official_pb.Tensor(dense=b"", dtype=7),  # type: ignore[arg-type]
                )
            ).SerializeToString(),
            "prompt_alt_tokens.logprobs.dtype",
        ),
    ],
)
def test_inconsistent_fields_raise_a_decode_error_naming_them(body: bytes, field: str) -> None:
    with pytest.raises(ProtoDecodeError) as info:
        decode_sample_response(body)
    assert (info.value.message_name, info.value.field) == ("SampleResponse", field)
