"""A `Sampler` over any client with the official `ServiceClient`/`SamplingClient` API.

The CLI's sample command works with token ids and callbacks; this adapter turns them into
the client's own request types (`types_module`: `tinkex.types`, or the official SDK's
`tinker.types`) so one implementation serves every client with the official names.
Streaming is used when the sampling client has `sample_stream` (a tinkex extension, see
docs/protocol.md §1.5): a closable iterator of `SampleStreamChunk`s whose `response` holds
the whole result once it is exhausted.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from tinkex import types
from tinkex.cli.context import SampleRequest, TokenCallback

__all__ = ["ServiceSampler"]


class ServiceSampler:
    """Samples from one model through a sampling client with the official method names."""

    def __init__(
        self, client: Any, base_model: str, types_module: ModuleType, timeout_s: float
    ) -> None:
        self._client = client
        self._base_model = base_model
        self._types = types_module
        self._timeout_s = timeout_s

    @classmethod
    def open(
        cls, service: Any, model: str, types_module: ModuleType, timeout_s: float
    ) -> ServiceSampler:
        """A sampler for a base model name or a `tinker://` sampler checkpoint path."""
        where = "model_path" if model.startswith("tinker://") else "base_model"
        client = service.create_sampling_client(**{where: model}).result(timeout=timeout_s)
        return cls(client, str(client.get_base_model()), types_module, timeout_s)

    @property
    def base_model(self) -> str:
        return self._base_model

    @property
    def streams(self) -> bool:
        return callable(getattr(self._client, "sample_stream", None))

    def sample(
        self, request: SampleRequest, on_token: TokenCallback | None = None
    ) -> types.SampleResponse:
        prompt = self._types.ModelInput.from_ints(list(request.prompt_tokens))
        params = self._types.SamplingParams(
            max_tokens=request.max_tokens, temperature=request.temperature, seed=request.seed
        )
        if on_token is None or not self.streams:
            future = self._client.sample(prompt, request.num_samples, params)
            response: types.SampleResponse = future.result(timeout=self._timeout_s)
            return response
        with self._client.sample_stream(prompt, request.num_samples, params) as stream:
            for chunk in stream:
                for token in chunk.tokens:
                    on_token(chunk.sequence_index, token)
        final: types.SampleResponse | None = stream.response
        if final is None:
            raise RuntimeError("the sample stream ended without its final response; sample again")
        return final
