"""`tinkex run list|info` end to end against the local backend."""

from __future__ import annotations

import json

from cli_testkit import Cli, seed_runs


def test_run_list_shows_runs_in_table_and_json(tinkex: Cli) -> None:
    runs = seed_runs(tinkex.base_url, tinkex.api_key, 2)

    table = tinkex("run", "list")
    assert table.exit_code == 0, table.stderr
    assert "2 training runs" in table.stdout
    for run in runs:
        assert run.run_id in table.stdout
    assert "Yes (rank 4)" in table.stdout

    data = tinkex.json("run", "list")
    assert {run["training_run_id"] for run in data["runs"]} == {run.run_id for run in runs}
    assert data["total"] == 2
    assert data["shown"] == 2
    assert all(run["base_model"] == "tinkex/tiny-llama" for run in data["runs"])


def test_run_list_limit_zero_pages_through_everything(tinkex: Cli) -> None:
    runs = seed_runs(tinkex.base_url, tinkex.api_key, 5)

    everything = tinkex.json("--page-size", "2", "run", "list", "--limit", "0")
    limited = tinkex.json("--page-size", "2", "run", "list", "--limit", "3")
    flagged = tinkex("--page-size", "2", "run", "list", "--limit", "0", "--json")
    assert json.loads(flagged.stdout) == everything

    assert sorted(run["training_run_id"] for run in everything["runs"]) == sorted(
        run.run_id for run in runs
    )
    assert len(limited["runs"]) == 3
    assert limited["total"] == 5
    table = tinkex("--page-size", "2", "run", "list", "--limit", "3")
    assert "2 more not shown" in table.stdout


def test_run_list_columns_are_chosen_and_checked(tinkex: Cli) -> None:
    seed_runs(tinkex.base_url, tinkex.api_key, 1)

    chosen = tinkex("run", "list", "--columns", "id,checkpoint,owner")
    assert chosen.exit_code == 0, chosen.stderr
    assert "Last Checkpoint" in chosen.stdout
    assert "weights/state-0" in chosen.stdout
    assert "Base Model" not in chosen.stdout

    bad = tinkex("run", "list", "--columns", "id,colour")
    assert bad.exit_code == 1
    assert bad.stderr.count("\n") == 1
    assert "colour" in bad.stderr
    assert "pick from id, model" in bad.stderr


def test_run_info_in_table_and_json(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    table = tinkex("run", "info", run.run_id)
    assert table.exit_code == 0, table.stderr
    assert run.state_path in table.stdout
    assert run.sampler_path in table.stdout
    assert "Last Sampler Checkpoint" in table.stdout

    data = tinkex.json("run", "info", run.run_id)
    assert data["training_run_id"] == run.run_id
    assert data["lora_rank"] == 4
    assert data["last_checkpoint"]["tinker_path"] == run.state_path


def test_run_info_of_unknown_run_is_one_line_with_a_fix(tinkex: Cli) -> None:
    result = tinkex("run", "info", "no-such-run")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert "tinkex run list" in result.stderr
    assert tinkex.api_key not in result.stderr
