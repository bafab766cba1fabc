"""`tinkex sample` end to end against the local backend."""

from __future__ import annotations

import json

from cli_testkit import TINY, Cli, seed_runs


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
        "sample", "-m", run.sampler_path, "-p", "Hello", "--max-tokens", "3", "--temperature", "0"
    )

    assert result.exit_code == 0, result.stderr
    assert f"1 sample(s) from {TINY}" in result.stdout
    assert "Stop" in result.stdout
