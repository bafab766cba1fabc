"""What one demo run produced, as a typed record and as `summary.json`."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DemoSummary", "SamplePair"]


@dataclass(frozen=True)
class SamplePair:
    """One fixed prompt and the model's greedy answer before and after fine-tuning."""

    prompt: str
    before: str
    after: str


@dataclass
class DemoSummary:
    """Everything the demo reports: filled in as the run goes, written once at the end."""

    model: str
    steps: int
    learning_rate: float
    lora_rank: int
    batch_size: int
    losses: list[float] = field(default_factory=list)
    samples: list[SamplePair] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    state_path: str = ""
    sampler_path: str = ""
    listed_checkpoints: list[str] = field(default_factory=list)
    loss_png: str = ""

    def write(self, path: Path) -> Path:
        """Write the summary as indented JSON to `path`."""
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n", encoding="utf-8")
        return path
