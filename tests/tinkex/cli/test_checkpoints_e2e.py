"""`tinkex checkpoint ...` end to end against the local backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_testkit import Cli, seed_runs


def _paths(data: dict[str, list[dict[str, str]]]) -> set[str]:
    return {checkpoint["tinker_path"] for checkpoint in data["checkpoints"]}


def test_list_for_one_run_in_table_and_json(tinkex: Cli) -> None:
    run, _other = seed_runs(tinkex.base_url, tinkex.api_key, 2)

    table = tinkex("checkpoint", "list", "--run-id", run.run_id)
    assert table.exit_code == 0, table.stderr
    assert "weights/state-0" in table.stdout
    assert "sampler_weights/sampler-0" in table.stdout
    assert "Never" in table.stdout

    data = tinkex.json("checkpoint", "list", "--run-id", run.run_id)
    assert data["run_id"] == run.run_id
    assert _paths(data) == {run.state_path, run.sampler_path}
    assert {c["checkpoint_type"] for c in data["checkpoints"]} == {"training", "sampler"}


def test_user_wide_list_pages_through_everything_with_limit_zero(tinkex: Cli) -> None:
    runs = seed_runs(tinkex.base_url, tinkex.api_key, 3)
    expected = {path for run in runs for path in (run.state_path, run.sampler_path)}

    everything = tinkex.json("--page-size", "4", "checkpoint", "list", "--limit", "0")
    assert json.loads(tinkex("checkpoint", "list", "--limit", "0", "--json").stdout) == everything
    first_two = tinkex.json("--page-size", "4", "checkpoint", "list", "--limit", "2")

    assert _paths(everything) == expected
    assert everything["shown"] == everything["total"] == 6
    assert first_two["shown"] == 2
    assert first_two["total"] == 6
    table = tinkex("checkpoint", "list", "--limit", "2")
    assert "4 more not shown" in table.stdout


def test_info_in_table_and_json(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    table = tinkex("checkpoint", "info", run.state_path)
    assert table.exit_code == 0, table.stderr
    assert "Yes (rank 4)" in table.stdout
    assert "tinkex/tiny-llama" in table.stdout

    data = tinkex.json("checkpoint", "info", run.state_path)
    assert data["tinker_path"] == run.state_path
    assert data["training_run_id"] == run.run_id
    assert data["lora_rank"] == 4
    assert data["size_bytes"] > 0


def test_info_of_a_missing_checkpoint_names_the_listing_command(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)
    missing = run.state_path.replace("state-0", "nope")

    result = tinkex("checkpoint", "info", missing)

    assert result.exit_code == 1
    assert f"checkpoint list --run-id {run.run_id}" in result.stderr


@pytest.mark.parametrize("command", ["info", "publish", "unpublish", "set-ttl", "delete"])
def test_bad_paths_are_refused_before_any_request(tinkex: Cli, command: str) -> None:
    result = tinkex(
        "checkpoint", command, "not-a-path", *(["--yes"] if command == "delete" else [])
    )

    assert result.exit_code == 1
    assert "invalid checkpoint path 'not-a-path'" in result.stderr
    assert "tinker://<run-id>/weights/<name>" in result.stderr


def _public(tinkex: Cli, run_id: str, path: str) -> bool:
    data = tinkex.json("checkpoint", "list", "--run-id", run_id)
    (found,) = [c for c in data["checkpoints"] if c["tinker_path"] == path]
    return bool(found["public"])


def test_publish_and_unpublish(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    published = tinkex("checkpoint", "publish", run.state_path)
    assert published.exit_code == 0, published.stderr
    assert f"Published {run.state_path}" in published.stdout
    assert _public(tinkex, run.run_id, run.state_path)

    data = tinkex.json("checkpoint", "unpublish", run.state_path)
    assert data == {"tinker_path": run.state_path, "public": False}
    assert not _public(tinkex, run.run_id, run.state_path)

    assert tinkex.json("checkpoint", "publish", run.state_path)["public"] is True
    unpublished = tinkex("checkpoint", "unpublish", run.state_path)
    assert f"Unpublished {run.state_path}" in unpublished.stdout
    assert not _public(tinkex, run.run_id, run.state_path)


def test_set_ttl_and_remove_it(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    data = tinkex.json("checkpoint", "set-ttl", run.state_path, "--ttl", "7200")
    assert data == {"tinker_path": run.state_path, "ttl_seconds": 7200}
    assert tinkex.json("checkpoint", "info", run.state_path)["expires_at"] is not None
    assert "in 1 hour" in tinkex("checkpoint", "info", run.state_path).stdout

    removed = tinkex("checkpoint", "set-ttl", run.state_path, "--remove")
    assert removed.exit_code == 0, removed.stderr
    assert "Removed the expiry" in removed.stdout
    assert tinkex.json("checkpoint", "info", run.state_path)["expires_at"] is None


@pytest.mark.parametrize("flags", [[], ["--ttl", "7200", "--remove"]])
def test_set_ttl_needs_exactly_one_of_ttl_and_remove(tinkex: Cli, flags: list[str]) -> None:
    result = tinkex("checkpoint", "set-ttl", "tinker://run/weights/x", *flags)

    assert result.exit_code == 1
    assert "exactly one of --ttl and --remove" in result.stderr


def test_delete_paths_with_yes(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    result = tinkex("checkpoint", "delete", run.state_path, run.sampler_path, "--yes", fmt="json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "deleted": [run.state_path, run.sampler_path],
        "failed": [],
    }
    assert tinkex.json("checkpoint", "list", "--run-id", run.run_id)["checkpoints"] == []


def test_delete_by_run_and_type_asks_first(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    declined = tinkex(
        "checkpoint", "delete", "--run-id", run.run_id, "--type", "weights", stdin="n\n"
    )
    assert declined.exit_code == 0
    assert "Will delete 1 checkpoint(s)" in declined.stderr
    assert "Cancelled" in declined.stderr
    assert len(tinkex.json("checkpoint", "list", "--run-id", run.run_id)["checkpoints"]) == 2

    accepted = tinkex(
        "checkpoint", "delete", "--run-id", run.run_id, "--type", "weights", stdin="y\n"
    )
    assert accepted.exit_code == 0, accepted.stderr
    assert "Deleted 1 checkpoint(s)" in accepted.stdout
    left = tinkex.json("checkpoint", "list", "--run-id", run.run_id)
    assert _paths(left) == {run.sampler_path}


def test_delete_date_filters_select_nothing_or_everything(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)

    none = tinkex("checkpoint", "delete", "--run-id", run.run_id, "--before", "2000-01-01")
    assert none.exit_code == 0
    assert "No checkpoints" in none.stdout

    every = tinkex.json(
        "checkpoint", "delete", "--run-id", run.run_id, "--after", "2000-01-01T00:00Z", "--yes"
    )
    assert sorted(every["deleted"]) == sorted([run.state_path, run.sampler_path])


def test_delete_reports_failures_and_exits_1(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)
    missing = run.state_path.replace("state-0", "gone")

    result = tinkex("checkpoint", "delete", run.state_path, missing, "--yes", fmt="json")

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["deleted"] == [run.state_path]
    assert [failure["tinker_path"] for failure in data["failed"]] == [missing]
    assert "1 of 2 deletion(s) failed" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "checkpoint paths or --run-id"),
        (["tinker://r/weights/a", "--run-id", "r"], "checkpoint paths or --run-id"),
        (["tinker://r/weights/a", "--type", "weights"], "only filter --run-id"),
        (["--run-id", "r", "--type", "bogus"], "unknown checkpoint type 'bogus'"),
        (["--run-id", "r", "--before", "yesterday"], "--before: 'yesterday' is not a date"),
    ],
)
def test_delete_argument_errors(tinkex: Cli, args: list[str], message: str) -> None:
    result = tinkex("checkpoint", "delete", *args)

    assert result.exit_code == 1
    assert message in result.stderr


def test_download_unpacks_the_checkpoint(tinkex: Cli, tmp_path: Path) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)
    out = tmp_path / "out"

    data = tinkex.json("checkpoint", "download", run.state_path, "--output", str(out))

    target = out / run.state_path.removeprefix("tinker://").replace("/", "_")
    assert data["destination"] == str(target)
    assert data["files"]
    assert all((target / name).is_file() for name in data["files"])
    assert data["size_bytes"] == sum((target / name).stat().st_size for name in data["files"])
    assert not list(out.glob("*.download"))

    again = tinkex("checkpoint", "download", run.state_path, "--output", str(out))
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert "--force" in again.stderr

    forced = tinkex("checkpoint", "download", run.state_path, "-o", str(out), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert f"to {target}" in " ".join(forced.stdout.split())


def test_download_refuses_sampler_checkpoints(tinkex: Cli, tmp_path: Path) -> None:
    result = tinkex("checkpoint", "download", "tinker://r/sampler_weights/s", "-o", str(tmp_path))

    assert result.exit_code == 1
    assert "sampler checkpoints cannot be downloaded" in result.stderr
