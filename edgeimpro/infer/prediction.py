"""What inference returns per frame (`Prediction`, its top-k `ClassScore`s, or a detector's
`DetectedObject`s) and over a run (`RunStats`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from edgeimpro.detect_metrics import Centroid


class ClassScore(NamedTuple):       # a tuple: built for every class of every frame, so cheap
    index: int
    label: str
    score: float


class DetectedObject(NamedTuple):
    """One centroid a detector found: its class, the centre of its grid cell in model-input pixels (x right,
    y down), the cell, and the class probability."""
    index: int
    label: str
    x: float
    y: float
    row: int
    col: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "x": self.x, "y": self.y, "row": self.row,
                "col": self.col, "score": round(self.score, 6)}


@dataclass(slots=True)
class Prediction:
    index: int
    name: str
    top: list[ClassScore]
    preprocess_ms: float
    invoke_ms: float
    latency_ms: float
    fps: float | None                  # None until two frames have been seen
    label: str | None = None           # ground truth from the source (class subfolder), if any
    objects: list[DetectedObject] | None = None   # a detector's centroids (then `top` is empty)
    counts: dict[str, int] | None = None           # a detector's objects per class, every class

    @property
    def best(self) -> ClassScore:
        return self.top[0]

    def centroids(self) -> list[Centroid]:
        return [Centroid(o.row, o.col, o.index, o.score) for o in self.objects or ()]

    @property
    def correct(self) -> bool | None:
        if self.label is None or not self.top:
            return None
        return self.top[0].label == self.label

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index, "name": self.name, "label": self.label,
            "top": [{"index": c.index, "label": c.label, "score": round(c.score, 6)} for c in self.top],
            "preprocess_ms": round(self.preprocess_ms, 4), "invoke_ms": round(self.invoke_ms, 4),
            "latency_ms": round(self.latency_ms, 4),
            "fps": None if self.fps is None else round(self.fps, 2),
        }
        if self.objects is not None:
            del d["top"]
            d["count"] = len(self.objects)
            d["counts"] = dict(self.counts or {})
            d["objects"] = [o.to_dict() for o in self.objects]
        if self.label is not None and self.objects is None:
            d["correct"] = self.correct
        return d


@dataclass
class RunStats:
    """Totals over a run, for the closing summary."""
    frames: int = 0
    preprocess_ms: float = 0.0
    invoke_ms: float = 0.0
    latency_ms: float = 0.0
    labelled: int = 0
    correct: int = 0
    started: float | None = None
    finished: float | None = None
    per_label: dict[str, list[int]] = field(default_factory=dict)   # label -> [correct, total]
    objects: int | None = None         # a detector's centroids over the run

    def add(self, p: Prediction, now: float) -> None:
        if self.started is None:
            self.started = now - p.latency_ms / 1e3
        self.finished = now
        self.frames += 1
        self.preprocess_ms += p.preprocess_ms
        self.invoke_ms += p.invoke_ms
        self.latency_ms += p.latency_ms
        if p.objects is not None:
            self.objects = (self.objects or 0) + len(p.objects)
        if p.label is not None and p.objects is None:
            self.labelled += 1
            self.correct += bool(p.correct)
            c = self.per_label.setdefault(p.label, [0, 0])
            c[0] += bool(p.correct)
            c[1] += 1

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None

    @property
    def fps(self) -> float | None:
        if self.frames < 2 or self.started is None or self.finished is None or self.finished <= self.started:
            return None
        return self.frames / (self.finished - self.started)

    def to_dict(self) -> dict[str, Any]:
        n = max(self.frames, 1)
        return {"frames": self.frames, "mean_preprocess_ms": round(self.preprocess_ms / n, 4),
                "mean_invoke_ms": round(self.invoke_ms / n, 4), "mean_latency_ms": round(self.latency_ms / n, 4),
                "fps": None if self.fps is None else round(self.fps, 2),
                "labelled": self.labelled, "accuracy": self.accuracy,
                **({} if self.objects is None else {"objects": self.objects,
                                                    "mean_count": round(self.objects / n, 4)})}
