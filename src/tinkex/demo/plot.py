"""A loss-curve PNG drawn with numpy and written with zlib, so the demo needs no matplotlib."""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["loss_curve_png", "write_loss_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH, HEIGHT, MARGIN = 640, 360, 40
BACKGROUND = (255, 255, 255)
AXIS = (60, 60, 60)
GRID = (225, 225, 225)
LINE = (31, 119, 180)

Canvas = npt.NDArray[np.uint8]


def write_loss_png(losses: Sequence[float], path: Path) -> Path:
    """Write the loss curve of `losses` (one value per step) to `path` as a PNG."""
    path.write_bytes(loss_curve_png(losses))
    return path


def loss_curve_png(losses: Sequence[float]) -> bytes:
    """PNG bytes of a line chart of `losses`: steps left to right, loss bottom to top."""
    values = np.asarray(losses, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("losses: need at least one finite value per step to plot a curve")
    canvas = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    _draw_frame(canvas)
    _draw_polyline(canvas, _to_pixels(values))
    return _encode_png(canvas)


def _draw_frame(canvas: Canvas) -> None:
    left, right, top, bottom = MARGIN, WIDTH - MARGIN, MARGIN, HEIGHT - MARGIN
    for fraction in (0.25, 0.5, 0.75):
        canvas[int(top + fraction * (bottom - top)), left:right] = GRID
    canvas[bottom, left : right + 1] = AXIS
    canvas[top : bottom + 1, left] = AXIS


def _to_pixels(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(x, y) pixel coordinates of each value inside the plot area (y grows downwards)."""
    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    steps = np.arange(values.size, dtype=np.float64)
    x = MARGIN + steps / max(values.size - 1, 1) * (WIDTH - 2 * MARGIN)
    y = (HEIGHT - MARGIN) - (values - low) / span * (HEIGHT - 2 * MARGIN)
    return np.stack([x, y], axis=1)


def _draw_polyline(canvas: Canvas, points: npt.NDArray[np.float64]) -> None:
    """Segments between consecutive points (sampled densely), each 3 pixels thick."""
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        count = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        xs = np.rint(np.linspace(x0, x1, count)).astype(int)
        ys = np.rint(np.linspace(y0, y1, count)).astype(int)
        _dots(canvas, xs, ys)
    xs, ys = np.rint(points[:, 0]).astype(int), np.rint(points[:, 1]).astype(int)
    _dots(canvas, xs, ys)


def _dots(canvas: Canvas, xs: npt.NDArray[np.int_], ys: npt.NDArray[np.int_]) -> None:
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            canvas[np.clip(ys + dy, 0, HEIGHT - 1), np.clip(xs + dx, 0, WIDTH - 1)] = LINE


def _encode_png(canvas: Canvas) -> bytes:
    """An 8-bit RGB PNG: each row prefixed by filter byte 0, the whole image deflated."""
    height, width, _ = canvas.shape
    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), canvas.reshape(height, -1)], 1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        [
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)),
            _chunk(b"IEND", b""),
        ]
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
