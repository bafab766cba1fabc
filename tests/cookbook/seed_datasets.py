"""Seed the offline `datasets` cache with the hub dataset sl_loop hard-codes.

Runs in the cookbook's venv (it needs `datasets`): `python seed_datasets.py CONVERSATIONS`.
With `HF_DATASETS_OFFLINE=1`, datasets reads only its processed cache,
`$HF_HOME/datasets/<org>___<name>/<config>/0.0.0/<hash>/`, so this prepares the
conversations file as `HuggingFaceH4/no_robots` (config `default`, splits train and test)
there, in the layout the hub download would have left.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import datasets.config
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.data_files import DataFilesDict
from datasets.packaged_modules.parquet.parquet import Parquet

REPO_ID = "HuggingFaceH4/no_robots"
CONFIG = "default"
TEST_ROWS = 2


def no_robots_rows(conversations: Path) -> list[dict[str, object]]:
    """The conversations in no_robots' columns (prompt, prompt_id, messages, category)."""
    rows = []
    for index, line in enumerate(conversations.read_text().splitlines()):
        messages = json.loads(line)["messages"]
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        rows.append(
            {"prompt": prompt, "prompt_id": str(index), "messages": messages, "category": "Chat"}
        )
    return rows


def seed(repo_id: str, config: str, splits: dict[str, list[dict[str, object]]]) -> Path:
    """Prepare `splits` as `repo_id`/`config` in the processed cache; returns its directory."""
    org, name = repo_id.split("/")
    with tempfile.TemporaryDirectory() as tmp:
        for split, rows in splits.items():
            pq.write_table(pa.Table.from_pylist(rows), Path(tmp) / f"{split}.parquet")
        files = {split: [f"{split}.parquet"] for split in splits}
        builder = Parquet(
            dataset_name=name,
            config_name=config,
            hash="seeded",
            cache_dir=str(Path(tmp) / "cache"),
            data_files=DataFilesDict.from_local_or_remote(files, base_path=tmp),
        )
        builder.download_and_prepare()
        (built,) = (Path(tmp) / "cache" / name).iterdir()  # "<config>-<hash>"
        target = Path(datasets.config.HF_DATASETS_CACHE) / f"{org}___{name}" / config
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built), target)
    return target


def main(argv: list[str]) -> int:
    rows = no_robots_rows(Path(argv[1]))
    target = seed(REPO_ID, CONFIG, {"train": rows[:-TEST_ROWS], "test": rows[-TEST_ROWS:]})
    print(f"seeded {REPO_ID} ({len(rows)} rows) in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
