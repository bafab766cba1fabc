"""What `record_stability_info` records, and how `stable_reinforce` uses it.

A sample asked with `record_stability_info=True` keeps, per sequence id, the tokens the
server sampled and their logprobs under the sampling weights. A `stable_reinforce` datum
names, through its `loss_fn_input_spans`, which sampled sequence each target position
reproduces; the server checks that those targets are the tokens it sampled and takes the
behaviour logprobs of the importance ratio from its own record instead of the client's
`logprobs` (which went through the client's float handling and may be stale or wrong).
Records live in memory, bounded: the oldest go first, as the service's records expire.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tinkex.local.engine import EngineDatum
from tinkex.local.engine.errors import UserInputError
from tinkex.types import Datum, ForwardBackwardInput, SampledProvenanceSpan

__all__ = [
    "DEFAULT_CAPACITY",
    "STABLE_REINFORCE",
    "RecordedSequence",
    "Sampled",
    "SequenceRecords",
    "recorded_inputs",
    "with_recorded_logprobs",
]

STABLE_REINFORCE = "stable_reinforce"

DEFAULT_CAPACITY = 65_536
"""Sequences kept (a few KB each): many RL steps of groups_per_batch x group_size."""


class Sampled(Protocol):
    """What the sampler reports per sequence (the engine's sampled-sequence types)."""

    @property
    def tokens(self) -> Sequence[int]: ...

    @property
    def logprobs(self) -> Sequence[float]: ...


@dataclass(frozen=True)
class RecordedSequence:
    """One sampled sequence as the server produced it."""

    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]


class SequenceRecords:
    """Sampled sequences by id, for the samples that asked for stability info."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._records: OrderedDict[str, RecordedSequence] = OrderedDict()

    def record(self, sequence_ids: Sequence[str], sequences: Sequence[Sampled]) -> None:
        """Keep each sequence under its id (ids in the same order)."""
        with self._lock:
            for sequence_id, sequence in zip(sequence_ids, sequences, strict=True):
                self._records[sequence_id] = RecordedSequence(
                    tuple(sequence.tokens), tuple(sequence.logprobs)
                )
                self._records.move_to_end(sequence_id)
            while len(self._records) > self._capacity:
                self._records.popitem(last=False)

    def get(self, sequence_id: str) -> RecordedSequence | None:
        with self._lock:
            return self._records.get(sequence_id)


def recorded_inputs(
    data: Sequence[EngineDatum], fb_input: ForwardBackwardInput, records: SequenceRecords
) -> Sequence[EngineDatum]:
    """What the loss trains on: for stable_reinforce, with the recorded behaviour logprobs."""
    if fb_input.loss_fn != STABLE_REINFORCE:
        return data
    return with_recorded_logprobs(data, fb_input.data, records)


def with_recorded_logprobs(
    data: Sequence[EngineDatum], wire: Sequence[Datum], records: SequenceRecords
) -> list[EngineDatum]:
    """`data` with `logprobs` replaced by the recorded ones at every sampled position.

    Every datum must carry provenance; every sampled span must name a recorded sequence
    whose tokens its targets reproduce. Prompt spans carry no advantage and are left as is.
    """
    return [
        _substitute(index, datum, source, records)
        for index, (datum, source) in enumerate(zip(data, wire, strict=True))
    ]


def _substitute(
    index: int, datum: EngineDatum, source: Datum, records: SequenceRecords
) -> EngineDatum:
    field = f"data[{index}].loss_fn_input_spans"
    spans = source.loss_fn_input_spans
    if spans is None:
        raise UserInputError(
            f"{field}: missing; loss_fn 'stable_reinforce' needs provenance on every datum "
            "(Datum.with_provenance naming the sampled sequences), or use 'importance_sampling'"
        )
    targets = np.asarray(datum.loss_fn_inputs.get("target_tokens", ()))
    if sum(span.length for span in spans) != len(targets):
        raise UserInputError(
            f"{field}: the span lengths sum to {sum(span.length for span in spans)}, but "
            f"target_tokens has {len(targets)} positions; the spans must tile the targets"
        )
    if "logprobs" not in datum.loss_fn_inputs:
        raise UserInputError(
            f"data[{index}].loss_fn_inputs['logprobs']: missing; add the sampler's logprobs"
        )
    logprobs = np.array(datum.loss_fn_inputs["logprobs"], dtype=np.float32)
    if logprobs.shape != targets.shape:
        raise UserInputError(
            f"data[{index}].loss_fn_inputs['logprobs']: expected shape {targets.shape} (like "
            f"target_tokens), got {logprobs.shape}"
        )
    position = 0
    for k, span in enumerate(spans):
        if isinstance(span, SampledProvenanceSpan):
            recorded = _recorded(f"{field}[{k}]", span, records)
            window = slice(position, position + span.length)
            sampled = recorded.tokens[span.offset : span.offset + span.length]
            if list(targets[window]) != list(sampled):
                raise UserInputError(
                    f"{field}[{k}]: target_tokens[{position}:{position + span.length}] are not "
                    f"the tokens sequence {span.sequence_id!r} sampled at offset {span.offset}"
                )
            logprobs[window] = recorded.logprobs[span.offset : span.offset + span.length]
        position += span.length
    inputs = {**datum.loss_fn_inputs, "logprobs": logprobs}
    return EngineDatum(tokens=datum.tokens, loss_fn_inputs=inputs)


def _recorded(
    field: str, span: SampledProvenanceSpan, records: SequenceRecords
) -> RecordedSequence:
    recorded = records.get(span.sequence_id)
    if recorded is None:
        raise UserInputError(
            f"{field}: sequence {span.sequence_id!r} has no stability record on this server; "
            "sample it with record_stability_info=True (and train before the record expires)"
        )
    if span.offset + span.length > len(recorded.tokens):
        raise UserInputError(
            f"{field}: offset {span.offset} + length {span.length} runs past the "
            f"{len(recorded.tokens)} tokens sequence {span.sequence_id!r} sampled"
        )
    return recorded
