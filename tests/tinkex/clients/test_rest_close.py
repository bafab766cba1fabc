"""`RestClient.close()` releases what the client opened, may be called twice, and later calls
say the client is closed; a client on a ServiceClient's holder leaves that holder open."""

from __future__ import annotations

import asyncio

import pytest
from fake_tinker import API_KEY, BASE_MODEL, FakeTinker

from tinkex.clients.rest import RestClient
from tinkex.clients.service import ServiceClient


def test_close_releases_the_clients_own_core_and_later_calls_say_so(
    fake_tinker: FakeTinker,
) -> None:
    client = RestClient(base_url=fake_tinker.base_url, api_key=API_KEY)
    assert client.get_server_capabilities().result(10).supported_models
    client.close()
    client.close()  # idempotent
    with pytest.raises(RuntimeError, match="RestClient is closed; create a new RestClient"):
        client.get_server_capabilities()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):  # the loop thread is gone too
        client.holder.run_coroutine_threadsafe(coro)


def test_closing_a_services_rest_client_leaves_the_service_open(
    service_client: ServiceClient,
) -> None:
    rest = service_client.create_rest_client()
    rest.close()
    with pytest.raises(RuntimeError, match="closed"):
        rest.get_server_capabilities()
    assert service_client.get_server_capabilities().supported_models[0].model_name == BASE_MODEL
