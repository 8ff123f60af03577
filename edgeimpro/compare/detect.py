"""Comparing a centroid detector (model card task "detect"): its output grids decoded into centroids for the
device and every reference, the truth from a detection dataset folder, detection and counting metrics per
image and over the run, and the gallery's pictures with the device's centroids drawn. Pure numpy and
Pillow (drawn by `infer.draw`); never TensorFlow.

The bit-exact proof is the classifier's, on the whole output grid: this module only adds what the grids
mean. Records keep the decoded centroids, so a resumed run scores from results.jsonl alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.detect_metrics import Centroid, DetectionHead, decode_grid, detection_metrics, match_centroids
from edgeimpro.errors import DataError, UsageError
from edgeimpro.sources import Frame

log = logging.getLogger(__name__)

PER_IMAGE_LIST = 500          # images listed one by one in summary.json's detection section


@dataclass(frozen=True)
class DetectionResult:
    """One input of a detector: centroids [row, col, class, score] of the device and of each reference,
    and, when the input belongs to a detection dataset, its true centroid cells [row, col, class] and the
    true object count of each class (centroids sharing a cell are one cell but several objects)."""
    device: list[list[float]]
    refs: dict[str, list[list[float]]]
    truth: list[list[int]] | None = None
    true_counts: list[int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "refs": self.refs, "truth": self.truth, "true_counts": self.true_counts}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DetectionResult:
        return cls([list(c) for c in d["device"]], {k: [list(c) for c in v] for k, v in d["refs"].items()},
                   None if d.get("truth") is None else [list(c) for c in d["truth"]], d.get("true_counts"))

    def device_centroids(self) -> list[Centroid]:
        return centroids(self.device)

    def truth_centroids(self) -> list[Centroid] | None:
        return None if self.truth is None else [Centroid(int(r), int(c), int(k)) for r, c, k in self.truth]

    def count_error(self, classes: int) -> int | None:
        """Sum over classes of |device count - true count|; None without truth."""
        if self.true_counts is None:
            return None
        found = counts_of(self.device, classes)
        return int(sum(abs(a - b) for a, b in zip(found, self.true_counts, strict=True)))

    def centroid_differences(self) -> int:
        """Centroids the device has and a reference has not, or the other way, summed over references."""
        dev = {(int(r), int(c), int(k)) for r, c, k, _ in self.device}
        return sum(len(dev ^ {(int(r), int(c), int(k)) for r, c, k, _ in v}) for v in self.refs.values())


def same_cells(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> bool:
    """The same centroids (row, col, class), whatever their scores."""
    return {tuple(map(int, c[:3])) for c in a} == {tuple(map(int, c[:3])) for c in b}


def centroids(cells: Sequence[Sequence[float]]) -> list[Centroid]:
    return [Centroid(int(r), int(c), int(k), float(s)) for r, c, k, s in cells]


def counts_of(cells: Sequence[Sequence[float]], classes: int) -> list[int]:
    out = [0] * classes
    for c in cells:
        out[int(c[2])] += 1
    return out


def as_cells(found: Sequence[Centroid]) -> list[list[float]]:
    return [[c.row, c.col, c.class_index, round(c.score, 4)] for c in found]


def decode(probs: np.ndarray, head: DetectionHead) -> list[Centroid]:
    """The centroids of one flat (or gridded) probability output at the head's threshold."""
    grid = np.asarray(probs, np.float32).reshape(head.grid_height, head.grid_width, head.channels)
    return decode_grid(grid, head.threshold)


# ---------------------------------------------------------------------------------------------- truth


@dataclass
class DetectionTruth:
    """True centroid cells and counts of images, by resolved file path, from detection dataset folders."""
    by_path: dict[Path, tuple[list[list[int]], list[int]]]
    folders: list[Path]

    def get(self, frame: Frame) -> tuple[list[list[int]], list[int]] | None:
        return None if frame.path is None else self.by_path.get(frame.path.resolve())


def read_truth(paths: Sequence[Path | str], head: DetectionHead) -> DetectionTruth | None:
    """The boxes of every SOURCE that is a detection dataset folder (COCO, YOLO or VOC), as centroid cells
    of the model's grid; None when no source is one (plain images: counts and centroids only)."""
    from edgeimpro.datasets.detection import annotation_formats, centroid_grid, read_detection

    by_path: dict[Path, tuple[list[list[int]], list[int]]] = {}
    folders = []
    for p in map(Path, paths):
        if not (p.is_dir() and annotation_formats(p)):
            continue
        dataset = read_detection(p)
        unknown = [c for c in dataset.classes if c not in head.classes]
        if unknown:
            raise DataError(f"{p} has the classes {', '.join(dataset.classes)}; the detector finds "
                            f"{', '.join(head.classes)}",
                            hint="compare the detector on a dataset of its own classes")
        remap = [head.classes.index(c) for c in dataset.classes]
        k = len(head.classes)
        for im in dataset.images:
            boxes = [b._replace(class_index=remap[b.class_index]) for b in im.boxes]
            grid = centroid_grid(boxes, (im.height, im.width), (head.grid_height, head.grid_width))
            cells = [[int(r), int(c), int(grid[r, c]) - 1] for r, c in zip(*np.nonzero(grid > 0), strict=True)]
            counts = np.bincount(np.array([b.class_index for b in boxes], np.int64), minlength=k)[:k]
            by_path[im.path.resolve()] = (cells, [int(n) for n in counts])
        folders.append(p)
    return DetectionTruth(by_path, folders) if folders else None


# ---------------------------------------------------------------------------------------------- summary


def _truth_grid(cells: Sequence[Sequence[int]], head: DetectionHead) -> np.ndarray:
    g = np.zeros((head.grid_height, head.grid_width), np.int32)
    for r, c, k in cells:
        g[int(r), int(c)] = int(k) + 1
    return g


def summarize_detection(records: Sequence[Any], head: DetectionHead, titles: dict[str, str]
                        ) -> dict[str, Any] | None:
    """summary.json's "detection": counts of the device and each reference, how often their centroids are
    the device's, and, over the images with truth, precision / recall / F1 and count MAE / MAPE per
    predictor; one row per image (the first PER_IMAGE_LIST)."""
    recs = sorted((r for r in records if getattr(r, "detection", None) is not None), key=lambda r: r.position)
    if not recs:
        return None
    k = len(head.classes)
    refs = [name for name in titles if all(name in r.detection.refs for r in recs)]
    who = ["device", *refs]

    def cells_of(r: Any, w: str) -> list[list[float]]:
        return r.detection.device if w == "device" else r.detection.refs[w]

    predictors: dict[str, Any] = {}
    for w in who:
        counts = [sum(counts_of(cells_of(r, w), k)) for r in recs]
        same = sum(same_cells(cells_of(r, w), r.detection.device) for r in recs)
        predictors[w] = {"title": "device" if w == "device" else titles[w], "objects": int(sum(counts)),
                         "mean_count": float(np.mean(counts)), "same_centroids_as_device": int(same)}
    labelled = [r for r in recs if r.detection.truth is not None]
    if labelled:
        truth = np.stack([_truth_grid(r.detection.truth, head) for r in labelled])
        true_counts = np.array([r.detection.true_counts for r in labelled], np.int64).reshape(len(labelled), k)
        for w in who:
            m = detection_metrics([centroids(cells_of(r, w)) for r in labelled], truth, head.classes, true_counts,
                                  head.threshold, head.match_radius)
            predictors[w]["metrics"] = m.to_dict()
    per_image = []
    for r in recs[:PER_IMAGE_LIST]:
        row: dict[str, Any] = {"name": r.name, "key": r.key,
                               "counts": {w: sum(counts_of(cells_of(r, w), k)) for w in who}}
        if r.detection.truth is not None:
            m = match_centroids(r.detection.device_centroids(), r.detection.truth_centroids() or [],
                                head.match_radius)
            row.update(true_count=int(sum(r.detection.true_counts or [])), tp=len(m.pairs),
                       fp=len(m.false_positives), fn=len(m.false_negatives),
                       count_error=r.detection.count_error(k))
        per_image.append(row)
    return {"classes": list(head.classes), "threshold": head.threshold, "match_radius_cells": head.match_radius,
            "grid": {"height": head.grid_height, "width": head.grid_width, "stride": head.stride},
            "images": len(recs), "labelled": len(labelled), "predictors": predictors, "per_image": per_image}


def summary_lines(det: dict[str, Any]) -> list[str]:
    """The detection section of the command line's closing summary."""
    lines = []
    preds = det["predictors"]
    dev = preds["device"]
    same = "; ".join(f"{p['title']} {p['same_centroids_as_device']}/{det['images']}" for w, p in preds.items()
                     if w != "device")
    lines.append(f"  detection: device found {dev['objects']} objects in {det['images']} images (mean "
                 f"{dev['mean_count']:.2f}); same centroids as the device: {same or 'no reference'}")
    if det["labelled"]:
        lines.append(f"  detection on {det['labelled']} images with boxes (threshold {det['threshold']:g}):")
        for p in preds.values():
            m = p.get("metrics")
            if m is None:
                continue
            mape = "n/a" if m["count_mape"] is None else f"{100 * m['count_mape']:.1f}%"
            lines.append(f"    {p['title']:<16} F1 {m['f1']:.3f} (P {m['precision']:.3f}, R {m['recall']:.3f}), "
                         f"count MAE {m['count_mae']:.2f}, MAPE {mape}, exact counts {100 * m['count_exact']:.0f}%")
    return lines


# ---------------------------------------------------------------------------------------------- pictures

DETECTION_THUMB = 192          # width of a detector's gallery picture, pixels


def detection_thumbnail(rgb: np.ndarray, result: DetectionResult, head: DetectionHead) -> bytes:
    """A PNG of the input with the true centroids (green rings) and the device's (crosses: yellow when
    matched, red when false) drawn on it."""
    import io

    from PIL import Image

    from edgeimpro.infer.draw import draw_centroids

    found = result.device_centroids()
    truth = result.truth_centroids()
    false = None
    if truth is not None:
        m = match_centroids(found, truth, head.match_radius)
        false = {(c.row, c.col, c.class_index) for c in m.false_positives}
    img = draw_centroids(rgb, found, (head.grid_height, head.grid_width), truth=truth, false=false,
                         width=DETECTION_THUMB)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def check_labels_option(labels: Path | None) -> None:
    if labels is not None:
        raise UsageError("--labels gives one class per input, and this model is a detector",
                         hint="give a detection dataset folder (COCO, YOLO or VOC boxes) as SOURCE: its boxes "
                              "are the truth")
