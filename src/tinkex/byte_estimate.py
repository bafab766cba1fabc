"""Cheap request-size estimates, the currency of chunking and dispatch budgets.

Forward/backward batches are cut into chunks of at most ``fwdbwd_max_chunk_bytes_count``
estimated bytes, and in-flight requests are bounded by bytes semaphores; both count bytes
with these estimates, which match the official client's numbers exactly so the same batch
chunks the same way:

- a forward/backward ``Datum`` is sized as its protobuf body: 4 bytes per token (int32),
  the tensor's values in their dtype, 8 bytes per sparse CSR index;
- a sampling prompt is sized as JSON: 10 bytes per token;
- image and audio chunks count their raw bytes, and an image pointer its location's length.
"""

from __future__ import annotations

from collections.abc import Iterable

from tinkex.types.datum import Datum
from tinkex.types.model_input import (
    DmelChunk,
    ImageAssetPointerChunk,
    ImageChunk,
    ModelInput,
    ModelInputChunk,
)
from tinkex.types.sampling import SampleRequest
from tinkex.types.tensor import TensorData

__all__ = [
    "JSON_BYTES_PER_TOKEN",
    "PROTO_BYTES_PER_TOKEN",
    "chunk_bytes",
    "data_bytes",
    "datum_bytes",
    "model_input_bytes",
    "sample_request_bytes",
    "tensor_bytes",
]

PROTO_BYTES_PER_TOKEN = 4
"""Tokens travel as int32 in protobuf bodies."""

JSON_BYTES_PER_TOKEN = 10
"""A generous per-token size for JSON bodies (digits, comma, slack)."""

_SPARSE_INDEX_BYTES = 8


def chunk_bytes(chunk: ModelInputChunk, *, bytes_per_token: int) -> int:
    """Estimated bytes of one model-input chunk."""
    if isinstance(chunk, DmelChunk):
        return len(chunk.dmel)
    if isinstance(chunk, ImageChunk):
        return len(chunk.data)
    if isinstance(chunk, ImageAssetPointerChunk):
        return len(chunk.location)
    return chunk.length * bytes_per_token


def model_input_bytes(
    model_input: ModelInput, *, bytes_per_token: int = JSON_BYTES_PER_TOKEN
) -> int:
    """Estimated bytes of a model input (JSON-sized tokens unless told otherwise)."""
    return sum(chunk_bytes(c, bytes_per_token=bytes_per_token) for c in model_input.chunks)


def tensor_bytes(tensor: TensorData) -> int:
    """Bytes of a tensor's protobuf payload: its values plus any CSR indices."""
    indices = len(tensor.sparse_crow_indices or ()) + len(tensor.sparse_col_indices or ())
    return tensor.array.nbytes + _SPARSE_INDEX_BYTES * indices


def datum_bytes(datum: Datum) -> int:
    """Estimated bytes of a datum in a protobuf forward/backward body."""
    return model_input_bytes(datum.model_input, bytes_per_token=PROTO_BYTES_PER_TOKEN) + sum(
        tensor_bytes(tensor) for tensor in datum.loss_fn_inputs.values()
    )


def data_bytes(data: Iterable[Datum]) -> int:
    """Estimated bytes of a batch of datums."""
    return sum(datum_bytes(datum) for datum in data)


def sample_request_bytes(request: SampleRequest) -> int:
    """Estimated bytes of a sampling request, as the sampling dispatch budget counts them."""
    return model_input_bytes(request.prompt)
