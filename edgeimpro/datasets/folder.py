"""Read a folder of class subfolders (the cats-vs-dogs / chest-X-ray layout) through the one preprocessing.

    DATA_DIR/
      cats/  001.jpg 002.png ...
      dogs/  ...

Images of any size, grey or colour, jpg/png/bmp; every image goes through `Preprocessing.to_float`.
Unreadable images are reported by path and counted, never silently dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeimpro.errors import DataError
from edgeimpro.preprocess import IMAGE_SUFFIXES, Preprocessing


@dataclass
class ImageFolder:
    root: Path
    classes: list[str]
    items: list[tuple[Path, int]]        # (image path, class index), sorted
    ignored: list[Path] = field(default_factory=list)   # non-image files found in class folders

    def counts(self) -> dict[str, int]:
        c = dict.fromkeys(self.classes, 0)
        for _, y in self.items:
            c[self.classes[y]] += 1
        return c


@dataclass
class LoadedImages:
    x: np.ndarray                         # float32 (N, H, W, C), after preprocessing
    y: np.ndarray                         # int64 (N,)
    paths: list[Path]
    unreadable: list[tuple[Path, str]]    # (path, reason) for each image that could not be decoded


def scan_image_folder(root: Path | str, min_classes: int = 2) -> ImageFolder:
    root = Path(root)
    if not root.exists():
        raise DataError(f"dataset folder not found: {root}",
                        hint="give a folder with one subfolder per class, e.g. data/cats, data/dogs "
                             "(or make one: edgeimpro datasets demo shapes data/)")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a dataset folder",
                        hint="give a folder with one subfolder per class")
    classes, items, ignored = [], [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in sub.rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        ignored += [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        if not images:
            continue
        items += [(p, len(classes)) for p in images]
        classes.append(sub.name)
    if len(classes) < min_classes:
        found = f"found {len(classes)} ({', '.join(classes)})" if classes else "found none"
        raise DataError(f"{root} needs at least {min_classes} class subfolders with images; {found}",
                        hint="put each class's images in its own subfolder: DATA_DIR/<class>/<image>.jpg")
    return ImageFolder(root=root, classes=classes, items=items, ignored=ignored)


def split_items(items: Sequence[tuple[Path, int]], val_fraction: float, seed: int = 0
                ) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Stratified, seeded split into (train, validation); every class keeps at least one training image.

    Files with the same content (copies under two names, a common accident in scraped sets) always land
    in the same split, so the held-out accuracy never scores an image the model trained on."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"validation fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    groups: dict[bytes, list[tuple[Path, int]]] = {}
    for it in items:
        groups.setdefault(_content_digest(it[0]), []).append(it)
    by_class: dict[int, list[list[tuple[Path, int]]]] = {}
    for group in groups.values():              # a group counts for the class of its first file
        by_class.setdefault(group[0][1], []).append(group)
    train, val = [], []
    for y in sorted(by_class):
        class_groups = by_class[y]
        size = sum(len(g) for g in class_groups)
        n_val = int(round(size * val_fraction))
        order = rng.permutation(len(class_groups))
        taken = 0
        for rank, i in enumerate(order):
            last = rank == len(order) - 1          # the last group always stays in training
            if taken < n_val and not last:
                val += class_groups[i]
                taken += len(class_groups[i])
            else:
                train += class_groups[i]
    return train, val


def _content_digest(path: Path) -> bytes:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return hashlib.sha256(str(path).encode()).digest()  # unreadable: reported when the images are loaded


def load_images(items: Sequence[tuple[Path, int]], prep: Preprocessing) -> LoadedImages:
    """Decode and preprocess every image; unreadable ones are collected with the reason, not dropped silently."""
    xs, ys, paths, bad = [], [], [], []
    for path, y in items:
        try:
            xs.append(prep.to_float(path))
            ys.append(y)
            paths.append(path)
        except DataError as e:
            bad.append((path, e.message))
    x = np.stack(xs) if xs else np.zeros((0, *prep.shape), np.float32)
    return LoadedImages(x=x, y=np.asarray(ys, dtype=np.int64), paths=paths, unreadable=bad)
