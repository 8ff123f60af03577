"""The `crowd` demo: a counting set of real faces on real photos, in COCO format, written offline.

Faces are the 100 real faces of scikit-image's `lfw_subset()` (25x25 grey; never its non-faces), tinted,
made brighter or darker and pasted with a soft oval edge at random places and sizes (12-28 px on a 96 px
image, scaled with the image) onto random crops of photos shipped with scikit-image: coffee, the cat
Chelsea, a rocket launch, a garage with a motorcycle, coins, and brick, grass and gravel textures (not the
astronaut or the cameraman: their own faces would be unlabelled). Each image holds 0-15 faces, every count
equally likely; no two face centres share a cell of the image's 8 px grid and faces overlap little, so the
number of faces is the number of centroid cells.

Train and test never share a source: a face, and a 128 px tile of a photo, belongs to one split by its
pixels (`demo.image_split`, as for the `faces` set), so the test split is unseen faces on unseen scenery,
whatever the seeds. The same seed writes byte-identical files; image i is the same whatever `count` is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimpro.datasets.demo import CROWD_SIZE, SPLITS, image_split
from edgeimpro.errors import DependencyError, UsageError

CROWD_MIN_SIZE = 64
MAX_FACES = 15
FACE_SIDE = (12 / 96, 28 / 96)    # face side as a fraction of the image side
CELL = 8                           # px: one FOMO grid cell at stride 8; no two face centres share one
MIN_SPACING = 0.45                 # centres at least this times the sum of the two sides apart (little overlap)
PACKING = 0.45                     # a crowd's faces cover at most this fraction of the image
TILE = 128                         # px: photos are cut into tiles, each in one split
BACKGROUND_PHOTOS = ("coffee", "chelsea", "rocket", "stereo_motorcycle", "coins", "brick", "grass", "gravel")
ANNOTATIONS = "_annotations.coco.json"
CLASS = "face"


@dataclass(frozen=True)
class CrowdSources:
    faces: list[np.ndarray]                   # 25x25 uint8 grey faces of one split
    face_ids: list[int]                       # their index in lfw_subset()
    tiles: dict[str, list[np.ndarray]]        # photo -> its TILE x TILE x 3 uint8 tiles in the split
    tile_ids: list[tuple[str, int, int]]      # (photo, tile row, tile column) of every tile in the split


def crowd_sources(split: str) -> CrowdSources:
    """The faces and background tiles that images of `split` are made of (disjoint from the other split's)."""
    try:
        from skimage import data as skdata
    except ImportError as e:
        raise DependencyError(f"the crowd dataset needs scikit-image ({e})",
                              hint="pip install 'edgeimpro[train]'") from None
    x = skdata.lfw_subset()[:100]            # the faces; the non-faces follow them
    all_faces = np.clip(np.round(x * 255), 0, 255).astype(np.uint8)    # as the faces demo writes them
    face_ids = [i for i, f in enumerate(all_faces) if image_split(f) == split]
    tiles: dict[str, list[np.ndarray]] = {}
    tile_ids = []
    for name in BACKGROUND_PHOTOS:
        photo = getattr(skdata, name)()
        photo = photo[0] if isinstance(photo, tuple) else photo          # stereo_motorcycle: the left view
        if photo.ndim == 2:
            photo = np.repeat(photo[:, :, None], 3, axis=2)
        for r in range(photo.shape[0] // TILE):
            for c in range(photo.shape[1] // TILE):
                tile = np.ascontiguousarray(photo[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE, :3])
                if image_split(tile) == split:
                    tiles.setdefault(name, []).append(tile)
                    tile_ids.append((name, r, c))
    return CrowdSources([all_faces[i] for i in face_ids], face_ids, tiles, tile_ids)


def write_crowd(folder: Path, n: int, seed: int, size: int, split: str) -> tuple[dict[str, int], list[int]]:
    """Write `n` images of `split` and their COCO annotations into `folder` (which exists and is empty).

    Returns ({"face": faces written}, faces in each image)."""
    from PIL import Image

    if size < CROWD_MIN_SIZE:
        raise UsageError(f"crowd image size must be at least {CROWD_MIN_SIZE}, got {size}")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {seed}")
    sources = crowd_sources(split)
    images, annotations, per_image = [], [], []
    for i in range(n):
        # One generator per image: image i is the same whatever n is.
        image, boxes = crowd_image(np.random.default_rng([seed, SPLITS.index(split), i]), sources, size)
        name = f"crowd_{i:04d}.png"
        Image.fromarray(image).save(folder / name)
        images.append({"id": i, "file_name": name, "width": size, "height": size})
        for x, y, s in boxes:
            annotations.append({"id": len(annotations), "image_id": i, "category_id": 1, "bbox": [x, y, s, s],
                                "area": s * s, "iscrowd": 0})
        per_image.append(len(boxes))
    coco = {
        "info": {"description": "edgeimpro crowd demo: real faces (scikit-image lfw_subset) pasted on real "
                                "photos (skimage.data)", "split": split, "seed": seed},
        "licenses": [],
        "categories": [{"id": 1, "name": CLASS, "supercategory": CLASS}],
        "images": images,
        "annotations": annotations,
    }
    (folder / ANNOTATIONS).write_text(json.dumps(coco, indent=1) + "\n", encoding="utf-8")
    return {CLASS: len(annotations)}, per_image


def crowd_image(rng: np.random.Generator, sources: CrowdSources, size: int = CROWD_SIZE
                ) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """One `size`x`size`x3 uint8 image and its faces as (x, y, side) squares in pixels."""
    out = _background(rng, sources, size)
    placed = _place_faces(rng, int(rng.integers(0, MAX_FACES + 1)), size)
    chosen = rng.choice(len(sources.faces), size=len(placed), replace=len(placed) > len(sources.faces))
    for (x, y, s), k in zip(placed, chosen, strict=True):
        face, alpha = _face(rng, sources.faces[k], s)
        region = out[y:y + s, x:x + s]
        out[y:y + s, x:x + s] = region * (1 - alpha) + face * alpha
    out += rng.normal(0.0, 2.0, out.shape)
    return np.clip(np.round(out), 0, 255).astype(np.uint8), placed


def _place_faces(rng: np.random.Generator, n: int, size: int) -> list[tuple[int, int, int]]:
    """Up to `n` squares (x, y, side) inside the image, centres in distinct CELLs and little overlap."""
    lo, hi = FACE_SIDE[0] * size, FACE_SIDE[1] * size
    crowded = math.sqrt(PACKING * size * size / max(n, 1))     # many faces: smaller faces, as further away
    base = rng.uniform(lo, max(lo, min(hi, crowded)))
    placed: list[tuple[int, int, int]] = []
    cells: set[tuple[int, int]] = set()
    for _ in range(n):
        s = int(round(min(max(base * rng.uniform(0.85, 1.15), lo), hi)))
        for _attempt in range(200):
            x, y = (int(v) for v in rng.integers(0, size - s + 1, 2))
            cell = (int((y + s / 2) // CELL), int((x + s / 2) // CELL))
            if cell not in cells and all(
                    math.hypot(x + s / 2 - px - ps / 2, y + s / 2 - py - ps / 2) >= MIN_SPACING * (s + ps)
                    for px, py, ps in placed):
                placed.append((x, y, s))
                cells.add(cell)
                break
    return placed


def _face(rng: np.random.Generator, grey: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    """A face resized to s x s, skin-tinted, with random brightness and contrast (float RGB), and its soft
    oval alpha (s x s x 1)."""
    from PIL import Image

    f = np.asarray(Image.fromarray(grey).resize((s, s), Image.Resampling.LANCZOS), np.float64)
    if rng.random() < 0.5:
        f = f[:, ::-1]
    mean = f.mean()
    f = ((f - mean) * rng.uniform(0.8, 1.25) + mean) * rng.uniform(0.65, 1.25)
    tint = np.array([1.0, rng.uniform(0.78, 0.92), rng.uniform(0.62, 0.82)])
    tint /= tint @ np.array([0.299, 0.587, 0.114])             # keep the face's brightness
    yy, xx = np.mgrid[0:s, 0:s] + 0.5
    d = np.sqrt(((xx - s / 2) / (0.46 * s)) ** 2 + ((yy - s / 2) / (0.5 * s)) ** 2)
    alpha = np.clip((1 - d) * 0.46 * s / 1.5, 0, 1)            # a 1.5 px soft edge
    return f[:, :, None] * tint, alpha[:, :, None]


def _background(rng: np.random.Generator, sources: CrowdSources, size: int) -> np.ndarray:
    """A float RGB `size`x`size` random crop of a random tile of a random photo of the split."""
    from PIL import Image

    photos = sorted(sources.tiles)
    tiles = sources.tiles[photos[int(rng.integers(len(photos)))]]
    tile = tiles[int(rng.integers(len(tiles)))]
    side = int(rng.integers(TILE // 2, TILE + 1))
    oy, ox = (int(v) for v in rng.integers(0, TILE - side + 1, 2))
    crop = Image.fromarray(tile[oy:oy + side, ox:ox + side])
    bg = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None), np.float64)
    if rng.random() < 0.5:
        bg = bg[:, ::-1]
    grey = bool(np.all(tile[:, :, 0] == tile[:, :, 1]))
    tint = 1 + rng.uniform(-0.08, 0.08, 3) if grey else np.ones(3)     # textures: a touch of colour
    return bg * tint * rng.uniform(0.7, 1.15)
