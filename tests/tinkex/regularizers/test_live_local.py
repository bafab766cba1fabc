"""A regularized custom loss trained against the embedded local backend (official client)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

tinker = pytest.importorskip("tinker")

from tinkex.datasets import datum_from_tokens, render_conversation  # noqa: E402
from tinkex.local.config import ServerConfig  # noqa: E402
from tinkex.local.server import LocalServer  # noqa: E402
from tinkex.regularizers import Entropy, Metrics, compose  # noqa: E402
from tinkex.tokenizer import get_tokenizer  # noqa: E402
from tinkex.types import Datum  # noqa: E402

TINY = "tinkex/tiny-llama"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    server = LocalServer(ServerConfig(port=0, data_dir=tmp_path, long_poll_s=5.0))
    server.start()
    client = tinker.ServiceClient(base_url=server.base_url, api_key="tml-test")
    try:
        yield client
    finally:
        client.close("success")
        server.stop()


def weighted_nll(data: list[Datum], logprobs: list[torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
    """Cross-entropy on the datum weights: the base loss the regularizer is added to."""
    total = torch.zeros(())
    for datum, lp in zip(data, logprobs, strict=True):
        total = total - (lp * datum.loss_fn_inputs["weights"].to_torch()).sum()
    return total, {}


def test_regularized_custom_loss_lowers_the_penalty(service: Any) -> None:
    tokenizer = get_tokenizer(TINY)
    messages = [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue, like the sky over the sea."},
    ]
    tokens, weights = render_conversation(tokenizer, messages)
    ours = datum_from_tokens(tokens, weights)
    datum = tinker.types.Datum(
        model_input=tinker.types.ModelInput.from_ints(ours.model_input.to_ints()),
        loss_fn_inputs={key: value.to_numpy() for key, value in ours.loss_fn_inputs.items()},
    )
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=0).result()
    loss_fn = compose(weighted_nll, [(Entropy(), 5.0)])

    penalties = []
    for _ in range(4):
        output = training.forward_backward_custom([datum], loss_fn).result()
        training.optim_step(tinker.types.AdamParams(learning_rate=5e-2)).result()
        penalties.append(output.metrics["entropy:sum"])
        assert output.metrics["entropy/grad_norm:mean"] > 0
    assert penalties[-1] < penalties[0]
