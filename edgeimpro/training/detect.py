"""Train a FOMO-style centroid detector on a detection dataset (COCO, YOLO or VOC boxes) and write a run folder.

    RUN_DIR/model.keras      the inference model (static batch 1, raw 0..255 pixels in, per-cell softmax out)
    RUN_DIR/labels.txt       one object class per line (class k is output channel k + 1; 0 is background)
    RUN_DIR/model.json       the model card: task "detect", the grid, classes, threshold, object weight,
                             preprocessing, data, metrics, estimate
    RUN_DIR/history.csv      loss and the validation centroid metrics per epoch
    RUN_DIR/curves.png       loss and F1 per epoch
    RUN_DIR/predictions.png  held-out images with the true centroids and the detections drawn

The loss is the per-cell cross-entropy with object cells weighted `object_weight` times a background cell
(Edge Impulse's FOMO weights them 100; that suits its decoding, which merges neighbouring cells, and made
neighbours of every object fire here, where each cell counts: on the crowd demo weight 100 reached test F1
0.81, weights 1-5 0.92-0.94). Every image is also trained flipped left-right, its grid with it; --augment adds
brightness and contrast jitter. After every epoch the batch-norm statistics are measured on training images
(as for classifiers) and the validation images are scored: precision, recall and F1 of centroids and the
count errors (`edgeimpro.detect_metrics`). Early stopping keeps the epoch of best validation F1. Without
--threshold, the decoding threshold is the one with the best validation F1 (candidates 0.30-0.95), chosen
per epoch and at the end, and recorded in the card.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.atomic import atomic_dir, check_target
from edgeimpro.boards.registry import Board
from edgeimpro.datasets.detection import DetectionDataset, LoadedDetection, centroid_cells, load_detection
from edgeimpro.detect_metrics import (
    DetectionHead,
    DetectionMetrics,
    best_threshold,
    decode_grid,
    grid_metrics,
    match_centroids,
    truth_centroids,
)
from edgeimpro.errors import BoardFitError, DataError, UsageError
from edgeimpro.graph.analysis import BoardFit
from edgeimpro.modelcard import ModelCard
from edgeimpro.preprocess import Preprocessing
from edgeimpro.training.batchnorm import bn_sample, recalibrate_batchnorm
from edgeimpro.training.boardfit import check_fit, fit_problems, fits_budget
from edgeimpro.training.datashape import MAX_DEFAULT_SIDE, InputChoice, survey_images
from edgeimpro.training.detect_data import DetectionParts, detection_parts
from edgeimpro.training.estimate import ModelEstimate, estimate_model
from edgeimpro.training.fit import OPTIMIZERS, check_fit_options, make_optimizer
from edgeimpro.training.fomo import (
    DEFAULT_FOMO_ALPHA,
    DETECTION_ARCHITECTURES,
    MIN_GRID_CELLS,
    STRIDES,
    FomoSpec,
)
from edgeimpro.training.plots import plot_detection_curves, plot_detections

DEFAULT_OBJECT_WEIGHT = 5.0
DEFAULT_EPOCHS = 40
DEFAULT_BATCH_SIZE = 32
DEFAULT_PATIENCE = 10
LR_FLOOR = 0.02             # the cosine schedule ends at this fraction of the initial learning rate
PREDICTION_PANELS = 12      # held-out images drawn in predictions.png
PREDICT_BATCH = 64
RUN_FILES = ("model.keras", "labels.txt", "model.json", "history.csv", "curves.png", "predictions.png")
ALPHA_STEPS = (0.25,)       # narrower widths tried when suggesting a model that fits a board


@dataclass
class DetectConfig:
    arch: str = "fomo"
    input_size: tuple[int, int] | None = None     # None: the dataset's own size, at most 96, a multiple of stride
    color: str | None = None                      # None: grey when every sampled image is grey, else rgb
    alpha: float | None = None                    # None: DEFAULT_FOMO_ALPHA
    stride: int = 8
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    optimizer: str = "adam"
    lr: float | None = None                       # None: the optimizer's default (fit.OPTIMIZERS)
    patience: int = DEFAULT_PATIENCE              # epochs without a better validation F1; 0 = off
    val_split: float = 0.2                        # ignored when the dataset has its own validation split
    augment: bool = False                         # brightness/contrast jitter (left-right flips always)
    seed: int = 0
    object_weight: float = DEFAULT_OBJECT_WEIGHT
    threshold: float | None = None                # None: the best on the validation images

    def validate(self) -> None:
        if self.arch not in DETECTION_ARCHITECTURES:
            raise UsageError(f"--arch {self.arch} is a classifier; --task detect trains a centroid detector",
                             hint="use --arch " + " or ".join(DETECTION_ARCHITECTURES) + " (the default with "
                                  "--task detect), or drop --task detect to train a classifier")
        if self.stride not in STRIDES:
            raise UsageError(f"--stride must be {' or '.join(map(str, STRIDES))}, got {self.stride}")
        check_fit_options(self)
        if not self.object_weight > 0:
            raise UsageError(f"--object-weight must be positive, got {self.object_weight}",
                             hint="1 weighs object and background cells alike; FOMO uses up to 100")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise UsageError(f"--threshold must be between 0 and 1, got {self.threshold}",
                             hint="a cell is a detection when its class probability reaches it; e.g. 0.5")
        if self.input_size is not None:
            FomoSpec(*self.input_size, 3, 1, self.resolved_alpha, self.stride)     # the size error, early

    @property
    def resolved_alpha(self) -> float:
        return DEFAULT_FOMO_ALPHA if self.alpha is None else float(self.alpha)

    @property
    def learning_rate(self) -> float:
        return OPTIMIZERS[self.optimizer] if self.lr is None else float(self.lr)

    def preprocessing(self) -> Preprocessing:
        h, w = self._size()
        return Preprocessing(height=h, width=w, color=self.color or "rgb", pixel_scale=1.0, pixel_offset=0.0)

    def spec(self, num_classes: int) -> FomoSpec:
        h, w = self._size()
        return FomoSpec(h, w, 1 if self.color == "grayscale" else 3, num_classes, self.resolved_alpha,
                        self.stride, self.arch)

    def _size(self) -> tuple[int, int]:
        if self.input_size is None:
            raise UsageError("the input size is not decided yet", hint="train_detector() decides it from the data")
        return self.input_size

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = f"{self.input_size[0]}x{self.input_size[1]}" if self.input_size else None
        d["alpha"] = self.resolved_alpha
        d["learning_rate"] = self.learning_rate
        return d


@dataclass
class DetectionDataSummary:
    root: Path
    format: str
    classes: list[str]
    boxes: dict[str, int]            # boxes per class in the training split as read
    train_images: int
    val_images: int
    validation: str                  # where the validation images come from
    warnings: list[str]              # the dataset report's warnings (clipped boxes, ...), as text


@dataclass
class DetectEstimateReport:
    spec: FomoSpec
    estimate: ModelEstimate
    fit: BoardFit | None


@dataclass
class DetectLoadSummary:
    train_images: int
    val_images: int
    unreadable: list[tuple[Path, str]]


@dataclass
class DetectResult:
    run_dir: Path
    card: ModelCard
    history: dict[str, list[float]]
    estimate: ModelEstimate
    fit: BoardFit | None
    metrics: dict[str, Any]          # the card's training.metrics
    evaluation: DetectionMetrics     # on the validation images (the training images without any)
    evaluation_set: str              # "validation" or "training"
    head: DetectionHead
    seconds: float
    input: InputChoice
    unreadable: list[tuple[Path, str]]
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=lambda: list(RUN_FILES))


Event = Callable[[str, Any], None]


def train_detector(data_dir: Path | str, run_dir: Path | str, config: DetectConfig | None = None, *,
                   board: Board | None = None, force: bool = False, verbose: int = 0,
                   on_event: Event | None = None) -> DetectResult:
    """Train `config.arch` on DATA_DIR's boxes and write RUN_DIR (see the module doc).

    `on_event(name, payload)` is called before training with "data" (DetectionDataSummary), "input"
    (InputChoice), "estimate" (DetectEstimateReport) and "loaded" (DetectLoadSummary); `verbose` is Keras's
    fit verbosity. Raises BoardFitError right after "estimate", before decoding any image, when `board`
    cannot hold the model.
    """
    import keras

    cfg = config or DetectConfig()
    cfg.validate()
    emit = on_event or (lambda name, payload: None)
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    check_target(run_dir, force, what="run folder")
    t0 = time.monotonic()

    parts = detection_parts(data_dir, cfg.val_split, cfg.seed)
    classes = parts.classes
    emit("data", DetectionDataSummary(parts.dataset.root, parts.dataset.format, classes,
                                      parts.dataset.boxes_per_class(), len(parts.train), len(parts.validation),
                                      parts.validation_text(), [str(p) for p in parts.dataset.report.warnings()]))
    if not parts.train:
        raise DataError(f"{data_dir} has no training image", hint="check the annotations: edgeimpro datasets check")

    choice = choose_detection_input([im.path for im in parts.train], cfg.stride, cfg.input_size, cfg.color)
    cfg = replace(cfg, input_size=choice.size, color=choice.color)
    emit("input", choice)
    spec = cfg.spec(len(classes))
    keras.utils.set_random_seed(cfg.seed)
    model = spec.build(batch_size=1)
    estimate = estimate_model(model)
    fit = check_fit(estimate, board) if board is not None else None
    emit("estimate", DetectEstimateReport(spec, estimate, fit))
    if board is not None:
        require_detector_fit(spec, estimate, board)

    prep = cfg.preprocessing()
    train_set = _load(parts, parts.train, prep, cfg.stride)
    val_set = _load(parts, parts.validation, prep, cfg.stride)
    unreadable = [(p.file, p.message) for p in train_set.problems + val_set.problems]
    emit("loaded", DetectLoadSummary(len(train_set.x), len(val_set.x), unreadable))
    if len(train_set.x) == 0:
        raise DataError(f"none of the {len(parts.train)} training images of {data_dir} can be decoded",
                        hint="check the image files; see the list above")
    if not train_set.y.any():
        raise DataError(f"the {len(train_set.x)} training images of {data_dir} hold no object",
                        hint="a detector learns from boxes: check the annotations (edgeimpro datasets check)")

    has_val = len(val_set.x) > 0
    eval_set = val_set if has_val else train_set
    prefix = "val_" if has_val else "train_"
    history, best_epoch, early_stopped = _fit(model, cfg, train_set, eval_set, prefix, classes, verbose)
    probs = predict_grids(model, eval_set.x)
    if cfg.threshold is None:
        evaluation = best_threshold(probs, eval_set.y, classes, eval_set.counts)
    else:
        evaluation = grid_metrics(probs, eval_set.y, classes, eval_set.counts, cfg.threshold)
    gh, gw = spec.grid
    head = DetectionHead(classes=list(classes), grid_height=gh, grid_width=gw, stride=cfg.stride,
                         threshold=evaluation.threshold, object_weight=cfg.object_weight)
    metrics = _final_metrics(evaluation, prefix, cfg, has_val)
    metrics.update(best_epoch=best_epoch, epochs_run=len(history["loss"]), early_stopped=early_stopped,
                   seconds=round(time.monotonic() - t0, 2))
    warnings = _warnings(evaluation, has_val)

    training = {
        "task": "detect",
        "arch": cfg.arch,
        "alpha": spec.alpha,
        "stride": cfg.stride,
        "options": cfg.to_dict(),
        "output": {"activation": "softmax", "per_cell": True, "units": spec.output_channels,
                   "grid": [gh, gw]},
        "loss": f"per-cell cross-entropy, object cells weighted {cfg.object_weight:g}",
        "data_dir": str(data_dir.resolve()),
        "format": parts.dataset.format,
        "splits": parts.splits,
        "val_split": parts.val_fraction,
        "seed": cfg.seed,
        "images": {"train": int(len(train_set.x)), "validation": int(len(val_set.x)),
                   "boxes_per_class": parts.dataset.boxes_per_class(),
                   "problems": parts.dataset.report.counts(),
                   "unreadable": [str(p) for p, _ in unreadable]},
        "input": choice.to_dict(),
        "metrics": metrics,
        "estimate": estimate.to_dict(),
        "board": fit.to_dict() if fit else None,
    }
    card = ModelCard(labels=list(classes), preprocessing=prep, training=training, task="detect",
                     detection=head.to_dict())
    which = "validation" if has_val else "training"
    with atomic_dir(run_dir, force=force, what="run folder") as tmp:
        model.save(tmp / "model.keras")
        (tmp / "labels.txt").write_text("".join(f"{c}\n" for c in classes))
        _write_history(history, tmp / "history.csv")
        plot_detection_curves(history, tmp / "curves.png",
                              title=f"{cfg.arch} alpha {spec.alpha:g} on {data_dir.resolve().name}")
        draw_predictions(eval_set, probs, parts, head, prep, tmp / "predictions.png",
                         title=f"{which} images: {evaluation.summary()} at threshold {evaluation.threshold:g}")
        card.save(tmp / "model.json")
    return DetectResult(run_dir=run_dir.absolute(), card=card, history=history, estimate=estimate, fit=fit,
                        metrics=metrics, evaluation=evaluation, evaluation_set=which, head=head,
                        seconds=metrics["seconds"], input=choice, unreadable=unreadable, warnings=warnings)


# --- input size and board fit -------------------------------------------------------------------

def choose_detection_input(paths: list[Path], stride: int, input_size: tuple[int, int] | None,
                           color: str | None) -> InputChoice:
    """The model input: the options, else the dataset's most common size (at most MAX_DEFAULT_SIDE on the
    longer side, aspect kept) rounded to a multiple of `stride`, and its colour (grey when every sampled
    image is grey)."""
    survey = None if input_size is not None and color is not None else survey_images(paths)
    measured = survey is not None and survey.size is not None
    parts = []
    if input_size is not None:
        (h, w), size_from = input_size, "option"
        parts.append("--input-size")
    elif not measured:
        h = w = MAX_DEFAULT_SIDE
        size_from = "data"
        parts.append(f"no readable image to measure; {h}x{w}")
    else:
        h0, w0 = survey.size
        scale = min(1.0, MAX_DEFAULT_SIDE / max(h0, w0))
        minimum = MIN_GRID_CELLS * stride
        h, w = (max(minimum, int(round(side * scale / stride)) * stride) for side in (h0, w0))
        size_from = "data" if scale == 1.0 and (h, w) == (h0, w0) else "data-capped"
        if size_from == "data":
            parts.append("the dataset's own size")
        else:
            parts.append(f"the dataset's {h0}x{w0} images at most {MAX_DEFAULT_SIDE} on a side, in whole "
                         f"{stride} px cells; --input-size to choose")
    if color is not None:
        colour, color_from = color, "option"
        parts.append("--color")
    else:
        colour, color_from = ("grayscale" if measured and survey.grey else "rgb"), "data"
        parts.append(f"the dataset's images are {'grey' if colour == 'grayscale' else 'colour'}")
    return InputChoice(h, w, colour, "; ".join(parts), size_from, color_from, survey)


def require_detector_fit(spec: FomoSpec, est: ModelEstimate, board: Board) -> BoardFit:
    """The fit check; raises BoardFitError with the numbers and what would fit (a smaller input or alpha)."""
    fit = check_fit(est, board)
    if fit.fits:
        return fit
    raise BoardFitError("; ".join(fit_problems(est, board)), hint=suggest_detector(spec, board))


def suggest_detector(spec: FomoSpec, board: Board) -> str:
    """'try --input-size 64x64 or --alpha 0.25' for a FOMO model that fits `board` with room to spare."""
    def fits(s: FomoSpec) -> bool:
        return fits_budget(estimate_model(s.build()), board)

    options = []
    for alpha in ALPHA_STEPS:
        if alpha < spec.alpha and fits(replace(spec, alpha=alpha)):
            options.append(f"--alpha {alpha:g}")
            break
    step, minimum = spec.stride, MIN_GRID_CELLS * spec.stride
    aspect = spec.width / spec.height
    h = spec.height - step
    while h >= minimum:
        w = max(minimum, int(round(h * aspect / step)) * step)
        if fits(spec.at_size(h, w)):
            options.insert(0, f"--input-size {h}x{w}")
            break
        h -= step
    if not options:
        return f"nothing close to {spec.option_text()} fits {board.name}; choose a board with more memory"
    return "try " + " or ".join(options)


# --- data ---------------------------------------------------------------------------------------

def _load(parts: DetectionParts, images: list, prep: Preprocessing, stride: int) -> LoadedDetection:
    """Pixels (kept as uint8: exact, pixel_scale 1) and grids of `images`; undecodable images left out."""
    subset = DetectionDataset(root=parts.dataset.root, format=parts.dataset.format, classes=parts.classes,
                              images=images, report=parts.dataset.report)
    loaded = load_detection(subset, prep, stride=stride, strict=False)
    loaded.x = loaded.x.astype(np.uint8)
    return loaded


def cell_weights(y: np.ndarray, object_weight: float) -> np.ndarray:
    """Per-cell loss weights: `object_weight` where a centroid is, 1 elsewhere."""
    return np.where(np.asarray(y) > 0, np.float32(object_weight), np.float32(1.0)).astype(np.float32)


def weighted_cell_loss(probs: np.ndarray, y: np.ndarray, object_weight: float) -> float:
    """The training loss of grids: mean over cells of weight x cross-entropy (Keras's clipping at 1e-7)."""
    p = np.take_along_axis(np.asarray(probs, np.float64), np.asarray(y)[..., None].astype(np.int64), axis=-1)[..., 0]
    ce = -np.log(np.clip(p, 1e-7, 1.0))
    return float(np.mean(cell_weights(y, object_weight) * ce)) if ce.size else 0.0


# --- fitting ------------------------------------------------------------------------------------

def predict_grids(model, x: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Per-cell probabilities (N, grid_h, grid_w, K + 1) of raw-pixel images (eager calls: no tracing)."""
    parts = [np.asarray(model(x[i:i + batch_size].astype(np.float32), training=False))
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, *model.output_shape[1:]), np.float32)


def _dataset(cfg: DetectConfig, x: np.ndarray, y: np.ndarray):
    """Shuffled batches of (pixels, grid, cell weights), each image flipped left-right half the time (its
    grid and weights with it); with --augment also brightness x0.75-1.25 and contrast x0.8-1.25."""
    import tensorflow as tf

    w = cell_weights(y, cfg.object_weight)
    seed = cfg.seed

    def flip(img, grid, weights):
        mirrored = tf.random.uniform((), seed=seed) < 0.5
        img = tf.cond(mirrored, lambda: img[:, ::-1, :], lambda: img)
        grid = tf.cond(mirrored, lambda: grid[:, ::-1], lambda: grid)
        weights = tf.cond(mirrored, lambda: weights[:, ::-1], lambda: weights)
        return img, grid, weights

    def jitter(img, grid, weights):
        img = tf.cast(img, tf.float32)
        mean = tf.reduce_mean(img)
        img = (img - mean) * tf.random.uniform((), 0.8, 1.25, seed=seed + 1) + mean
        img = tf.clip_by_value(img * tf.random.uniform((), 0.75, 1.25, seed=seed + 2), 0.0, 255.0)
        return img, grid, weights

    ds = tf.data.Dataset.from_tensor_slices((x, y, w)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(flip, num_parallel_calls=tf.data.AUTOTUNE)
    if cfg.augment:
        ds = ds.map(jitter, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(cfg.batch_size).prefetch(tf.data.AUTOTUNE)


def _fit(model, cfg: DetectConfig, train_set: LoadedDetection, eval_set: LoadedDetection, prefix: str,
         classes: list[str], verbose: int) -> tuple[dict[str, list[float]], int, bool]:
    import keras

    steps = -(-len(train_set.x) // cfg.batch_size) * cfg.epochs
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, steps, alpha=LR_FLOOR)
    model.compile(optimizer=make_optimizer(cfg.optimizer, schedule), loss="sparse_categorical_crossentropy")
    bn_x = bn_sample(train_set.x, cfg.seed)
    recalibrate_batchnorm(model, bn_x)          # start from the data's statistics, not mean 0 / variance 1
    scorer = _EpochScores(model, bn_x, eval_set, prefix, classes, cfg)
    callbacks = [scorer.callback()]
    stopper = None
    if cfg.patience > 0:
        stopper = keras.callbacks.EarlyStopping(monitor=f"{prefix}f1", mode="max", patience=cfg.patience,
                                                restore_best_weights=True)
        callbacks.append(stopper)
    h = model.fit(_dataset(cfg, train_set.x, train_set.y), epochs=cfg.epochs, callbacks=callbacks,
                  shuffle=False, verbose=verbose)      # the dataset shuffles itself, every epoch
    history = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    recalibrate_batchnorm(model, bn_x)          # the saved weights' own statistics
    if stopper is not None and stopper.best_weights is not None:
        return history, int(stopper.best_epoch) + 1, stopper.stopped_epoch > 0
    return history, len(history["loss"]), False


class _EpochScores:
    """After every epoch: batch-norm statistics measured on training images, then the evaluation images'
    loss and centroid metrics added to the epoch's logs (so history, progress and early stopping see them)."""

    def __init__(self, model, bn_x: np.ndarray, eval_set: LoadedDetection, prefix: str, classes: list[str],
                 cfg: DetectConfig) -> None:
        self.model, self.bn_x, self.eval_set, self.prefix = model, bn_x, eval_set, prefix
        self.classes, self.cfg = classes, cfg

    def callback(self):
        import keras

        scores = self

        class _Scores(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                if logs is not None:
                    logs.update(scores.scores())

        return _Scores()

    def scores(self) -> dict[str, float]:
        recalibrate_batchnorm(self.model, self.bn_x)
        s = self.eval_set
        probs = predict_grids(self.model, s.x)
        if self.cfg.threshold is None:
            m = best_threshold(probs, s.y, self.classes, s.counts)
        else:
            m = grid_metrics(probs, s.y, self.classes, s.counts, self.cfg.threshold)
        p = self.prefix
        return {f"{p}loss": weighted_cell_loss(probs, s.y, self.cfg.object_weight), f"{p}f1": m.f1,
                f"{p}precision": m.precision, f"{p}recall": m.recall, f"{p}count_mae": m.count_mae,
                f"{p}count_mape": float("nan") if m.count_mape is None else m.count_mape,
                f"{p}threshold": m.threshold}


def _final_metrics(m: DetectionMetrics, prefix: str, cfg: DetectConfig, has_val: bool) -> dict[str, Any]:
    out = {f"{prefix}{k}": v for k, v in m.to_dict().items() if k not in ("per_class", "threshold")}
    out[f"{prefix}per_class"] = {name: asdict(c) for name, c in m.per_class.items()}
    out["threshold"] = m.threshold
    out["threshold_from"] = ("--threshold" if cfg.threshold is not None else
                             f"the best F1 on the {'validation' if has_val else 'training'} images")
    return out


def _warnings(m: DetectionMetrics, has_val: bool) -> list[str]:
    which = "validation" if has_val else "training"
    if m.tp == 0:
        return [f"the detector found none of the {m.fn} objects of the {which} images (F1 0): it learned "
                "nothing; try more epochs (--epochs), more images, or --object-weight 10"]
    return []


# --- outputs ------------------------------------------------------------------------------------

def draw_predictions(loaded: LoadedDetection, probs: np.ndarray, parts: DetectionParts, head: DetectionHead,
                     prep: Preprocessing, path: Path, title: str = "", panels: int = PREDICTION_PANELS) -> None:
    """predictions.png: the first `panels` images with their true centroids and the detections at the head's
    threshold (found / missed, matched / false)."""
    by_path = {im.path: im for im in parts.train + parts.validation}
    truths, dets = [], []
    n = min(panels, len(loaded.x))
    gh, gw = head.grid_height, head.grid_width
    for i in range(n):
        im = by_path[loaded.paths[i]]
        found = decode_grid(probs[i], head.threshold)
        match = match_centroids(found, truth_centroids(loaded.y[i]), head.match_radius)
        matched_cells = {(t.row, t.col) for _, t in match.pairs}
        matched_dets = {(d.row, d.col) for d, _ in match.pairs}
        cells = centroid_cells(im.boxes, (im.height, im.width), (gh, gw))
        sx, sy = prep.width / im.width, prep.height / im.height
        truths.append([(b.centroid[0] * sx, b.centroid[1] * sy, b.class_index, cell in matched_cells)
                       for b, cell in zip(im.boxes, cells, strict=True)])
        dets.append([((d.col + 0.5) * head.stride, (d.row + 0.5) * head.stride, d.class_index,
                      (d.row, d.col) in matched_dets) for d in found])
    plot_detections(loaded.x[:n], truths, dets, head.classes, path, head.stride, title=title)


def _write_history(history: dict[str, list[float]], path: Path) -> None:
    first = ["loss", "val_loss", "val_f1", "val_precision", "val_recall", "val_count_mae", "val_count_mape",
             "val_threshold"]
    keys = [k for k in first if k in history] + sorted(k for k in history if k not in first)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *keys])
        for i in range(len(history["loss"])):
            w.writerow([i + 1, *(f"{history[k][i]:.6g}" for k in keys)])
