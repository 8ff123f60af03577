"""Float vs int8 accuracy on held-out images; the int8 side runs in tflite_micro (the device reference, DESIGN §4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from edgeimpro.graph import Graph
from edgeimpro.preprocess import Preprocessing


@dataclass(frozen=True)
class Head:
    """How an output vector becomes a class: argmax, or a threshold for a one-unit binary head."""

    kind: str            # "softmax", "sigmoid" (one unit, probability) or "logits"
    units: int

    @property
    def threshold(self) -> float:
        return 0.5 if self.kind == "sigmoid" else 0.0

    def top1(self, outputs: np.ndarray) -> np.ndarray:
        """Class index per row of (N, units) float outputs."""
        out = np.asarray(outputs, dtype=np.float32).reshape(len(outputs), -1)
        if out.shape[1] == 1:
            return (out[:, 0] > self.threshold).astype(np.int64)
        return np.argmax(out, axis=1).astype(np.int64)


def head_of(graph: Graph) -> Head:
    """Read the classifier head off the converted graph: its last op and output width."""
    out = graph.output_tensors[0]
    units = int(out.shape[-1]) if out.shape else 1
    last = graph.ops[graph.producers()[out.index]].opcode if out.index in graph.producers() else ""
    kind = {"SOFTMAX": "softmax", "LOGISTIC": "sigmoid"}.get(last, "logits")
    return Head(kind=kind, units=units)


@dataclass
class AccuracyReport:
    samples: int
    float_accuracy: float | None      # None when there is no held-out image
    int8_accuracy: float | None
    agreement: float | None           # fraction of images where float and int8 top-1 agree
    disagreements: int
    head: str
    runtime: str
    # Top-1 class per image (None without held-out images): for the collapse check, not recorded.
    float_top1: np.ndarray | None = field(default=None, repr=False, compare=False)
    int8_top1: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.endswith("_top1")}


PROGRESS_STEPS = 10     # progress reports over one evaluation


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, dtype=np.float32) - np.float32(zero_point)) * np.float32(scale)



def run_in_steps(ref: Any, xq: np.ndarray, progress: Any = None) -> np.ndarray:
    """`ref.run` over int8 inputs in about PROGRESS_STEPS slices, reporting (done, total) after each."""
    step = max(1, len(xq) // PROGRESS_STEPS)
    parts = []
    for start in range(0, len(xq), step):
        parts.append(ref.run(xq[start:start + step]))
        if progress is not None:
            progress(min(start + step, len(xq)), len(xq))
    return np.concatenate(parts)

def compare_float_int8(float_predict: Callable[[np.ndarray], np.ndarray], tflite: bytes, graph: Graph,
                       x: np.ndarray, y: np.ndarray, prep: Preprocessing,
                       progress: Callable[[int, int], None] | None = None) -> AccuracyReport:
    """Top-1 of the float model and of the int8 model (tflite_micro) on the same preprocessed images.

    `x` is float (the shared preprocessing's output); `prep` carries the int8 input quantization.
    `progress(done, total)` is called as the int8 images run (tflite_micro takes one image per invoke).
    """
    head = head_of(graph)
    runtime = _runtime_name()
    if len(x) == 0:
        return AccuracyReport(0, None, None, None, 0, head.kind, runtime)
    from edgeimpro.references import TflmReference

    out_scale, out_zp = graph.output_tensors[0].quantization.scalar
    ref = TflmReference(tflite)
    float_top1 = head.top1(float_predict(x))
    int8_out = run_in_steps(ref, prep.quantize(x), progress).reshape(-1, head.units)
    int8_top1 = head.top1(dequantize(int8_out, out_scale, out_zp))
    y = np.asarray(y)
    return AccuracyReport(
        samples=len(x),
        float_accuracy=float(np.mean(float_top1 == y)),
        int8_accuracy=float(np.mean(int8_top1 == y)),
        agreement=float(np.mean(float_top1 == int8_top1)),
        disagreements=int(np.sum(float_top1 != int8_top1)),
        head=head.kind,
        runtime=runtime,
        float_top1=float_top1,
        int8_top1=int8_top1,
    )


def _runtime_name() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"tflite_micro {version('tflite-micro')}"
    except PackageNotFoundError:
        return "tflite_micro"
