"""The inference session: a model, its runtime and its preprocessing; frames in, top-k labels (a centroid
detector: its objects, counted) with timings out. Never prints.

A detector is a model whose card says task "detect", or a model without a card given `task="detect"`: a
FOMO-style output (1, grid_h, grid_w, classes + 1), a softmax per cell with background in channel 0, read
from the output tensor's shape (class names default to class_1, class_2, ...; threshold 0.5).

Per frame, `preprocess_ms` is frame -> input tensor (decode and resize for files), `invoke_ms` the
runtime call (set input, invoke, read output), `latency_ms` both plus the top-k; `fps` is measured over the
last `fps_window` frames, wall clock (so it includes capture or decoding).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.detect_metrics import DEFAULT_THRESHOLD, DetectionHead, decode_grid
from edgeimpro.errors import ModelError, UsageError
from edgeimpro.graph.loader import read_model_bytes
from edgeimpro.infer.draw import annotate_image
from edgeimpro.infer.lut import FramePreparer
from edgeimpro.infer.prediction import ClassScore, DetectedObject, Prediction, RunStats
from edgeimpro.infer.preprocessing import card_for_model, preprocessing_from_card, preprocessing_from_input
from edgeimpro.infer.runtime import open_runtime
from edgeimpro.modelcard import class_names_for
from edgeimpro.references import TensorInfo
from edgeimpro.sources import Frame, Source

TASKS = ("classify", "detect")
DEFAULT_TOP_K = 3
FPS_WINDOW = 30
SMALL_OUTPUT = 64               # up to this many classes, top-k in plain Python (faster than numpy)


class InferenceSession:
    """A model, its runtime and its preprocessing; `predict(frame)` per frame, `run(source)` for a stream."""

    def __init__(self, model: Path | str, *, runtime: str = "auto", threads: int | None = None,
                 size: tuple[int, int] | None = None, color: str | None = None,
                 class_names: list[str] | None = None, fps_window: int = FPS_WINDOW, task: str | None = None,
                 threshold: float | None = None) -> None:
        self.model_path = Path(model)
        data = read_model_bytes(self.model_path)
        self.runtime_name, self.runtime = open_runtime(data, runtime, threads)
        self.threads = threads
        if len(self.runtime.inputs) != 1:
            raise ModelError(f"model has {len(self.runtime.inputs)} inputs; infer feeds one image")
        self.input: TensorInfo = self.runtime.inputs[0]
        self.output: TensorInfo = self.runtime.outputs[0]
        self.card = card_for_model(self.model_path, data)
        if self.card is not None:
            self.preprocessing = preprocessing_from_card(self.card, self.input, size, color)
            self.preprocessing_origin = f"model card {self.model_path.with_name('model.json').name}"
        else:
            self.preprocessing, self.preprocessing_origin = preprocessing_from_input(self.input, size, color)
        self.head: DetectionHead | None = self._detection_head(task, class_names, threshold)
        if self.head is not None:
            self.classes = len(self.head.classes)
            self.labels = list(self.head.classes)
            self.labels_origin = ("--class-names" if class_names else "model.json" if self.card is not None
                                  else "class_1.. (no names: give --class-names)")
        else:
            self.classes = int(np.prod(self.output.shape[1:]))
            self.labels, self.labels_origin = class_names_for(self.model_path, self.card, self.classes,
                                                              class_names)
        self.preparer = FramePreparer(self.preprocessing, self.input.dtype, self.input.shape)
        out_q = self.output.dtype == "int8" and self.output.scale is not None
        self._out_scale = float(self.output.scale) if out_q else 1.0
        self._out_zero = int(self.output.zero_point) if out_q else 0
        self._class_range = range(self.classes)
        # int8 scores take 256 values per class: for a small head, every ClassScore is made once, here
        self._score_table: list[list[ClassScore]] | None = None
        if out_q and self.classes <= SMALL_OUTPUT:
            self._score_table = [[ClassScore(i, label, (v - self._out_zero) * self._out_scale)
                                  for v in range(-128, 128)] for i, label in enumerate(self.labels)]
        self._ticks: deque[float] = deque(maxlen=max(2, fps_window))
        self.stats = RunStats()

    def _detection_head(self, task: str | None, class_names: list[str] | None, threshold: float | None
                        ) -> DetectionHead | None:
        """The detector's grid, classes and threshold: the card's, or read from the output tensor."""
        if task is not None and task not in TASKS:
            raise UsageError(f"unknown task {task!r}", hint="use --task classify or --task detect")
        if threshold is not None and not 0 < threshold <= 1:
            raise UsageError(f"--threshold must be in (0, 1], got {threshold}")
        card = self.card
        card_task = card.task if card is not None else None
        if card_task is not None and task is not None and task != card_task:
            raise UsageError(f"--task {task}, and the model card beside the model says task {card_task}",
                             hint="leave --task out: the model card gives it")
        if (task or card_task) != "detect":
            if threshold is not None:
                raise UsageError("--threshold applies to detectors", hint="add --task detect for a FOMO model")
            return None
        shape = tuple(self.output.shape)
        _, h, w, _ = self.input.shape
        if len(shape) != 4 or shape[0] != 1 or shape[3] < 2:
            raise ModelError(f"model output '{self.output.name}' has shape {list(shape)}; a centroid detector "
                             "outputs (1, grid height, grid width, classes + 1)",
                             hint="--task detect is for FOMO-style models: drop it to classify")
        gh, gw, channels = shape[1:]
        if card is not None:
            head = card.detection_head()
            if (head.grid_height, head.grid_width, head.channels) != (gh, gw, channels):
                raise ModelError(f"model.json describes a {head.grid_height}x{head.grid_width} grid of "
                                 f"{head.channels} channels; the model outputs {gh}x{gw}x{channels}",
                                 hint="model.json belongs to another model: re-run `edgeimpro convert`")
            if class_names:
                if len(class_names) != len(head.classes):
                    raise ModelError(f"--class-names lists {len(class_names)} names; the detector finds "
                                     f"{len(head.classes)} classes ({', '.join(head.classes)})")
                head = DetectionHead(list(class_names), gh, gw, head.stride, head.threshold, head.object_weight,
                                     head.match_radius)
        else:
            names = list(class_names) if class_names else [f"class_{k + 1}" for k in range(channels - 1)]
            if len(names) != channels - 1:
                raise ModelError(f"--class-names lists {len(names)} names; the model output has {channels} "
                                 f"channels (background + {channels - 1} classes)",
                                 hint=f"give {channels - 1} names, in output order after the background")
            head = DetectionHead(names, gh, gw, max(1, h // gh), DEFAULT_THRESHOLD)
        if threshold is not None:
            head = DetectionHead(head.classes, head.grid_height, head.grid_width, head.stride, threshold,
                                 head.object_weight, head.match_radius)
        return head

    @property
    def is_detector(self) -> bool:
        return self.head is not None

    def describe(self) -> dict[str, Any]:
        p = self.preprocessing
        return {"model": str(self.model_path), "runtime": self.runtime_name, "threads": self.threads,
                "task": "detect" if self.head is not None else "classify",
                "input": f"{p.height}x{p.width} {p.color} {self.input.dtype}",
                "preprocessing": self.preprocessing_origin, "classes": self.classes,
                "class_names": self.labels_origin,
                "fast_path": self.preparer.fast_path}

    def prepare(self, frame: Frame | np.ndarray | Path | str) -> np.ndarray:
        """The model input (1, H, W, C) for a frame, an RGB uint8 array or an image path (a new array)."""
        return self.preparer(_as_frame(frame)).copy()

    def predict(self, frame: Frame | np.ndarray | Path | str, top_k: int = DEFAULT_TOP_K) -> Prediction:
        """Run one frame: top-k classes (best first; ties keep the lower class index first) and timings."""
        if type(frame) is not Frame:
            frame = _as_frame(frame)
        clock = time.perf_counter
        t0 = clock()
        x = self.preparer(frame)
        t1 = clock()
        out = self.runtime.invoke_one(x)
        t2 = clock()
        objects = counts = None
        if self.head is not None:
            top: list[ClassScore] = []
            objects = self._objects(out)
            counts = dict.fromkeys(self.labels, 0)
            for o in objects:
                counts[o.label] += 1
        else:
            top = self._top(out, top_k)
        t3 = clock()
        ticks = self._ticks
        ticks.append(t3)
        fps = (len(ticks) - 1) / (t3 - ticks[0]) if len(ticks) > 1 and t3 > ticks[0] else None
        pred = Prediction(frame.index, frame.name, top, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t0) * 1e3,
                          fps, frame.label, objects, counts)
        self.stats.add(pred, t3)
        return pred

    def run(self, source: Source, top_k: int = DEFAULT_TOP_K) -> Iterator[tuple[Frame, Prediction]]:
        """(frame, prediction) for every frame of `source`; the source is closed at the end."""
        if top_k < 1:
            raise UsageError(f"--top-k must be at least 1, got {top_k}")
        try:
            for frame in source:
                yield frame, self.predict(frame, top_k)
        finally:
            source.close()

    def _top(self, out: np.ndarray, k: int) -> list[ClassScore]:
        scale, zero, labels = self._out_scale, self._out_zero, self.labels
        values = out.ravel().tolist()
        if len(values) <= SMALL_OUTPUT:
            order = sorted(self._class_range, key=values.__getitem__, reverse=True)[:k]   # stable on ties
            table = self._score_table
            if table is not None:
                return [table[i][values[i] + 128] for i in order]
        else:
            order = np.argsort(-out.ravel().astype(np.float64), kind="stable")[:k].tolist()
        return [ClassScore(i, labels[i], (values[i] - zero) * scale) for i in order]

    def _objects(self, out: np.ndarray) -> list[DetectedObject]:
        head = self.head
        assert head is not None
        probs = (out.astype(np.float64) - self._out_zero) * self._out_scale      # as compare dequantizes
        found = decode_grid(probs.reshape(head.grid_height, head.grid_width, head.channels), head.threshold)
        _, h, w, _ = self.input.shape
        sx, sy = w / head.grid_width, h / head.grid_height
        return [DetectedObject(c.class_index, self.labels[c.class_index], (c.col + 0.5) * sx, (c.row + 0.5) * sy,
                               c.row, c.col, c.score) for c in found]

    def display_image(self, frame: Frame) -> np.ndarray:
        """RGB uint8 picture of a frame; a raw tensor is mapped back to pixels through the preprocessing."""
        if frame.tensor is None:
            return frame.rgb()
        return self.preprocessing.to_rgb(frame.tensor)

    def annotate(self, frame: Frame, pred: Prediction, min_width: int = 320) -> np.ndarray:
        """The frame with its top-k, latency and FPS drawn on it (RGB uint8); small frames are enlarged."""
        grid = (self.head.grid_height, self.head.grid_width) if self.head is not None else None
        return annotate_image(self.display_image(frame), pred, min_width, grid)


def _as_frame(frame: Frame | np.ndarray | Path | str) -> Frame:
    if isinstance(frame, Frame):
        return frame
    if isinstance(frame, (str, Path)):
        return Frame(index=0, name=Path(frame).name, path=Path(frame))
    return Frame(index=0, name="array", image=np.asarray(frame))
