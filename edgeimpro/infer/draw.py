"""Drawing a prediction on its frame (a detector's: its centroids), and the annotated frames' file names."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.detect_metrics import Centroid
from edgeimpro.infer.prediction import Prediction
from edgeimpro.preprocess import IMAGE_SUFFIXES

MATCHED = (255, 230, 0)          # a detected centroid (matched, or no truth to match)
FALSE = (255, 40, 40)            # a detected centroid that matches no true one
TRUTH = (40, 220, 90)            # a true centroid


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):     # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def draw_centroids(rgb: np.ndarray, found: Sequence[Centroid], grid_hw: tuple[int, int],
                   truth: Sequence[Centroid] | None = None, false: Collection[tuple[int, int, int]] | None = None,
                   width: int | None = None) -> np.ndarray:
    """The picture with a detector's centroids drawn at their cells' centres (the grid spans the whole
    picture): true ones as green rings, found ones as crosses (red when (row, col, class) is in `false`).
    `width`: the picture is resized to it first, so the marks keep their size."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB")
    if width is not None and img.width != width:
        f = width / img.width
        img = img.resize((width, max(1, round(img.height * f))),
                         Image.Resampling.NEAREST if f >= 2 else Image.Resampling.BILINEAR)
    gh, gw = grid_hw
    cw, ch = img.width / gw, img.height / gh
    r = max(3.0, 0.35 * min(cw, ch))
    draw = ImageDraw.Draw(img)
    line = max(1, round(r / 4))
    for t in truth or ():
        x, y = (t.col + 0.5) * cw, (t.row + 0.5) * ch
        draw.ellipse((x - r, y - r, x + r, y + r), outline=TRUTH, width=line)
    false = false or ()
    for c in found:
        x, y = (c.col + 0.5) * cw, (c.row + 0.5) * ch
        colour = FALSE if (c.row, c.col, c.class_index) in false else MATCHED
        a = 0.7 * r
        draw.line((x - a, y - a, x + a, y + a), fill=colour, width=line + 1)
        draw.line((x - a, y + a, x + a, y - a), fill=colour, width=line + 1)
    return np.asarray(img)


def annotate_image(rgb: np.ndarray, pred: Prediction, min_width: int = 320,
                   grid_hw: tuple[int, int] | None = None) -> np.ndarray:
    """The frame with the prediction drawn on it: top-k (a detector: its count and centroids, `grid_hw`
    its output grid), timings and FPS; small frames are enlarged."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(rgb)
    if img.width < min_width:
        f = math.ceil(min_width / img.width)
        img = img.resize((img.width * f, img.height * f), Image.Resampling.NEAREST)
    if pred.objects is not None and grid_hw is not None:
        img = Image.fromarray(draw_centroids(np.asarray(img), pred.centroids(), grid_hw))
    size = max(11, img.width // 28)
    font = _font(size)
    if pred.objects is not None:
        lines = [f"count {len(pred.objects)}"] + [f"{label} {n}" for label, n in (pred.counts or {}).items() if n]
    else:
        lines = [f"{c.label} {c.score:.2f}" for c in pred.top]
    timing = f"pre {pred.preprocess_ms:.2f} ms  invoke {pred.invoke_ms:.2f} ms"
    if pred.fps is not None:
        timing += f"  {pred.fps:.1f} fps"
    lines.append(timing)
    if pred.label is not None:
        lines.append(f"truth {pred.label}")
    draw = ImageDraw.Draw(img, "RGBA")
    pad, step = size // 3 + 2, size + size // 4
    width = max(draw.textlength(t, font=font) for t in lines)
    draw.rectangle((0, 0, width + 2 * pad, step * len(lines) + 2 * pad), fill=(0, 0, 0, 160))
    for i, text in enumerate(lines):
        colour = (255, 255, 0) if i == 0 else (255, 255, 255)
        draw.text((pad, pad + i * step), text, fill=colour, font=font)
    return np.asarray(img.convert("RGB"))


def annotated_name(pred: Prediction) -> str:
    """File name of an annotated frame: index and the frame's name made safe for a file system."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in pred.name).strip("_")
    stem = safe.rsplit(".", 1)[0] if safe.lower().endswith(IMAGE_SUFFIXES) else safe
    return f"{pred.index:06d}_{stem}.png"


def save_annotated(directory: Path | str, pred: Prediction, image: np.ndarray) -> Path:
    from PIL import Image

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / annotated_name(pred)
    Image.fromarray(image).save(path)
    return path
