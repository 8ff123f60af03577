"""Drawing a prediction on its frame, and the annotated frames' file names."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.infer.prediction import Prediction
from edgeimpro.preprocess import IMAGE_SUFFIXES


def annotate_image(rgb: np.ndarray, pred: Prediction, min_width: int = 320) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(rgb)
    if img.width < min_width:
        f = math.ceil(min_width / img.width)
        img = img.resize((img.width * f, img.height * f), Image.Resampling.NEAREST)
    size = max(11, img.width // 28)
    try:
        font: Any = ImageFont.load_default(size=size)
    except (TypeError, OSError):     # Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
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
