"""`tinkex session ...`, `model list` and `auth status` end to end against the local backend."""

from __future__ import annotations

from cli_testkit import TINY, Cli, seed_runs


def test_session_list_in_table_and_json(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)
    session_id = run.run_id.split(":")[0]

    table = tinkex("session", "list")
    assert table.exit_code == 0, table.stderr
    assert session_id in table.stdout

    data = tinkex.json("session", "list", "--limit", "0")
    assert session_id in data["sessions"]
    assert data["shown"] == len(data["sessions"])


def test_session_list_pages_with_limit_zero(tinkex: Cli) -> None:
    for _ in range(3):
        seed_runs(tinkex.base_url, tinkex.api_key, 1)

    everything = tinkex.json("--page-size", "2", "session", "list", "--limit", "0")
    two = tinkex.json("--page-size", "2", "session", "list", "--limit", "2")

    assert len(everything["sessions"]) == len(set(everything["sessions"])) == 3
    assert two["sessions"] == everything["sessions"][:2]


def test_session_info_in_table_and_json(tinkex: Cli) -> None:
    (run,) = seed_runs(tinkex.base_url, tinkex.api_key, 1)
    session_id = run.run_id.split(":")[0]

    table = tinkex("session", "info", session_id)
    assert table.exit_code == 0, table.stderr
    assert run.run_id in table.stdout

    data = tinkex.json("session", "info", session_id)
    assert data["session_id"] == session_id
    assert data["training_run_ids"] == [run.run_id]


def test_model_list_with_and_without_a_filter(tinkex: Cli) -> None:
    table = tinkex("model", "list")
    assert table.exit_code == 0, table.stderr
    assert TINY in table.stdout

    data = tinkex.json("model", "list", "tiny")
    assert [model["model_name"] for model in data["models"]] == [TINY]
    assert tinkex.json("model", "list", "no-such-model") == {"models": []}
    assert "matching 'nothing'" in tinkex("model", "list", "nothing").stdout


def test_auth_status_never_prints_the_key(tinkex: Cli) -> None:
    table = tinkex("auth", "status")
    assert table.exit_code == 0, table.stderr
    assert f"Authenticated with {tinkex.base_url}" in table.stdout

    data = tinkex.json("auth", "status")
    assert data["authenticated"] is True
    assert data["api_key"] == "set"
    assert data["base_url"] == tinkex.base_url
    assert tinkex.api_key not in table.stdout + table.stderr
