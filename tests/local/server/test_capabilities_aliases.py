"""`get_server_capabilities` lists model aliases next to the served models, so code that
checks the list before creating a model (as the cookbook does) finds the alias."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_testkit import TINY

from tinkex.clients.service import ServiceClient
from tinkex.local.config import DEFAULT_ALIASES, ServerConfig
from tinkex.local.server import LocalServer

KEY = "tml-capabilities"
ALIAS = "acme/tiny-chat"


def _names(server: LocalServer) -> list[str | None]:
    assert server.base_url is not None
    with ServiceClient(base_url=server.base_url, api_key=KEY) as service:
        capabilities = service.get_server_capabilities()
    assert all(model.trainable and model.sampleable for model in capabilities.supported_models)
    return [model.model_name for model in capabilities.supported_models]


@pytest.fixture
def aliased(tmp_path: Path) -> Iterator[LocalServer]:
    config = ServerConfig(port=0, data_dir=tmp_path, model_aliases={ALIAS: TINY})
    with LocalServer(config) as server:
        yield server


def test_configured_aliases_follow_the_served_models(aliased: LocalServer) -> None:
    assert _names(aliased) == [TINY, ALIAS]


def test_the_default_alias_is_listed(tmp_path: Path) -> None:
    with LocalServer(ServerConfig(port=0, data_dir=tmp_path)) as server:
        assert _names(server) == [TINY, *DEFAULT_ALIASES]


def test_an_alias_that_names_a_served_model_is_listed_once(tmp_path: Path) -> None:
    other = "tinkex/other-name"
    config = ServerConfig(
        port=0, data_dir=tmp_path, models=(TINY, other), model_aliases={other: TINY}
    )
    with LocalServer(config) as server:
        assert _names(server) == [TINY, other]


def test_a_listed_alias_trains(aliased: LocalServer) -> None:
    """What the cookbook does: pick the model from the list, then create a client for it."""
    assert aliased.base_url is not None
    with ServiceClient(base_url=aliased.base_url, api_key=KEY) as service:
        listed = service.get_server_capabilities().supported_models
        (chosen,) = [model.model_name for model in listed if model.model_name == ALIAS]
        assert chosen is not None
        training = service.create_lora_training_client(chosen, rank=2).result(60)
        assert training.get_info().model_data.model_name == ALIAS
