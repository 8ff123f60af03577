"""Which images of a detection dataset train a detector, which validate it: shared by train and convert.

- a folder holding splits (ROOT/train, ROOT/valid ...): the `train` split trains; the dataset's own
  `valid` (or `val`) split, when there is one, validates; `test` is never read;
- otherwise (one folder, e.g. the crowd demo, or ROOT/train alone): a seeded split by content, as for
  image folders (`split_items`): copies of one file always land on the same side, and the validation part
  is stratified by the most common class of each image (images without objects form their own stratum).
The card records the folder, the splits, the fraction and the seed, so convert finds the same images.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeimpro.datasets.detection import (
    AnnotatedImage,
    DetectionDataset,
    detect_format,
    find_splits,
    read_detection,
)
from edgeimpro.datasets.folder import split_items
from edgeimpro.errors import DataError
from edgeimpro.preprocess import IMAGE_SUFFIXES

TRAIN_SPLIT = "train"
VALIDATION_SPLITS = ("valid", "val")


@dataclass
class DetectionParts:
    """The training and validation images of a detection dataset, and where they came from."""

    data_dir: Path
    dataset: DetectionDataset                 # the training split as read (its report, classes, format)
    train: list[AnnotatedImage]
    validation: list[AnnotatedImage]
    splits: dict[str, str | None]             # {"train": split name or None, "validation": split name or None}
    val_fraction: float                       # 0 when the validation images are the dataset's own split
    seed: int

    @property
    def classes(self) -> list[str]:
        return self.dataset.classes

    def describe(self) -> dict[str, Any]:
        return {"data_dir": str(self.data_dir), "format": self.dataset.format, "splits": dict(self.splits),
                "val_fraction": self.val_fraction, "seed": self.seed}

    def validation_text(self) -> str:
        if self.splits["validation"]:
            return f"the dataset's {self.splits['validation']!r} split"
        return f"{self.val_fraction:g} of the images, split by content with seed {self.seed}"


def detection_parts(data_dir: Path | str, val_fraction: float, seed: int, classes: list[str] | None = None,
                    strict: bool = True) -> DetectionParts:
    """Read DATA_DIR's detection annotations and part them into training and validation images."""
    data_dir = Path(data_dir)
    _refuse_class_folder(data_dir)
    splits = find_splits(data_dir) if data_dir.is_dir() else {}
    train_split = TRAIN_SPLIT if splits else None
    if splits and TRAIN_SPLIT not in splits:
        raise DataError(f"{data_dir} holds the splits {', '.join(splits)} but no {TRAIN_SPLIT!r} split",
                        hint=f"give the folder of the split to train on, e.g. {next(iter(splits.values()))}")
    dataset = read_detection(data_dir, split=train_split, classes=classes, strict=strict)
    val_split = next((s for s in VALIDATION_SPLITS if s in splits), None)
    if val_split is not None:
        held = read_detection(data_dir, split=val_split, classes=dataset.classes, strict=strict)
        return DetectionParts(data_dir, dataset, list(dataset.images), list(held.images),
                              {"train": train_split, "validation": val_split}, 0.0, seed)
    train, val = split_by_content(dataset.images, val_fraction, seed)
    return DetectionParts(data_dir, dataset, train, val, {"train": train_split, "validation": None},
                          val_fraction, seed)


def split_by_content(images: list[AnnotatedImage], val_fraction: float, seed: int
                     ) -> tuple[list[AnnotatedImage], list[AnnotatedImage]]:
    """Seeded (train, validation) parts of `images`, each in the dataset's order: `split_items` over the
    image files (identical files on one side), stratified by each image's most common class."""
    def stratum(im: AnnotatedImage) -> int:
        if not im.boxes:
            return 0
        counts = Counter(b.class_index for b in im.boxes)
        return 1 + min(counts, key=lambda k: (-counts[k], k))

    items = [(im.path, stratum(im)) for im in images]
    _, val_items = split_items(items, val_fraction, seed)
    held = {p for p, _ in val_items}
    return [im for im in images if im.path not in held], [im for im in images if im.path in held]


def _refuse_class_folder(data_dir: Path) -> None:
    """A classification folder (class subfolders of images, no annotations) given to --task detect."""
    if not data_dir.is_dir() or find_splits(data_dir):
        return
    try:
        detect_format(data_dir)
        return
    except DataError:
        pass
    classes = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir() if f.is_file()))
    if classes:
        shown = ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else "")
        raise DataError(f"{data_dir} is an image-classification folder (class subfolders {shown}), with no "
                        "boxes: --task detect needs object annotations",
                        hint="drop --task detect to train a classifier on it, or give a detection dataset "
                             "(COCO, YOLO or Pascal VOC boxes; e.g. edgeimpro datasets demo crowd data/crowd)")


def has_detection_annotations(data_dir: Path | str) -> bool:
    """True when DATA_DIR holds boxes in one format (or splits that do): the hint for a classifier's run."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return False
    if find_splits(data_dir):
        return True
    try:
        detect_format(data_dir)
    except DataError:
        return False
    return True
