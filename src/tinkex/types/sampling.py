"""Sampling: parameters, requests, sampled sequences and sampling sessions.

Responses hold Python lists (what JSON gives cheaply); the ``*_np`` views and keyword
arguments match the official SDK's numpy-first API, so decoders may pass arrays directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pydantic

from ._base import RequestModel, ResponseModel
from .model_input import ModelInput
from .tensor import TensorData

__all__ = [
    "MASK_LOGPROB",
    "CreateSamplingSessionRequest",
    "CreateSamplingSessionResponse",
    "GetSamplerResponse",
    "JoinSamplingSessionRequest",
    "JoinSamplingSessionResponse",
    "PromptAltTokens",
    "SampleRequest",
    "SampleResponse",
    "SampledSequence",
    "SamplingClientKind",
    "SamplingParams",
    "StopReason",
    "TopkLogprobs",
    "TopkRows",
    "topk_to_lists",
]

StopReason: TypeAlias = Literal["length", "stop"]

SamplingClientKind: TypeAlias = Literal["snapshot", "inflight"]
"""``snapshot`` pins fixed weights; ``inflight`` follows the model's latest inflight save."""

MASK_LOGPROB = -99999.0
"""Logprob filling unused top-k cells (with token id 0)."""

TopkRows: TypeAlias = list[list[tuple[int, float]] | None]
"""Per position: up to k ``(token_id, logprob)`` pairs, or None where nothing was computed."""


@dataclass(frozen=True, slots=True)
class TopkLogprobs:
    """Top-k tokens per position as two dense ``(length, k)`` matrices (int32, float32)."""

    token_ids: npt.NDArray[np.int32]
    logprobs: npt.NDArray[np.float32]


def topk_to_lists(topk: TopkLogprobs) -> TopkRows:
    """Rows of ``(token_id, logprob)`` pairs; masked cells are dropped, empty rows are None."""
    n, k = topk.token_ids.shape
    if n == 0 or k == 0:
        return []
    ids: list[int] = topk.token_ids.ravel().tolist()
    lps: list[float] = topk.logprobs.ravel().tolist()
    rows: TopkRows = []
    for start in range(0, n * k, k):
        end = start + k
        while end > start and ids[end - 1] == 0 and lps[end - 1] == MASK_LOGPROB:
            end -= 1
        rows.append(list(zip(ids[start:end], lps[start:end], strict=True)) if end > start else None)
    return rows


def lists_to_topk(rows: TopkRows) -> TopkLogprobs:
    """Dense matrices for top-k rows, masked cells filled with ``(0, MASK_LOGPROB)``."""
    k = max((len(row) for row in rows if row), default=0)
    token_ids = np.zeros((len(rows), k), dtype=np.int32)
    logprobs = np.full((len(rows), k), MASK_LOGPROB, dtype=np.float32)
    for i, row in enumerate(rows):
        for j, (token_id, logprob) in enumerate(row or ()):
            token_ids[i, j] = token_id
            logprobs[i, j] = logprob
    return TopkLogprobs(token_ids=token_ids, logprobs=logprobs)


class SamplingParams(RequestModel):
    """How to generate: length, randomness and stop conditions."""

    max_tokens: int | None = None
    seed: int | None = None
    stop: str | Sequence[str] | Sequence[int] | None = None
    """Stop strings or token ids; None keeps EOS stopping, [] disables every stop incl. EOS."""
    temperature: float = 1.0
    top_k: int = -1
    """-1 means no top-k limit."""
    top_p: float = 1.0


class SampleRequest(RequestModel):
    """Generate ``num_samples`` continuations of ``prompt``."""

    num_samples: int = 1
    prompt: ModelInput
    sampling_params: SamplingParams
    base_model: str | None = None
    model_path: str | None = None
    """``tinker://`` path of the weights; the base model when absent."""
    sampling_session_id: str | None = None
    seq_id: int | None = None
    prompt_logprobs: bool | None = None
    topk_prompt_logprobs: int = 0
    topk_sample_logprobs: int = 0
    target_prompt_logprobs: TensorData | None = None
    """int64 ``[len(prompt) - 1, K]`` token ids to score per prompt position; -1 = none."""
    prompt_alt_tokens_k: int = 0
    prompt_logprobs_last_n: int | None = None
    record_stability_info: bool | None = None
    type: Literal["sample"] = "sample"


class SampledSequence(ResponseModel):
    """One generated sequence: tokens, optional logprobs, and why it stopped."""

    stop_reason: StopReason
    tokens: list[int] = pydantic.Field(default_factory=list)
    logprobs: list[float] | None = None
    topk_logprobs: TopkRows | None = None
    sequence_id: str | None = None
    """Session-scoped id, used by later requests to reference this exact sequence."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_numpy(cls, data: Any) -> Any:
        return _numpy_kwargs_to_lists(
            data,
            {"tokens_np": "tokens", "logprobs_np": "logprobs"},
            {"topk_logprobs_np": "topk_logprobs"},
            nan_as_none=False,
        )

    @property
    def tokens_np(self) -> npt.NDArray[np.int32]:
        """Token ids as a 1-D int32 array."""
        return np.asarray(self.tokens, dtype=np.int32)

    @property
    def logprobs_np(self) -> npt.NDArray[np.float32] | None:
        """Per-token logprobs as a 1-D float32 array, or None if not requested."""
        return None if self.logprobs is None else np.asarray(self.logprobs, dtype=np.float32)

    @property
    def topk_logprobs_np(self) -> TopkLogprobs | None:
        """Top-k logprobs as dense matrices, or None if not requested."""
        return None if self.topk_logprobs is None else lists_to_topk(self.topk_logprobs)


class PromptAltTokens(ResponseModel):
    """``k`` independent draws per prompt position after the first, with their logprobs."""

    tokens: TensorData
    """int64 ``[len(prompt) - 1, k]``."""
    logprobs: TensorData
    """float32 ``[len(prompt) - 1, k]``."""


class SampleResponse(ResponseModel):
    """Generated sequences plus the prompt-level logprobs that were asked for."""

    sequences: list[SampledSequence]
    type: Literal["sample"] = "sample"
    prompt_logprobs: list[float | None] | None = None
    """Per prompt token; None where not computed (always position 0)."""
    topk_prompt_logprobs: TopkRows | None = None
    target_prompt_logprobs: TensorData | None = None
    prompt_cache_hit_tokens: int = 0
    prompt_alt_tokens: PromptAltTokens | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_numpy(cls, data: Any) -> Any:
        return _numpy_kwargs_to_lists(
            data,
            {"prompt_logprobs_np": "prompt_logprobs"},
            {"topk_prompt_logprobs_np": "topk_prompt_logprobs"},
            nan_as_none=True,
        )

    @property
    def prompt_logprobs_np(self) -> npt.NDArray[np.float32] | None:
        """Prompt logprobs as float32 with NaN where not computed, or None."""
        if self.prompt_logprobs is None:
            return None
        return np.array(
            [np.nan if lp is None else lp for lp in self.prompt_logprobs], dtype=np.float32
        )

    @property
    def topk_prompt_logprobs_np(self) -> TopkLogprobs | None:
        """Top-k prompt logprobs as dense matrices, or None if not requested."""
        rows = self.topk_prompt_logprobs
        return None if rows is None else lists_to_topk(rows)


def _numpy_kwargs_to_lists(
    data: Any, arrays: dict[str, str], topks: dict[str, str], *, nan_as_none: bool
) -> Any:
    """Accept the official SDK's numpy keyword arguments by converting them to wire lists."""
    if not isinstance(data, dict) or not any(key in data for key in (*arrays, *topks)):
        return data
    data = dict(data)
    for np_key, key in arrays.items():
        value = data.pop(np_key, None)
        if value is not None:
            listed = np.asarray(value).tolist()
            data[key] = [None if x != x else x for x in listed] if nan_as_none else listed
    for np_key, key in topks.items():
        value = data.pop(np_key, None)
        if value is not None:
            data[key] = topk_to_lists(value)
    return data


class CreateSamplingSessionRequest(RequestModel):
    """Open a sampling session on a base model or saved weights."""

    session_id: str
    sampling_session_seq_id: int
    base_model: str | None = None
    model_path: str | None = None
    type: Literal["create_sampling_session"] = "create_sampling_session"


class CreateSamplingSessionResponse(ResponseModel):
    """The new sampling session's id."""

    type: Literal["create_sampling_session"] = "create_sampling_session"
    sampling_session_id: str


class JoinSamplingSessionRequest(RequestModel):
    """Ask for a fresh client id inside an existing sampling session (after unpickling)."""

    sampling_session_id: str
    type: Literal["join_sampling_session"] = "join_sampling_session"


class JoinSamplingSessionResponse(ResponseModel):
    """The server-allocated client id (0 is the original client)."""

    type: Literal["join_sampling_session"] = "join_sampling_session"
    client_counter: int


class GetSamplerResponse(ResponseModel):
    """What a sampler (sampling session) serves."""

    sampler_id: str
    base_model: str
    model_path: str | None = None
