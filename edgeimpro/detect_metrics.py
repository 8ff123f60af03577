"""Centroid detection (FOMO-style) scored on output grids: decode, match, precision / recall / F1, counting.

A detector's output is one grid per image, (grid_h, grid_w, K + 1) per-cell class probabilities: channel 0
is background, channel k + 1 is class k. The truth is the int32 grid `load_detection` makes: 0 background,
k + 1 where the centroid of an object of class k falls.

- decode: a cell is a detection of class k when k is its most probable object class and that probability
  is at least the threshold; its score is that probability. Cells are independent (no merging of
  neighbours: two objects may sit in adjacent cells).
- match: detections in decreasing score order (ties: row-major), each takes the unmatched true centroid of
  its class nearest to it, within `radius` cells in Chebyshev distance (one cell: the 8 neighbours count),
  nearer by Euclidean distance first, then row-major. A detection that finds none is a false positive; a
  true centroid left unmatched is a false negative. One-to-one and greedy, as FOMO's evaluation.
- counts: the detections of each class in an image against the true counts (which may exceed the true
  cells when centroids share one).

Pure numpy: the training, conversion, compare and infer paths all use it, and it never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from edgeimpro.errors import ModelError, UsageError

DEFAULT_THRESHOLD = 0.5
MATCH_RADIUS = 1                  # cells (Chebyshev): a centroid one cell off still counts


class Centroid(NamedTuple):
    row: int
    col: int
    class_index: int
    score: float = 1.0


@dataclass(frozen=True)
class DetectionHead:
    """What makes a model a centroid detector, as recorded in the model card (`model.json` "detection")."""

    classes: list[str]                 # class k is output channel k + 1; channel 0 is background
    grid_height: int
    grid_width: int
    stride: int                        # input pixels per grid cell
    threshold: float = DEFAULT_THRESHOLD
    object_weight: float | None = None     # the loss weight of object cells it was trained with
    match_radius: int = MATCH_RADIUS

    @property
    def channels(self) -> int:
        return len(self.classes) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "background_channel": 0,
                "grid": {"height": self.grid_height, "width": self.grid_width, "stride": self.stride},
                "output": "per-cell softmax: channel 0 background, channel k + 1 class k",
                "threshold": self.threshold, "object_weight": self.object_weight,
                "match_radius_cells": self.match_radius}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "model.json") -> DetectionHead:
        try:
            grid = d["grid"]
            return cls(classes=[str(c) for c in d["classes"]], grid_height=int(grid["height"]),
                       grid_width=int(grid["width"]), stride=int(grid["stride"]),
                       threshold=float(d.get("threshold", DEFAULT_THRESHOLD)),
                       object_weight=None if d.get("object_weight") is None else float(d["object_weight"]),
                       match_radius=int(d.get("match_radius_cells", MATCH_RADIUS)))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{source} has an incomplete detection section ({type(e).__name__}: {e})",
                             hint="re-run `edgeimpro train --task detect` to write a complete card") from None


# --- decode and match ------------------------------------------------------------------------------

def decode_grid(probs: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[Centroid]:
    """The detections of one (grid_h, grid_w, K + 1) probability grid, row-major."""
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 3 or p.shape[-1] < 2:
        raise UsageError(f"a detector output grid is (height, width, classes + 1), got shape {list(p.shape)}")
    objects = p[:, :, 1:]
    best = np.argmax(objects, axis=-1)
    score = np.take_along_axis(objects, best[:, :, None], axis=-1)[:, :, 0]
    rows, cols = np.nonzero(score >= np.float32(threshold))
    return [Centroid(int(r), int(c), int(best[r, c]), float(score[r, c])) for r, c in zip(rows, cols, strict=True)]


def truth_centroids(grid: np.ndarray) -> list[Centroid]:
    """The true centroids of one int grid (0 background, k + 1 class k), row-major."""
    g = np.asarray(grid)
    rows, cols = np.nonzero(g > 0)
    return [Centroid(int(r), int(c), int(g[r, c]) - 1) for r, c in zip(rows, cols, strict=True)]


@dataclass
class Match:
    pairs: list[tuple[Centroid, Centroid]]      # (detection, true centroid)
    false_positives: list[Centroid]
    false_negatives: list[Centroid]


def match_centroids(detections: Sequence[Centroid], truth: Sequence[Centroid],
                    radius: int = MATCH_RADIUS) -> Match:
    """Greedy one-to-one matching of detections to true centroids of the same class (see the module doc)."""
    if radius < 0:
        raise UsageError(f"match radius must be 0 or more cells, got {radius}")
    order = sorted(range(len(detections)), key=lambda i: (-detections[i].score, detections[i].row,
                                                           detections[i].col, i))
    taken = [False] * len(truth)
    pairs, fps = [], []
    for i in order:
        d = detections[i]
        best, best_key = None, None
        for j, t in enumerate(truth):
            if taken[j] or t.class_index != d.class_index:
                continue
            dr, dc = t.row - d.row, t.col - d.col
            if max(abs(dr), abs(dc)) > radius:
                continue
            key = (dr * dr + dc * dc, t.row, t.col)
            if best_key is None or key < best_key:
                best, best_key = j, key
        if best is None:
            fps.append(d)
        else:
            taken[best] = True
            pairs.append((d, truth[best]))
    fns = [t for j, t in enumerate(truth) if not taken[j]]
    return Match(pairs, fps, fns)


# --- scores ---------------------------------------------------------------------------------------

def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1. Nothing claimed is precision 1, nothing to find is recall 1 (so an empty image
    with no detection scores 1 throughout, and F1 is 0 as soon as one of them is 0)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass
class ClassScores:
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    count_mae: float


@dataclass
class DetectionMetrics:
    """Centroid detection and counting scores over a set of images."""

    images: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    count_mae: float          # mean |detected - true| count over images and classes
    count_mape: float | None  # mean |detected - true| / true over (image, class) with true > 0; None: none
    count_exact: float        # fraction of images with every class counted exactly
    threshold: float
    per_class: dict[str, ClassScores] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """'F1 0.912 (P 0.93, R 0.89), count MAE 0.41, MAPE 6.2%' for one line of a report."""
        mape = "n/a" if self.count_mape is None else f"{self.count_mape:.1%}"
        return (f"F1 {self.f1:.3f} (P {self.precision:.3f}, R {self.recall:.3f}), count MAE {self.count_mae:.2f}, "
                f"MAPE {mape}")


def detection_metrics(detections: Sequence[Sequence[Centroid]], truth: np.ndarray, classes: Sequence[str],
                      counts: np.ndarray | None = None, threshold: float = DEFAULT_THRESHOLD,
                      radius: int = MATCH_RADIUS) -> DetectionMetrics:
    """Scores of per-image `detections` against truth grids `truth` (N, grid_h, grid_w).

    `counts` (N, K) are the true object counts (default: the true cells of each class)."""
    truth = np.asarray(truth)
    k = len(classes)
    if truth.ndim != 3 or len(detections) != len(truth):
        raise UsageError(f"{len(detections)} images of detections against truth grids of shape {list(truth.shape)}")
    if counts is None:
        counts = np.stack([np.bincount(g[g > 0].ravel() - 1, minlength=k)[:k] for g in truth]) if len(truth) \
            else np.zeros((0, k), np.int64)
    counts = np.asarray(counts, dtype=np.int64).reshape(len(truth), k)
    tp, fp, fn = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64)
    found = np.zeros((len(truth), k), np.int64)
    for n, (dets, grid) in enumerate(zip(detections, truth, strict=True)):
        m = match_centroids(dets, truth_centroids(grid), radius)
        for d, _ in m.pairs:
            tp[d.class_index] += 1
        for d in m.false_positives:
            fp[d.class_index] += 1
        for t in m.false_negatives:
            fn[t.class_index] += 1
        for d in dets:
            found[n, d.class_index] += 1
    error = np.abs(found - counts)
    p, r, f1 = precision_recall_f1(int(tp.sum()), int(fp.sum()), int(fn.sum()))
    present = counts > 0
    per_class = {}
    for c, name in enumerate(classes):
        pc, rc, fc = precision_recall_f1(int(tp[c]), int(fp[c]), int(fn[c]))
        per_class[name] = ClassScores(int(tp[c]), int(fp[c]), int(fn[c]), pc, rc, fc,
                                      float(error[:, c].mean()) if len(error) else 0.0)
    return DetectionMetrics(
        images=len(truth), tp=int(tp.sum()), fp=int(fp.sum()), fn=int(fn.sum()), precision=p, recall=r, f1=f1,
        count_mae=float(error.mean()) if error.size else 0.0,
        count_mape=float((error[present] / counts[present]).mean()) if present.any() else None,
        count_exact=float(np.all(error == 0, axis=1).mean()) if len(error) else 1.0,
        threshold=float(threshold), per_class=per_class)


def grid_metrics(probs: np.ndarray, truth: np.ndarray, classes: Sequence[str], counts: np.ndarray | None = None,
                 threshold: float = DEFAULT_THRESHOLD, radius: int = MATCH_RADIUS) -> DetectionMetrics:
    """`detection_metrics` of probability grids (N, grid_h, grid_w, K + 1) decoded at `threshold`."""
    probs = np.asarray(probs)
    if probs.ndim != 4 or probs.shape[-1] != len(classes) + 1:
        raise UsageError(f"detector outputs of shape {list(probs.shape)} do not hold {len(classes)} classes "
                         "+ background per cell")
    return detection_metrics([decode_grid(p, threshold) for p in probs], truth, classes, counts, threshold, radius)


def cell_centre(c: Centroid, stride: int) -> tuple[float, float]:
    """(x, y) in input pixels of the centre of a detection's cell."""
    return (c.col + 0.5) * stride, (c.row + 0.5) * stride



THRESHOLD_CANDIDATES = tuple(round(0.3 + 0.05 * i, 2) for i in range(14))     # 0.30, 0.35, ..., 0.95


def best_threshold(probs: np.ndarray, truth: np.ndarray, classes: Sequence[str], counts: np.ndarray | None = None,
                   candidates: Sequence[float] = THRESHOLD_CANDIDATES, radius: int = MATCH_RADIUS
                   ) -> DetectionMetrics:
    """The metrics at the candidate threshold with the highest F1 (ties: the lower count MAE, then the lower
    threshold); its `threshold` says which. Chosen on one split, it flatters that split a little."""
    if not candidates:
        raise UsageError("no candidate thresholds given")
    scored = [grid_metrics(probs, truth, classes, counts, t, radius) for t in sorted(candidates)]
    return min(scored, key=lambda m: (-m.f1, m.count_mae, m.threshold))
