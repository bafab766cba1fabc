"""`tinkex sample` end to end against the local backend."""

from __future__ import annotations

import json

from cli_testkit import TINY, Cli, OfficialClients, seed_runs


def test_sample_a_base_model_as_json(tinkex: Cli) -> None:
    result = tinkex(
        "sample",
        "--model",
        TINY,
        "--prompt",
        "The quick brown fox",
        "--max-tokens",
        "4",
        "--num-samples",
        "2",
        "--seed",
        "1",
        "--json",
    )

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == TINY
    assert data["prompt_tokens"]
    assert len(data["samples"]) == 2
    for sample in data["samples"]:
        assert 1 <= len(sample["tokens"]) <= 4
        assert isinstance(sample["text"], str)
        assert sample["stop_reason"] in ("length", "stop")


def test_sample_a_sampler_checkpoint_as_a_table(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    result = tinkex(
        "sample", "-m", run.sampler_path, "-p", "Hello", "--max-tokens", "3", "--temperature", "0",
        "--no-stream",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert f"1 sample(s) from {TINY}" in result.stdout
    assert "Stop" in result.stdout


def test_one_sample_streams_its_text_when_the_client_can(tinkex: Cli) -> None:
    args = ["sample", "-m", TINY, "-p", "The capital of Peru", "--max-tokens", "8", "--temperature"]
    whole = tinkex(*args, "0", "--json")
    streamed = tinkex(*args, "0")

    assert whole.exit_code == streamed.exit_code == 0, streamed.stderr
    if isinstance(tinkex.clients, OfficialClients):  # the official client cannot stream
        assert "1 sample(s) from" in streamed.stdout
    else:
        assert streamed.stdout == json.loads(whole.stdout)["samples"][0]["text"] + "\n"
