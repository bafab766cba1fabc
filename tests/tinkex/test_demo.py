"""`tinkex demo` end to end on the bundled tiny model (fast), and its PNG writer."""

from __future__ import annotations

import json
import runpy
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import tinkex.demo
from tinkex.demo import PROMPTS, DemoSummary, run_demo
from tinkex.demo.plot import HEIGHT, PNG_SIGNATURE, WIDTH, loss_curve_png

TINY = "tinkex/tiny-llama"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    pytest.importorskip("torch", reason="the demo's server needs the [local] extra (torch)")
    output = tmp_path_factory.mktemp("demo")
    # The whole dataset every step, so that the first and last losses are comparable.
    return output, run_demo(
        output, model=TINY, steps=4, learning_rate=5e-2, batch_size=12, quiet=True
    )


def _png_pixels(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB, filter-0 PNG (what the demo writes), checking every chunk's CRC."""
    assert data.startswith(PNG_SIGNATURE)
    offset, chunks = len(PNG_SIGNATURE), {}
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        offset += 12 + length
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8)
    rows = rows.reshape(height, 1 + 3 * width)
    assert not rows[:, 0].any()
    return rows[:, 1:].reshape(height, width, 3)


def test_demo_trains_samples_and_saves(demo_run: tuple[Path, DemoSummary]) -> None:
    output, summary = demo_run
    assert len(summary.losses) == 4
    assert summary.losses[-1] < summary.losses[0]
    assert [pair.prompt for pair in summary.samples] == list(PROMPTS)
    assert any(pair.before != pair.after for pair in summary.samples)
    assert summary.state_path.endswith("/weights/demo-state")
    assert summary.sampler_path.endswith("/sampler_weights/demo-sampler")
    assert {summary.state_path, summary.sampler_path} <= set(summary.listed_checkpoints)
    for name in ("demo-state", "demo-sampler"):
        assert list((output / "server").rglob(f"{name}/adapter_model.safetensors"))


def test_demo_writes_summary_json_and_loss_png(demo_run: tuple[Path, DemoSummary]) -> None:
    output, summary = demo_run
    written = json.loads((output / "summary.json").read_text(encoding="utf-8"))
    assert written["losses"] == summary.losses
    assert written["model"] == TINY
    assert written["samples"][0]["prompt"] == PROMPTS[0]
    assert {"server_start", "train", "total"} <= set(written["timings_s"])
    pixels = _png_pixels((output / "loss.png").read_bytes())
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert (pixels != 255).any()


def test_demo_prints_before_after_and_where_outputs_went(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch", reason="the demo's server needs the [local] extra (torch)")
    run_demo(tmp_path, model=TINY, steps=2, learning_rate=5e-2)
    printed = capsys.readouterr().out
    for expected in ("Before training", "After training", PROMPTS[0], "demo-state", "loss.png"):
        assert expected in printed
    assert (tmp_path / "summary.json").is_file()


def test_loss_curve_png_is_a_valid_image_of_the_requested_size() -> None:
    pixels = _png_pixels(loss_curve_png([3.0, 2.0, 2.5, 1.0]))
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert _png_pixels(loss_curve_png([1.0])).shape == (HEIGHT, WIDTH, 3)


@pytest.mark.parametrize("losses", [[], [1.0, float("nan")]])
def test_loss_curve_png_refuses_empty_or_non_finite_losses(losses: list[float]) -> None:
    with pytest.raises(ValueError, match="losses"):
        loss_curve_png(losses)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("steps", {"steps": 0}),
        ("learning_rate", {"learning_rate": 0.0}),
        ("batch_size", {"batch_size": 0}),
    ],
)
def test_run_demo_refuses_bad_settings(
    tmp_path: Path, field: str, kwargs: dict[str, float]
) -> None:
    with pytest.raises(ValueError, match=field):
        run_demo(tmp_path, **kwargs)  # type: ignore[arg-type]


def test_module_entry_point_runs_the_demo_into_the_given_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`python -m tinkex.demo DIR` (and `main()`, which `tinkex demo` calls) run `run_demo`."""
    calls: list[object] = []
    monkeypatch.setattr(tinkex.demo, "run_demo", calls.append)
    monkeypatch.setattr(sys, "argv", ["tinkex.demo", "chosen-dir"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("tinkex.demo", run_name="__main__")
    assert exited.value.code == 0
    assert tinkex.demo.main() == 0
    assert calls == ["chosen-dir", tinkex.demo.DEFAULT_OUTPUT_DIR]
