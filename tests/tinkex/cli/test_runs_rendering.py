"""`run list|info` rendering of the less common shapes (no LoRA, no checkpoints, metadata)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from cli_testkit import Done, FakeClients, run

from tinkex import types

FULL_RUN = types.TrainingRun(
    training_run_id="run-full",
    base_model="base",
    model_owner="me",
    is_lora=False,
    corrupted=True,
    last_request_time=datetime(2020, 5, 17, tzinfo=UTC),
    user_metadata={"team": "red"},
)


@dataclass
class Runs:
    runs: list[types.TrainingRun]

    def list_training_runs(self, limit: int = 20, offset: int = 0) -> Done:
        cursor = types.Cursor(offset=offset, limit=limit, total_count=len(self.runs))
        page = self.runs[offset : offset + limit]
        return Done(types.TrainingRunsResponse(training_runs=page, cursor=cursor))

    def get_training_run(self, training_run_id: str) -> Done:
        return Done(self.runs[0])


def test_an_empty_listing_says_so() -> None:
    result = run(["run", "list"], FakeClients(Runs([])))

    assert result.exit_code == 0
    assert "No training runs found" in result.stdout


def test_one_run_without_lora_or_checkpoints() -> None:
    clients = FakeClients(Runs([FULL_RUN]))

    listed = run(["run", "list", "-c", "id,lora,status,checkpoint,checkpoint_time"], clients)
    info = run(["run", "info", "run-full"], clients)

    assert "1 training run\n" in listed.stdout
    row = listed.stdout.splitlines()[-1].split()
    assert row == ["run-full", "No", "Failed", "None", "N/A"]
    assert "Last Training Checkpoint" not in info.stdout
    assert "Metadata team" in info.stdout
    assert "2020-05-17" in info.stdout


def test_lora_without_a_rank_is_just_yes() -> None:
    lora = FULL_RUN.model_copy(update={"is_lora": True, "lora_rank": None})

    data = json.loads(run(["-f", "json", "run", "list"], FakeClients(Runs([lora]))).stdout)
    table = run(["run", "list", "-c", "lora"], FakeClients(Runs([lora]))).stdout

    assert data["runs"][0]["is_lora"] is True
    assert table.splitlines()[-1].strip() == "Yes"
