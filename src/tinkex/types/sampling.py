"""Sampling: parameters, requests, sampled sequences and sampling sessions.

Responses hold Python lists (what JSON gives cheaply); the ``*_np`` views and keyword
arguments match the official SDK's numpy-first API, so decoders may pass arrays directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self, TypeAlias

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
    """Rows of ``(token_id, logprob)`` pairs without their trailing masked cells.

    As in the official client, a row whose first cell is masked is None (nothing computed
    there), and masked cells before the last filled one are kept.
    """
    n, k = topk.token_ids.shape
    if n == 0 or k == 0:
        return []
    ids: list[int] = topk.token_ids.ravel().tolist()
    lps: list[float] = topk.logprobs.ravel().tolist()
    rows: TopkRows = []
    for start in range(0, n * k, k):
        if ids[start] == 0 and lps[start] == MASK_LOGPROB:
            rows.append(None)
            continue
        end = start + k
        while ids[end - 1] == 0 and lps[end - 1] == MASK_LOGPROB:
            end -= 1
        rows.append(list(zip(ids[start:end], lps[start:end], strict=True)))
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


def _wire_array(kinds: str, what: str) -> Callable[[Any], Any]:
    """Validator keeping a 1-D numpy array as it is (lists go on to pydantic's list check)."""

    def check(value: Any) -> Any:
        if not isinstance(value, np.ndarray):
            raise ValueError("not an array")  # left-to-right union: try the list form next
        if value.ndim != 1 or (value.size and value.dtype.kind not in kinds):
            raise ValueError(
                f"expected a 1-D array of {what}, got shape {value.shape} dtype {value.dtype}"
            )
        return value

    return check


def _as_list(value: Any) -> Any:
    """Arrays go out as lists: float32 values spelt as the official client spells them."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, TopkLogprobs):
        return topk_to_lists(value)
    return value


def _not_an_array(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        raise ValueError("array rejected above")  # keeps a wrong-dtype array from list parsing
    return value


_WireNumbers = pydantic.PlainSerializer(_as_list)
_NoArray = pydantic.BeforeValidator(_not_an_array)
_IntArray = Annotated[npt.NDArray[Any], pydantic.PlainValidator(_wire_array("iu", "integers"))]
_FloatArray = Annotated[npt.NDArray[Any], pydantic.PlainValidator(_wire_array("f", "floats"))]
_Topk = Annotated[
    TopkLogprobs, pydantic.PlainValidator(lambda v: _checked_instance(v, TopkLogprobs))
]
_Tokens = Annotated[
    Annotated[
        _IntArray | Annotated[list[int], _NoArray], pydantic.Field(union_mode="left_to_right")
    ],
    _WireNumbers,
]
_Logprobs = Annotated[
    Annotated[
        _FloatArray | Annotated[list[float], _NoArray], pydantic.Field(union_mode="left_to_right")
    ],
    _WireNumbers,
]
_TopkField = Annotated[
    Annotated[_Topk | TopkRows, pydantic.Field(union_mode="left_to_right")], _WireNumbers
]


def _checked_instance(value: Any, kind: type[Any]) -> Any:
    if not isinstance(value, kind):
        raise ValueError(f"not a {kind.__name__}")
    return value


class SampledSequence(ResponseModel):
    """One generated sequence: tokens, optional logprobs, and why it stopped.

    Decoded responses keep the wire's numpy arrays (as the official client does): a 64 x 256
    response as Python lists would cost two objects per token. ``tokens``, ``logprobs`` and
    ``topk_logprobs`` are lists made on first read and cached; the ``*_np`` views are arrays.
    Lists given to the constructor (or parsed from JSON) are kept exactly.
    """

    model_config = pydantic.ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    stop_reason: StopReason
    tokens_data: _Tokens = pydantic.Field(default_factory=list, alias="tokens", repr=False)
    logprobs_data: _Logprobs | None = pydantic.Field(default=None, alias="logprobs", repr=False)
    topk_logprobs_data: _TopkField | None = pydantic.Field(
        default=None, alias="topk_logprobs", repr=False
    )
    sequence_id: str | None = None
    """Session-scoped id, used by later requests to reference this exact sequence."""

    _lists: dict[str, Any] = pydantic.PrivateAttr(default_factory=dict)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_numpy(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        renames = {
            "tokens_np": "tokens",
            "logprobs_np": "logprobs",
            "topk_logprobs_np": "topk_logprobs",
        }
        if not renames.keys() & data.keys():
            return data
        return {renames.get(key, key): value for key, value in data.items()}

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """As pydantic's, but ``update`` may also name ``tokens``/``logprobs``/``topk_logprobs``."""
        if not update:
            return super().model_copy(deep=deep)
        names = {"tokens": "tokens_data", "logprobs": "logprobs_data"}
        names["topk_logprobs"] = "topk_logprobs_data"
        copy = super().model_copy(
            update={names.get(key, key): value for key, value in update.items()}, deep=deep
        )
        copy._lists = {}  # lists cached from the old data must not leak into the copy
        return copy

    def _listed(self, name: str, value: Any, convert: Callable[[Any], Any]) -> Any:
        if value is None or isinstance(value, list):
            return value
        cached = self._lists.get(name)
        if cached is None:
            cached = self._lists[name] = convert(value)
        return cached

    @property
    def tokens(self) -> list[int]:
        """Token ids as a list (made from the array on first read, then cached)."""
        listed: list[int] = self._listed("tokens", self.tokens_data, np.ndarray.tolist)
        return listed

    @property
    def logprobs(self) -> list[float] | None:
        """Per-token logprobs as a list, or None if not requested."""
        listed: list[float] | None = self._listed("logprobs", self.logprobs_data, np.ndarray.tolist)
        return listed

    @property
    def topk_logprobs(self) -> TopkRows | None:
        """Top-k ``(token_id, logprob)`` pairs per position, or None if not requested."""
        listed: TopkRows | None = self._listed("topk", self.topk_logprobs_data, topk_to_lists)
        return listed

    @property
    def tokens_np(self) -> npt.NDArray[np.int32]:
        """Token ids as a 1-D int32 array."""
        return np.asarray(self.tokens_data, dtype=np.int32)

    @property
    def logprobs_np(self) -> npt.NDArray[np.float32] | None:
        """Per-token logprobs as a 1-D float32 array, or None if not requested."""
        data = self.logprobs_data
        return None if data is None else np.asarray(data, dtype=np.float32)

    @property
    def topk_logprobs_np(self) -> TopkLogprobs | None:
        """Top-k logprobs as dense matrices, or None if not requested."""
        data = self.topk_logprobs_data
        if data is None or isinstance(data, TopkLogprobs):
            return data
        return lists_to_topk(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampledSequence):
            return NotImplemented
        return (
            self.stop_reason == other.stop_reason
            and self.sequence_id == other.sequence_id
            and self.tokens == other.tokens
            and self.logprobs == other.logprobs
            and self.topk_logprobs == other.topk_logprobs
        )

    __hash__ = None  # type: ignore[assignment]  # holds mutable arrays

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield "stop_reason", self.stop_reason
        yield "tokens", self.tokens
        if self.logprobs is not None:
            yield "logprobs", self.logprobs
        if self.topk_logprobs is not None:
            yield "topk_logprobs", self.topk_logprobs
        if self.sequence_id is not None:
            yield "sequence_id", self.sequence_id


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
