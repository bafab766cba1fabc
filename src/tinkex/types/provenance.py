"""Provenance spans: which sampled or prompted tokens a Datum's positions came from."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

import pydantic

from ._base import RequestModel

__all__ = ["PromptProvenanceSpan", "ProvenanceSpans", "SampledProvenanceSpan"]


class PromptProvenanceSpan(RequestModel):
    """A run of positions copied from ``[offset, offset + length)`` of a request's prompt."""

    sequence_id: str = pydantic.Field(min_length=1)
    """``SampledSequence.sequence_id`` of a request whose prompt held this run."""
    offset: int = pydantic.Field(default=0, ge=0)
    length: int = pydantic.Field(ge=0)
    type: Literal["prompt"] = "prompt"


class SampledProvenanceSpan(RequestModel):
    """A run of positions reproducing ``[offset, offset + length)`` of a sampled sequence."""

    sequence_id: str = pydantic.Field(min_length=1)
    """``SampledSequence.sequence_id`` of the sequence this run reproduces."""
    offset: int = pydantic.Field(default=0, ge=0)
    length: int = pydantic.Field(ge=0)
    type: Literal["sampled"] = "sampled"


ProvenanceSpans: TypeAlias = list[
    Annotated[PromptProvenanceSpan | SampledProvenanceSpan, pydantic.Field(discriminator="type")]
]
"""Consecutive runs tiling one Datum field; see ``Datum.with_provenance``."""
