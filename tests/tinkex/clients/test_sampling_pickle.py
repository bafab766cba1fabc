"""A SamplingClient crosses process boundaries: pickled into a subprocess that samples against
the fake server, and as a credential-free sampler handle."""

from __future__ import annotations

import base64
import importlib.util
import json
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tinkex.clients.sampling import CLONE_ID_SPAN, SamplingClient

KIT = Path(__file__).with_name("sampling_testkit.py")
if "sampling_testkit" not in sys.modules:  # a helper module beside the tests, any import mode
    _spec = importlib.util.spec_from_file_location("sampling_testkit", KIT)
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules["sampling_testkit"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["sampling_testkit"])

from sampling_testkit import API_KEY, SAMPLER, FakeSampler, LoopHolder  # noqa: E402

SUBPROCESS_TIMEOUT_S = 120
# The child process registers the test kit the same way, then unpickles and samples.
CHILD = textwrap.dedent(
    """
    import importlib.util, pickle, sys
    spec = importlib.util.spec_from_file_location("sampling_testkit", sys.argv[1])
    sys.modules["sampling_testkit"] = kit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kit)
    from tinkex import types
    client = pickle.loads(sys.stdin.buffer.read())
    prompt = types.ModelInput.from_ints([1, 2])
    result = client.sample(prompt, 1, types.SamplingParams(max_tokens=1)).result(timeout=60)
    print(result.sequences[0].tokens, result.sequences[0].sequence_id)
    """
)


@pytest.fixture
def holder(httpserver: HTTPServer) -> Iterator[LoopHolder]:
    made = LoopHolder.get_shadow_holder(
        "sess1", base_url=httpserver.url_for("/").rstrip("/"), api_key=API_KEY
    )
    yield made
    made.close()


@pytest.fixture
def client(holder: LoopHolder) -> SamplingClient:
    return SamplingClient(holder, sampling_session_id=SAMPLER, base_model="tiny")


def test_a_pickled_client_samples_in_a_subprocess(
    httpserver: HTTPServer, client: SamplingClient
) -> None:
    sampler = FakeSampler(httpserver)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(KIT)],
        input=pickle.dumps(client),
        capture_output=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["[2,", "1]", "req1-0"]
    (sent,) = sampler.requests
    assert sent["sampling_session_id"] == SAMPLER
    assert sent["seq_id"] >= CLONE_ID_SPAN  # a clone numbers its samples in its own block
    assert sampler.poll_headers[0]["X-Api-Key"] == API_KEY  # credentials travel in a pickle


def test_pickle_round_trip_in_process(client: SamplingClient) -> None:
    clone = pickle.loads(pickle.dumps(client))
    assert isinstance(clone.holder, LoopHolder)
    try:
        assert clone.get_base_model() == "tiny"
        assert clone.sampling_session_id == SAMPLER
        assert clone.holder.get_session_id() == "sess1"
    finally:
        clone.holder.close()


def test_a_sampler_handle_carries_no_credentials(client: SamplingClient) -> None:
    handle = client.get_sampler_handle()
    fields = json.loads(base64.urlsafe_b64decode(handle))
    assert API_KEY not in json.dumps(fields)
    assert fields["sampling_session_id"] == SAMPLER
    with pytest.raises(ValueError, match="get_sampler_handle"):
        SamplingClient.from_sampler_handle("garbage")


def test_a_sampler_handle_rebuilds_a_client_on_the_default_core(client: SamplingClient) -> None:
    pytest.importorskip("tinkex.clients._holder", reason="needs the client core (H9)")
    clone = SamplingClient.from_sampler_handle(
        client.get_sampler_handle(), api_key="tml-other-key-0123456789"
    )
    assert clone.get_base_model() == "tiny"
    assert clone.sampling_session_id == SAMPLER
