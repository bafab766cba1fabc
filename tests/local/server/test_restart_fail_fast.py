"""After a restart on the same data directory, training requests of a model created before it
fail at once (HTTP 410 naming the model and the fix) instead of waiting out `gap_timeout_s`.

The restarted server keeps the default six-minute gap timeout; the clients' timeouts are a few
seconds, so an answer that waited for the queue would fail these tests as a timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from server_testkit import TINY, TOKENS, Api, datum_json

from tinkex import types
from tinkex.clients.service import ServiceClient
from tinkex.clients.training import TrainingClient
from tinkex.local.config import ServerConfig
from tinkex.local.queue import DEFAULT_GAP_TIMEOUT_S
from tinkex.local.server import LocalServer

KEY = "tml-restart-fail-fast"
CLIENT_TIMEOUT_S = 10.0
"""Far below the server's gap timeout: only an immediate answer arrives in time."""
FIX = "create_training_client_from_state"


@dataclass
class Restarted:
    """A server restarted on its data directory, and what was made before the restart."""

    server: LocalServer
    model_id: str
    checkpoint: str
    training: TrainingClient


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restarted]:
    config = ServerConfig(port=0, data_dir=tmp_path_factory.mktemp("restart"))
    assert config.gap_timeout_s == DEFAULT_GAP_TIMEOUT_S
    first = LocalServer(config)
    url = first.start()
    again = LocalServer(config.replace(port=int(url.rsplit(":", 1)[1])))
    try:
        # The client outlives the first server and is closed before the second one stops.
        with ServiceClient(base_url=url, api_key=KEY) as service:
            try:
                training = service.create_lora_training_client(TINY, rank=4, seed=1).result(60)
                checkpoint = training.save_state("before-restart").result(60).path
            finally:
                first.stop()
            assert again.start() == url
            yield Restarted(again, training.model_id, checkpoint, training)
    finally:
        again.stop()


def _requests(old: Restarted) -> dict[str, dict[str, Any]]:
    """One body per training endpoint, each for the model the restart lost."""
    model = {"model_id": old.model_id, "seq_id": 3}
    return {
        "/forward_backward": {
            **model,
            "forward_backward_input": {
                "data": [datum_json(TOKENS)],
                "loss_fn": "cross_entropy",
            },
        },
        "/optim_step": {**model, "adam_params": {"learning_rate": 1e-3}},
        "/save_weights": {**model, "path": "after-restart"},
        "/save_weights_for_sampler": {**model, "path": "after-restart"},
        "/save_weights_external": {**model, "path": "after-restart"},
        "/load_weights": {**model, "path": old.checkpoint, "optimizer": False},
    }


@pytest.mark.parametrize(
    "endpoint",
    [
        "/forward_backward",
        "/optim_step",
        "/save_weights",
        "/save_weights_for_sampler",
        "/save_weights_external",
        "/load_weights",
    ],
)
def test_a_lost_model_is_refused_at_once_naming_the_fix(
    restarted: Restarted, endpoint: str
) -> None:
    assert restarted.server.base_url is not None
    api = Api(restarted.server.base_url, KEY)
    api.http.timeout = CLIENT_TIMEOUT_S
    try:
        response = api.post(endpoint, _requests(restarted)[endpoint])
    finally:
        api.close()
    assert response.status_code == 410, response.text
    assert response.headers["x-should-retry"] == "false"
    answer = response.json()
    assert answer["field"] == "model_id"
    assert restarted.model_id in answer["detail"]
    assert FIX in answer["detail"]


def test_the_lost_models_client_fails_at_once(restarted: Restarted) -> None:
    datum = types.Datum(
        model_input=types.ModelInput.from_ints(TOKENS[:-1]),
        loss_fn_inputs={"target_tokens": TOKENS[1:], "weights": [1.0] * (len(TOKENS) - 1)},
    )
    with pytest.raises(Exception, match=FIX) as failure:
        restarted.training.forward_backward([datum], "cross_entropy").result(CLIENT_TIMEOUT_S)
    assert not isinstance(failure.value, TimeoutError)


def test_the_model_resumes_from_its_checkpoint(restarted: Restarted) -> None:
    """The fix the message names works on the restarted server."""
    assert restarted.server.base_url is not None
    with ServiceClient(base_url=restarted.server.base_url, api_key=KEY) as service:
        resumed = service.create_training_client_from_state(restarted.checkpoint).result(60)
        assert resumed.model_id != restarted.model_id
        resumed.optim_step(types.AdamParams(learning_rate=1e-3)).result(60)


def test_get_info_of_the_lost_model_still_answers(restarted: Restarted) -> None:
    """Describing a run needs only the store, so it keeps working across the restart."""
    assert restarted.server.base_url is not None
    api = Api(restarted.server.base_url, KEY)
    try:
        info = api.ok("/get_info", {"model_id": restarted.model_id, "type": "get_info"})
    finally:
        api.close()
    assert info["model_id"] == restarted.model_id
    assert info["model_data"]["model_name"] == TINY
