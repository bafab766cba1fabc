"""Sampling results as protobuf: ``SampleResponse``.

Tokens travel as int32 bytes and logprobs as float32 bytes; a NaN prompt logprob marks a
position with no logprob (always the first) and decodes to ``None``. Top-k logprobs are dense
``length x k`` matrices whose unused cells hold token 0 and logprob -99999.0. As in the
official client, an empty logprob buffer or an empty top-k matrix decodes to ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tinkex.proto import tinker_public_pb2 as pb
from tinkex.proto.compression import decode_content
from tinkex.proto.errors import ProtoDecodeError, parse_message
from tinkex.proto.tensors import read_array, tensor_data_from_proto, write_tensor_data
from tinkex.types.sampling import (
    MASK_LOGPROB,
    PromptAltTokens,
    SampledSequence,
    SampleResponse,
    StopReason,
    TopkLogprobs,
    TopkRows,
    topk_to_lists,
)

__all__ = [
    "decode_sample_response",
    "encode_sample_response",
    "sample_response_from_proto",
    "sample_response_to_proto",
]

_MESSAGE = "SampleResponse"
_TOKEN_DTYPE = np.dtype("<i4")
_LOGPROB_DTYPE = np.dtype("<f4")

_STOP_REASONS: dict[int, StopReason] = {
    pb.STOP_REASON_STOP: "stop",
    pb.STOP_REASON_LENGTH: "length",
}
_STOP_REASON_VALUES = {reason: value for value, reason in _STOP_REASONS.items()}


def _floats(values: Sequence[float | None] | npt.NDArray[Any]) -> bytes:
    """float32 bytes of ``values``; numpy turns ``None`` into NaN."""
    return np.asarray(values, dtype=_LOGPROB_DTYPE).tobytes()


def _write_topk(rows: TopkRows, out: pb.TopkLogprobs) -> None:
    """Pack rows into dense matrices, unused cells masked as the server does."""
    lengths = np.fromiter((len(row) if row else 0 for row in rows), dtype=np.int64, count=len(rows))
    # Rows that are all None keep one masked column, or they would decode as "not requested".
    k = max(int(lengths.max(initial=0)), 1 if rows else 0)
    pairs = np.array([pair for row in rows if row for pair in row], dtype=np.float64)
    filled = np.arange(k) < lengths[:, None]
    token_ids = np.zeros((len(rows), k), dtype=_TOKEN_DTYPE)
    logprobs = np.full((len(rows), k), MASK_LOGPROB, dtype=_LOGPROB_DTYPE)
    if pairs.size:
        token_ids[filled] = pairs[:, 0]
        logprobs[filled] = pairs[:, 1]
    out.token_ids = token_ids.tobytes()
    out.logprobs = logprobs.tobytes()
    out.k = k
    out.length = len(rows)


def sample_response_to_proto(response: SampleResponse) -> pb.SampleResponse:
    """The wire message for ``response`` (what the embedded server sends)."""
    msg = pb.SampleResponse(prompt_cache_hit_tokens=response.prompt_cache_hit_tokens)
    for sequence in response.sequences:
        seq = msg.sequences.add(
            stop_reason=_STOP_REASON_VALUES[sequence.stop_reason],
            tokens=np.asarray(sequence.tokens_data, dtype=_TOKEN_DTYPE).tobytes(),
        )
        if sequence.logprobs_data is not None:
            seq.logprobs = _floats(sequence.logprobs_data)
        if sequence.topk_logprobs is not None:
            _write_topk(sequence.topk_logprobs, seq.topk_sampled_logprobs)
    if response.prompt_logprobs is not None:
        msg.prompt_logprobs = _floats(response.prompt_logprobs)
    if response.topk_prompt_logprobs is not None:
        _write_topk(response.topk_prompt_logprobs, msg.topk_prompt_logprobs)
    if response.target_prompt_logprobs is not None:
        write_tensor_data(response.target_prompt_logprobs, msg.target_prompt_logprobs)
    if response.prompt_alt_tokens is not None:
        write_tensor_data(response.prompt_alt_tokens.tokens, msg.prompt_alt_tokens.tokens)
        write_tensor_data(response.prompt_alt_tokens.logprobs, msg.prompt_alt_tokens.logprobs)
    return msg


def encode_sample_response(response: SampleResponse) -> bytes:
    """Serialized ``sample_response_to_proto(response)``."""
    return sample_response_to_proto(response).SerializeToString()


def _read(buf: bytes, dtype: np.dtype[Any], field: str) -> npt.NDArray[Any]:
    return read_array(buf, dtype, message=_MESSAGE, field=field)


def _nan_to_none(values: npt.NDArray[Any]) -> list[float | None]:
    listed: list[float | None] = values.tolist()
    for i in np.flatnonzero(np.isnan(values)).tolist():
        listed[i] = None
    return listed


def _topk_from_proto(msg: pb.TopkLogprobs, *, field: str) -> TopkLogprobs | None:
    length, k = msg.length, msg.k
    if length == 0 or k == 0:
        return None
    cells = length * k
    token_ids = _read(msg.token_ids, _TOKEN_DTYPE, f"{field}.token_ids")
    logprobs = _read(msg.logprobs, _LOGPROB_DTYPE, f"{field}.logprobs")
    for name, array in (("token_ids", token_ids), ("logprobs", logprobs)):
        if array.size != cells:
            raise ProtoDecodeError(
                _MESSAGE,
                f"{field}.{name}",
                f"holds {array.size} cells, expected length x k = {length} x {k} = {cells}",
            )
    return TopkLogprobs(token_ids.reshape(length, k), logprobs.reshape(length, k))


def _sequence_from_proto(msg: pb.SampledSequence, *, field: str) -> SampledSequence:
    stop_reason = _STOP_REASONS.get(msg.stop_reason)
    if stop_reason is None:
        raise ProtoDecodeError(
            _MESSAGE, f"{field}.stop_reason", f"unknown StopReason enum value {msg.stop_reason}"
        )
    tokens = _read(msg.tokens, _TOKEN_DTYPE, f"{field}.tokens")
    logprobs = None
    if msg.logprobs:
        logprobs = _read(msg.logprobs, _LOGPROB_DTYPE, f"{field}.logprobs")
        if logprobs.size != tokens.size:
            raise ProtoDecodeError(
                _MESSAGE,
                f"{field}.logprobs",
                f"holds {logprobs.size} values for {tokens.size} tokens",
            )
    topk = (
        _topk_from_proto(msg.topk_sampled_logprobs, field=f"{field}.topk_sampled_logprobs")
        if msg.HasField("topk_sampled_logprobs")
        else None
    )
    # Every field was checked above; skipping pydantic's re-validation keeps decoding cheap.
    # The arrays stay as they are: lists are made only if the caller reads them.
    return SampledSequence.model_construct(
        stop_reason=stop_reason,
        tokens_data=tokens,
        logprobs_data=logprobs,
        topk_logprobs_data=topk,
    )


def _topk_rows(msg: pb.SampleResponse) -> TopkRows | None:
    if not msg.HasField("topk_prompt_logprobs"):
        return None
    topk = _topk_from_proto(msg.topk_prompt_logprobs, field="topk_prompt_logprobs")
    return None if topk is None else topk_to_lists(topk)


def sample_response_from_proto(msg: pb.SampleResponse) -> SampleResponse:
    """Decode the wire message; raises ``ProtoDecodeError`` naming the bad field."""
    sequences = [
        _sequence_from_proto(seq, field=f"sequences[{i}]") for i, seq in enumerate(msg.sequences)
    ]
    prompt_logprobs = None
    if msg.prompt_logprobs:
        prompt_logprobs = _nan_to_none(
            _read(msg.prompt_logprobs, _LOGPROB_DTYPE, "prompt_logprobs")
        )
    alt = None
    if msg.HasField("prompt_alt_tokens"):
        alt = PromptAltTokens(
            tokens=tensor_data_from_proto(
                msg.prompt_alt_tokens.tokens, message=_MESSAGE, field="prompt_alt_tokens.tokens"
            ),
            logprobs=tensor_data_from_proto(
                msg.prompt_alt_tokens.logprobs, message=_MESSAGE, field="prompt_alt_tokens.logprobs"
            ),
        )
    return SampleResponse(
        sequences=sequences,
        prompt_logprobs=prompt_logprobs,
        topk_prompt_logprobs=_topk_rows(msg),
        target_prompt_logprobs=(
            tensor_data_from_proto(
                msg.target_prompt_logprobs, message=_MESSAGE, field="target_prompt_logprobs"
            )
            if msg.HasField("target_prompt_logprobs")
            else None
        ),
        prompt_cache_hit_tokens=msg.prompt_cache_hit_tokens,
        prompt_alt_tokens=alt,
    )


def decode_sample_response(body: bytes, *, content_encoding: str | None = None) -> SampleResponse:
    """Decode an HTTP body (optionally zstd) holding a ``SampleResponse``."""
    raw = decode_content(body, content_encoding, message=_MESSAGE)
    return sample_response_from_proto(parse_message(pb.SampleResponse, raw))
