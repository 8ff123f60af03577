"""Full-int8 conversion of a centroid detector (`train --task detect`): float vs int8 detection and counting.

The same steps as for a classifier (`converter.py`): calibrate on training images, convert with int8 ops
only, check the graph is full int8, measure the int8 model in tflite_micro, find the layers quantization
hurts most, write model.tflite and model.json together. What differs is the data and the measure:
  - the images are the detection dataset's, parted as training parted them (`detect_data`): calibration
    from the training part, evaluation on the validation part, or on a separate held-out set (`eval_data`,
    e.g. the demo's test split);
  - float and int8 are compared by centroid precision, recall, F1 and count errors at the threshold in the
    card (`detect_metrics`), and by the share of grid cells both decode alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.datasets.detection import (
    DetectionDataset,
    LoadedDetection,
    find_splits,
    load_detection,
    read_detection,
)
from edgeimpro.detect_metrics import DetectionHead, DetectionMetrics, decode_grid, grid_metrics
from edgeimpro.errors import DataError, ModelError, UsageError
from edgeimpro.graph import load_graph
from edgeimpro.modelcard import ModelCard, card_path_for, sha256_file, write_all_or_nothing
from edgeimpro.preprocess import Preprocessing
from edgeimpro.quantize.data import resolve_data_dir
from edgeimpro.quantize.debugger import LayerError
from edgeimpro.quantize.evaluate import dequantize, run_in_steps

DEFAULT_VAL_FRACTION = 0.2
INT8_F1_TOLERANCE = 0.02       # an int8 F1 further below the float F1 is warned about
PROGRESS_STEPS = 10
WORST_LAYERS = 5

Progress = Callable[[str], None]


@dataclass
class DetectionComparison:
    """Float vs int8 centroid detection on the same images at the card's threshold."""

    samples: int
    threshold: float
    float_metrics: DetectionMetrics | None       # None without evaluation images
    int8_metrics: DetectionMetrics | None
    cell_agreement: float | None                 # share of grid cells float and int8 decode alike
    runtime: str
    images: str                                  # which images: "validation part of DIR", "--eval-data DIR"
    seen_in_training: bool = False

    @property
    def f1_delta(self) -> float | None:
        if self.float_metrics is None or self.int8_metrics is None:
            return None
        return self.int8_metrics.f1 - self.float_metrics.f1

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "threshold": self.threshold, "images": self.images,
                "seen_in_training": self.seen_in_training,
                "float": self.float_metrics.to_dict() if self.float_metrics else None,
                "int8": self.int8_metrics.to_dict() if self.int8_metrics else None,
                "f1_delta": self.f1_delta, "cell_agreement": self.cell_agreement, "int8_runtime": self.runtime}


@dataclass
class DetectorConversion:
    tflite_path: Path
    card_path: Path
    card: ModelCard
    size_bytes: int
    head: DetectionHead
    comparison: DetectionComparison
    worst_layers: list[LayerError]
    calibration_samples: int
    data: dict[str, Any]                          # where calibration and evaluation images came from
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    task: str = "detect"

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "tflite": str(self.tflite_path), "model_card": str(self.card_path),
                "sha256": self.card.tflite_sha256, "quantization": self.card.quantization,
                "conversion": self.card.conversion, "warnings": list(self.warnings)}


def convert_detector(model_path: Path, tflite_path: Path, card: ModelCard, *, calibration_dir: Path | str | None,
                     samples: int, eval_samples: int | None, eval_data: Path | str | None, debug_samples: int,
                     progress: Progress | None = None) -> DetectorConversion:
    """Convert a detector's MODEL.keras (its card `card` says task detect) to full-int8 `tflite_path` and
    write model.json beside it; `convert_model` calls this for detectors. Nothing is written on failure."""
    from edgeimpro.quantize import converter as conv
    from edgeimpro.training.detect import predict_grids

    say = progress or (lambda msg: None)
    if samples < 1:
        raise UsageError(f"--samples must be at least 1, got {samples}")
    if eval_samples is not None and eval_samples < 1:
        raise UsageError(f"--eval-samples must be at least 1, got {eval_samples}")
    head = card.detection_head()
    training = card.training
    card_path = card_path_for(tflite_path)
    calibration, evaluation, data, seen = _plan(calibration_dir, eval_data, training, head, model_path.parent,
                                                samples, eval_samples)

    say(f"loading {model_path}")
    model = conv.load_keras_model(model_path)
    prep = conv._float_preprocessing(card, model)
    _check_output(model, head)

    grid = (head.grid_height, head.grid_width)
    say(f"loading {len(calibration.images)} calibration images from {calibration.root}")
    calib = load_detection(calibration, prep, grid_hw=grid, strict=False)
    if len(calib.x) == 0:
        raise DataError(f"none of the {len(calibration.images)} calibration images in {calibration.root} could be "
                        "read", hint="check the image files, or give another --calibration folder")
    say(f"loading {len(evaluation.images)} evaluation images from {evaluation.root}")
    held = load_detection(evaluation, prep, grid_hw=grid, strict=False)

    infer = conv.inference_model(model)
    say("converting to full int8")
    tflite = conv.to_int8_tflite(infer, calib.x)
    graph = load_graph(tflite)
    conv.check_full_int8(graph)
    in_t, out_t = graph.input_tensors[0], graph.output_tensors[0]
    in_scale, in_zp = in_t.quantization.scalar
    prep_q = prep.with_quantization(in_scale, in_zp)

    say(f"float vs int8 on {len(held.x)} images (int8 in tflite_micro, one image per invoke)")
    comparison = compare_detection(lambda x: predict_grids(model, x), tflite, graph, held, prep_q, head,
                                   data["evaluation"]["images"], seen,
                                   progress=lambda done, total: say(f"  int8: {done:,} of {total:,} images")
                                   if total >= conv.EVALUATION_PROGRESS_FROM else None)

    say("per-layer quantization error (QuantizationDebugger)")
    debug_x = held.x if len(held.x) else calib.x
    worst = conv._worst_layers(infer, calib.x, debug_x[:debug_samples])

    quantization = {"input": conv._tensor_quantization(in_t), "output": conv._tensor_quantization(out_t)}
    unreadable = [(p.file, p.message) for p in calib.problems + held.problems]
    conversion = {
        "source_model": model_path.name,
        "source_sha256": sha256_file(model_path),
        "calibration": {**data["calibration"], "samples": len(calib.x)},
        "evaluation": data["evaluation"],
        "unreadable_images": [str(p) for p, _ in unreadable],
        "detection": comparison.to_dict(),
        "int8_runtime": comparison.runtime,
        "size_bytes": len(tflite),
        "ops": graph.opcodes,
        "worst_layers": [e.to_dict() for e in worst[:WORST_LAYERS]],
        "metric": "rmse_over_scale: RMS error of the layer's int8 output in LSBs (QuantizationDebugger)",
        "tools": conv._tool_versions(),
    }
    new_card = ModelCard(labels=list(card.labels), preprocessing=prep_q, training=training,
                         quantization=quantization, conversion=conversion, tflite_sha256=graph.sha256,
                         tflite_file=tflite_path.name, task="detect", detection=card.detection)
    write_all_or_nothing([(tflite_path, tflite), (card_path, new_card.to_bytes())])
    return DetectorConversion(tflite_path=tflite_path, card_path=card_path, card=new_card, size_bytes=len(tflite),
                              head=head, comparison=comparison, worst_layers=worst[:WORST_LAYERS],
                              calibration_samples=len(calib.x), data=data, unreadable=unreadable,
                              ops=graph.opcodes, warnings=_warnings(comparison))


def compare_detection(float_predict: Callable[[np.ndarray], np.ndarray], tflite: bytes, graph: Any,
                      held: LoadedDetection, prep: Preprocessing, head: DetectionHead, images: str,
                      seen_in_training: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> DetectionComparison:
    """Centroid metrics of the float model and of the int8 model (tflite_micro) on `held`, at the head's
    threshold; `prep` carries the int8 input quantization."""
    from edgeimpro.quantize.evaluate import _runtime_name

    runtime = _runtime_name()
    if len(held.x) == 0:
        return DetectionComparison(0, head.threshold, None, None, None, runtime, images, seen_in_training)
    from edgeimpro.references import TflmReference

    ref = TflmReference(tflite)
    out_scale, out_zp = graph.output_tensors[0].quantization.scalar
    float_probs = np.asarray(float_predict(held.x), dtype=np.float32)
    int8_probs = dequantize(run_in_steps(ref, prep.quantize(held.x), progress), out_scale,
                            out_zp).reshape(float_probs.shape)
    classes, t = head.classes, head.threshold
    float_m = grid_metrics(float_probs, held.y, classes, held.counts, t, head.match_radius)
    int8_m = grid_metrics(int8_probs, held.y, classes, held.counts, t, head.match_radius)
    return DetectionComparison(len(held.x), t, float_m, int8_m, cell_agreement(float_probs, int8_probs, t),
                               runtime, images, seen_in_training)


def cell_agreement(a: np.ndarray, b: np.ndarray, threshold: float) -> float:
    """Share of grid cells two probability grids (N, H, W, K + 1) decode alike (no detection, or the same class)."""
    def labels(p: np.ndarray) -> np.ndarray:
        out = np.zeros(p.shape[:3], np.int64)
        for n, grid in enumerate(p):
            for c in decode_grid(grid, threshold):
                out[n, c.row, c.col] = c.class_index + 1
        return out

    la, lb = labels(a), labels(b)
    return float(np.mean(la == lb)) if la.size else 1.0


# --- data ---------------------------------------------------------------------------------------

def _plan(calibration_dir: Path | str | None, eval_data: Path | str | None, training: dict[str, Any],
          head: DetectionHead, card_dir: Path, samples: int, eval_samples: int | None
          ) -> tuple[DetectionDataset, DetectionDataset, dict[str, Any], bool]:
    """(calibration images, evaluation images, their description, evaluation seen in training)."""
    from edgeimpro.training.detect_data import detection_parts

    data_dir, source = resolve_data_dir(calibration_dir, training, card_dir)
    val_fraction = float(training.get("val_split") or DEFAULT_VAL_FRACTION) if source == "--calibration" \
        else float(training.get("val_split") or 0.0)
    seed = int(training.get("seed") or 0)
    _check_classes(data_dir, "train" if data_dir.is_dir() and find_splits(data_dir) else None, head)
    parts = detection_parts(data_dir, val_fraction, seed, classes=head.classes)
    rng = np.random.default_rng(seed)
    calib_images = [parts.train[i] for i in sorted(rng.permutation(len(parts.train))[:samples])]
    seen = False
    if eval_data is not None:
        held = _read_eval_data(Path(eval_data), head)
        images, where = held.images, f"--eval-data {held.root}"
    elif parts.validation:
        held, images = parts.dataset, parts.validation
        where = f"validation part of {parts.data_dir} ({parts.validation_text()})"
    else:
        held, images, seen = parts.dataset, parts.train, True
        where = f"the training images of {parts.data_dir} (no validation part: seen in training)"
    total = len(images)
    if eval_samples is not None and eval_samples < total:
        images = [images[i] for i in sorted(rng.permutation(total)[:eval_samples])]
    calibration = _subset(parts.dataset, calib_images)
    evaluation = _subset(held, images)
    data = {"calibration": {**parts.describe(), "source": source},
            "evaluation": {"images": where, "data_dir": str(evaluation.root), "samples": len(images),
                           "total": total, "split": "seen in training" if seen else "held-out"}}
    return calibration, evaluation, data, seen


def _read_eval_data(path: Path, head: DetectionHead) -> DetectionDataset:
    """A separate held-out detection set; a folder of splits gives its `test` split."""
    split = None
    if path.is_dir():
        splits = find_splits(path)
        if splits:
            if "test" not in splits:
                raise DataError(f"--eval-data {path} holds the splits {', '.join(splits)} but no 'test' split",
                                hint=f"give the split folder to evaluate on, e.g. {next(iter(splits.values()))}")
            split = "test"
    _check_classes(path, split, head)
    return read_detection(path, split=split, classes=head.classes)


def _check_classes(path: Path, split: str | None, head: DetectionHead) -> None:
    """Refuse a dataset annotated with classes the detector does not know (before any box is read as one)."""
    found = read_detection(path, split=split, strict=False).classes
    unknown = [c for c in found if c not in head.classes]
    if unknown:
        raise DataError(f"{path} has the classes {', '.join(found)}; the detector was trained on "
                        f"{', '.join(head.classes)}",
                        hint="give a dataset annotated with the detector's classes (as in labels.txt)")


def _subset(dataset: DetectionDataset, images: list) -> DetectionDataset:
    return DetectionDataset(root=dataset.root, format=dataset.format, classes=dataset.classes, images=list(images),
                            report=dataset.report)


def _check_output(model: Any, head: DetectionHead) -> None:
    want = (head.grid_height, head.grid_width, head.channels)
    got = tuple(int(d) for d in model.outputs[0].shape[1:])
    if got != want:
        raise ModelError(f"model output is {'x'.join(map(str, got))} but model.json describes a "
                         f"{head.grid_height}x{head.grid_width} grid of {head.channels} channels",
                         hint="the model.json beside the model belongs to another model; retrain it")


def _warnings(c: DetectionComparison) -> list[str]:
    warnings = []
    if c.float_metrics is not None and c.float_metrics.tp == 0 and c.float_metrics.fn:
        warnings.append(f"the float model finds none of the {c.float_metrics.fn} objects of the evaluation images: "
                        "it learned nothing; retrain with more epochs or images")
    elif c.f1_delta is not None and c.f1_delta < -INT8_F1_TOLERANCE:
        warnings.append(f"int8 F1 {c.int8_metrics.f1:.3f} is {-c.f1_delta * 100:.1f} points below the float model's "
                        f"{c.float_metrics.f1:.3f}: calibrate on more images (--samples) or retrain")
    return warnings

