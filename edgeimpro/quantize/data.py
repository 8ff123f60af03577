"""Which images calibrate the int8 model and which held-out images measure its accuracy.

Both come from one image folder (class subfolders) split with `split_items`:
  - no --calibration: the training data recorded in the model card, split with the card's validation
    fraction and seed, so the held-out images are exactly the ones training validated on (a model trained
    with --val-split 0 saw every image: its evaluation is then marked as not held out);
  - --calibration DATA_DIR: that folder, split the same way (card's fraction and seed, else the defaults).
Calibration draws from the training part, evaluation uses the held-out part: never the same image twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.datasets.folder import scan_image_folder, split_items
from edgeimpro.errors import DataError, UsageError

DEFAULT_VAL_FRACTION = 0.2
DEFAULT_SEED = 0


@dataclass
class DataPlan:
    data_dir: Path
    source: str                              # "model card" or "--calibration"
    classes: list[str]                       # the model's labels, in output order
    calibration: list[tuple[Path, int]]      # drawn from the training part
    evaluation: list[tuple[Path, int]]       # the held-out part (labels remapped to `classes`)
    val_fraction: float
    seed: int
    held_out_total: int                      # size of the held-out part before any --eval-samples cap
    seen_in_training: bool = False           # the "held-out" part was trained on (training had no validation)

    def describe(self) -> dict[str, Any]:
        return {"data_dir": str(self.data_dir), "source": self.source,
                "val_fraction": self.val_fraction, "seed": self.seed}


def recorded_split(training: dict[str, Any]) -> tuple[float, int]:
    """(validation fraction, seed) recorded by training; defaults when the card has none (or none held out)."""
    frac, seed = training.get("val_split"), training.get("seed")
    return (float(frac) if frac else DEFAULT_VAL_FRACTION), (int(seed) if seed is not None else DEFAULT_SEED)


def resolve_data_dir(calibration_dir: Path | str | None, training: dict[str, Any], card_dir: Path) -> tuple[Path, str]:
    """The folder to calibrate and evaluate on, and where that choice came from."""
    if calibration_dir is not None:
        return Path(calibration_dir), "--calibration"
    recorded = training.get("data_dir")
    if not recorded:
        raise UsageError("no calibration data: the model card records no training data folder",
                         hint="give --calibration DATA_DIR (a folder of class subfolders, like the training data)")
    path = Path(recorded)
    if not path.is_absolute() and not path.exists() and (card_dir / path).exists():
        path = card_dir / path
    if not path.exists():
        raise DataError(f"the training data recorded in the model card is gone: {recorded}",
                        hint="give --calibration DATA_DIR with images like the training data")
    return path, "model card"


def plan_data(data_dir: Path, source: str, labels: list[str] | None, training: dict[str, Any],
              samples: int, eval_samples: int | None = None) -> DataPlan:
    """Split `data_dir` into calibration and held-out evaluation items.

    `labels` are the model's classes (from its card); the folder's classes must be among them. Without a
    card (`labels=None`) the folder's classes become the labels.
    """
    if samples < 1:
        raise UsageError(f"--samples must be at least 1, got {samples}")
    if eval_samples is not None and eval_samples < 1:
        raise UsageError(f"--eval-samples must be at least 1, got {eval_samples}")
    folder = scan_image_folder(data_dir, min_classes=1)
    if labels is None:
        labels = list(folder.classes)
    unknown = [c for c in folder.classes if c not in labels]
    if unknown:
        raise DataError(f"{data_dir} has class folders the model does not know: {', '.join(unknown)} "
                        f"(model labels: {', '.join(labels)})",
                        hint="give a calibration folder whose subfolders are named after the model's labels")
    remap = {i: labels.index(c) for i, c in enumerate(folder.classes)}
    items = [(p, remap[y]) for p, y in folder.items]
    val_fraction, seed = recorded_split(training)
    train_part, held_out = split_items(items, val_fraction, seed)
    rng = np.random.default_rng(seed)
    calibration = [train_part[i] for i in sorted(rng.permutation(len(train_part))[:samples])]
    evaluation = held_out
    if eval_samples is not None and eval_samples < len(held_out):
        evaluation = [held_out[i] for i in sorted(rng.permutation(len(held_out))[:eval_samples])]
    trained_on_all = source == "model card" and training.get("val_split") == 0
    return DataPlan(data_dir=Path(data_dir), source=source, classes=list(labels), calibration=calibration,
                    evaluation=evaluation, val_fraction=val_fraction, seed=seed, held_out_total=len(held_out),
                    seen_in_training=trained_on_all)
