"""The official `tinker==0.38.0` client against tinkex.local: REST management of checkpoints
(the main flow, shared with `tinkex`, is in `test_server_full_flow`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

tinker = pytest.importorskip("tinker")

from server_testkit import TINY  # noqa: E402

from tinkex.local.server import LocalServer  # noqa: E402


@pytest.fixture
def service(open_server: LocalServer) -> Iterator[Any]:
    client = tinker.ServiceClient(base_url=open_server.base_url, api_key="tml-test")
    yield client
    client.close("success")


def test_rest_client_lists_and_manages_checkpoints(service: Any, open_server: LocalServer) -> None:
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=2).result()
    first = training.save_state("one").result().path
    second = training.save_weights_for_sampler("two").result().path
    rest = tinker.RestClient(base_url=open_server.base_url, api_key="tml-test")

    listed = rest.list_checkpoints(training.model_id).result().checkpoints
    assert {c.tinker_path for c in listed} == {first, second}
    assert {c.checkpoint_type for c in listed} == {"training", "sampler"}

    run = rest.get_training_run(training.model_id).result()
    assert run.base_model == TINY
    assert run.lora_rank == 4
    assert run.last_checkpoint.tinker_path == first
    assert rest.get_weights_info_by_tinker_path(first).result().base_model == TINY

    rest.publish_checkpoint_from_tinker_path(first).result()
    assert rest.get_training_run(training.model_id).result().last_checkpoint.public
    rest.unpublish_checkpoint_from_tinker_path(first).result()
    rest.set_checkpoint_ttl_from_tinker_path(first, 7200).result()
    expiring = rest.get_training_run(training.model_id).result().last_checkpoint
    assert expiring.expires_at is not None
    assert not expiring.public

    rest.delete_checkpoint_from_tinker_path(second).result()
    remaining = rest.list_checkpoints(training.model_id).result().checkpoints
    assert [c.tinker_path for c in remaining] == [first]
    users = rest.list_user_checkpoints(limit=1).result()
    assert users.cursor.limit == 1
    assert len(users.checkpoints) == 1

    session_id = training.model_id.split(":", 1)[0]
    session = rest.get_session(session_id).result()
    assert training.model_id in session.training_run_ids
