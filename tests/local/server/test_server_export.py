"""Weights leaving a run through the official client: external exports with signed per-file
download URLs, and copies into another project."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

tinker = pytest.importorskip("tinker")

from safetensors.numpy import load  # noqa: E402
from server_testkit import TINY  # noqa: E402

from tinkex.local.server import LocalServer  # noqa: E402

KEY = "tml-export"


@pytest.fixture
def service(open_server: LocalServer) -> Iterator[Any]:
    client = tinker.ServiceClient(base_url=open_server.base_url, api_key=KEY)
    yield client
    client.close("success")


@pytest.fixture
def rest(open_server: LocalServer) -> Any:
    return tinker.RestClient(base_url=open_server.base_url, api_key=KEY)


def _download(url: str) -> bytes:
    """As the official CLI does: a bare urlopen, no API key."""
    with urllib.request.urlopen(url, timeout=30) as response:
        data: bytes = response.read()
        return data


def test_external_weights_download_without_a_key(service: Any, rest: Any) -> None:
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=5).result()
    saved = training.save_weights_external("export", ttl_seconds=7200).result()
    assert saved.path == f"tinker://{training.model_id}/external_weights/export"

    listed = rest.list_checkpoints(training.model_id).result().checkpoints
    assert [(c.checkpoint_type, c.expires_at is not None) for c in listed] == [("external", True)]

    signed = rest.get_external_weights_urls(saved.path).result()
    assert sorted(signed.urls) == ["adapter_config.json", "adapter_model.safetensors"]
    config = json.loads(_download(signed.urls["adapter_config.json"]))
    assert config["base_model_name_or_path"] == TINY
    assert config["r"] == 4
    tensors = load(_download(signed.urls["adapter_model.safetensors"]))
    assert tensors
    assert all("lora_A" in name or "lora_B" in name for name in tensors)

    url = signed.urls["adapter_config.json"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        _download(url.replace("signature=", "signature=0"))
    assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as elsewhere:
        _download(url.replace("adapter_config.json", "optimizer.safetensors"))
    assert elsewhere.value.code == 403


def test_encrypted_exports_are_refused_naming_the_field(service: Any) -> None:
    training = service.create_lora_training_client(base_model=TINY, rank=4).result()
    with pytest.raises(tinker.RequestFailedError, match="age_encryption_recipients"):
        training.save_weights_external("x", age_encryption_recipients=["age1abc"]).result()


def test_copies_land_in_a_new_run_once_per_call(
    service: Any, rest: Any, open_server: LocalServer
) -> None:
    training = service.create_lora_training_client(base_model=TINY, rank=4, seed=6).result()
    source = training.save_weights_for_sampler("to-copy").result().path

    copied = rest.copy_weights(source, "proj-archive").result()
    assert copied != source
    assert copied.endswith("/sampler_weights/to-copy")
    run_id = copied.removeprefix("tinker://").split("/")[0]
    run = rest.get_training_run(run_id).result()
    assert run.base_model == TINY
    assert run.lora_rank == 4
    assert rest.get_weights_info_by_tinker_path(copied).result().base_model == TINY
    sampler = service.create_sampling_client(model_path=copied).result()
    original = service.create_sampling_client(model_path=source).result()
    prompt = tinker.types.ModelInput.from_ints([5, 9, 13, 17])
    assert sampler.compute_logprobs(prompt).result() == original.compute_logprobs(prompt).result()

    body = {"source_path": source, "destination_project_id": "proj-archive"}
    headers = {"X-API-Key": KEY, "X-Idempotency-Key": str(uuid.uuid4())}
    url = f"{open_server.base_url}/api/v1/copy_weights"
    first = httpx.post(url, json=body, headers=headers, timeout=30).json()["tinker_path"]
    retried = httpx.post(url, json=body, headers=headers, timeout=30).json()["tinker_path"]
    assert first == retried != copied

    missing = httpx.post(
        url, json={**body, "source_path": source + "-gone"}, headers=headers, timeout=30
    )
    assert missing.status_code == 404
