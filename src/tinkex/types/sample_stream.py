"""A streamed sample's pieces (`SamplingClient.sample_stream`, a tinkex extension).

The server's `tokens` events (docs/protocol.md §1.5) validate into `SampleStreamChunk`; the
client fills in `text_delta`, so the wire form and what users iterate over are one type.
"""

from __future__ import annotations

from ._base import ResponseModel
from .sampling import StopReason, TopkRows

__all__ = ["SampleStreamChunk"]


class SampleStreamChunk(ResponseModel):
    """Tokens just generated for sequence `sequence_index`, in order.

    Joining a sequence's chunks gives its tokens, logprobs and top-k logprobs as `sample`
    returns them; its last chunk carries the `stop_reason`. `text_delta` is the new text
    (never half a character: bytes of a split character wait for the chunk completing them),
    or None when no tokenizer for the model is available locally.
    """

    sequence_index: int
    tokens: list[int]
    logprobs: list[float] | None = None
    topk_logprobs: TopkRows | None = None
    stop_reason: StopReason | None = None
    text_delta: str | None = None
