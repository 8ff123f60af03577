"""Train an image classifier on a folder of class subfolders and write a complete run folder.

    RUN_DIR/model.keras   the inference model (static batch 1, raw 0..255 pixels in, no augmentation)
    RUN_DIR/labels.txt    one class name per line, in output order
    RUN_DIR/model.json    the model card: labels, preprocessing, options, data, metrics, estimate
    RUN_DIR/history.csv   loss and accuracy per epoch, training and validation
    RUN_DIR/curves.png    learning curves
    RUN_DIR/confusion.png validation confusion matrix

The run folder is written atomically: an interrupted or failed run leaves no RUN_DIR behind.
The held-out split is reproducible from the card: `split_items(scan_image_folder(data_dir).items,
val_split, seed)` with the recorded `data_dir`, `val_split` and `seed`.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.atomic import atomic_dir, check_target
from edgeimpro.boards.registry import Board
from edgeimpro.datasets.folder import ImageFolder, load_images, scan_image_folder, split_items
from edgeimpro.errors import DataError, UsageError
from edgeimpro.graph.analysis import BoardFit
from edgeimpro.modelcard import ModelCard
from edgeimpro.preprocess import COLOR_MODES, Preprocessing
from edgeimpro.training.architectures import ARCHITECTURES, ModelSpec
from edgeimpro.training.batchnorm import (
    batchnorm_layers,
    bn_sample,
    recalibrate_batchnorm,
    recalibration_callback,
)
from edgeimpro.training.boardfit import check_fit, require_fit
from edgeimpro.training.collapse import CollapseCheck, check_collapse, collapse_warning
from edgeimpro.training.datashape import InputChoice, choose_input
from edgeimpro.training.detect_data import has_detection_annotations
from edgeimpro.training.estimate import ModelEstimate, estimate_model
from edgeimpro.training.plots import plot_confusion, plot_curves

OPTIMIZERS: dict[str, float] = {   # name -> default learning rate
    "sgd": 0.01, "adam": 1e-3, "rmsprop": 1e-3, "adagrad": 0.01, "adadelta": 1.0,
}
LOAD_CHUNK = 512            # images decoded at a time (float32), kept as uint8
EAGER_PREDICT_MAX = 1000    # up to this many images, eager calls beat tracing model.predict (measured)
RUN_FILES = ("model.keras", "labels.txt", "model.json", "history.csv", "curves.png", "confusion.png")



def check_fit_options(o: Any) -> None:
    """The options every training task shares (colour mode, optimizer, epochs, batch size, patience,
    learning rate, validation split), refused with the fix; `o` is a classifier's or a detector's options."""
    if o.color is not None and o.color not in COLOR_MODES:
        raise UsageError(f"unknown colour mode {o.color!r}", hint="use rgb or grayscale")
    if o.optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {o.optimizer!r}", hint="choose one of " + ", ".join(OPTIMIZERS))
    for name, value in (("--epochs", o.epochs), ("--batch-size", o.batch_size)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if o.patience < 0:
        raise UsageError(f"--patience must be 0 (off) or more, got {o.patience}")
    if o.lr is not None and not o.lr > 0:
        raise UsageError(f"--lr must be positive, got {o.lr}")
    if not 0.0 <= o.val_split < 1.0:
        raise UsageError(f"--val-split must be in [0, 1), got {o.val_split}", hint="e.g. --val-split 0.2")

@dataclass
class TrainConfig:
    arch: str = "seed-cnn"
    # None: the dataset's own size and colour (datashape.choose_input), capped to fit `board` when given.
    input_size: tuple[int, int] | None = None     # (height, width)
    color: str | None = None                      # "rgb" or "grayscale"
    epochs: int = 20
    batch_size: int = 16
    optimizer: str = "adam"
    lr: float | None = None                   # None: the optimizer's default (OPTIMIZERS)
    patience: int = 5                         # early stopping on validation loss; 0 = off
    val_split: float = 0.2
    augment: bool = False                     # random flip / rotation / zoom while training only
    seed: int = 0
    alpha: float | None = None                # mobilenet / mobilenetv2 width
    weights: str | None = None                # mobilenetv2: "imagenet", a file, or None

    def validate(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise UsageError(f"unknown architecture {self.arch!r}", hint="choose one of " + ", ".join(ARCHITECTURES))
        check_fit_options(self)

    @property
    def learning_rate(self) -> float:
        return OPTIMIZERS[self.optimizer] if self.lr is None else float(self.lr)

    def preprocessing(self) -> Preprocessing:
        # Rescaling is inside every model: raw pixels in.
        h, w = self._resolved_size()
        return Preprocessing(height=h, width=w, color=self.color or "rgb", pixel_scale=1.0, pixel_offset=0.0)

    def spec(self, num_classes: int) -> ModelSpec:
        h, w = self._resolved_size()
        return ModelSpec(self.arch, h, w, 1 if self.color == "grayscale" else 3, num_classes,
                         alpha=self.alpha, weights=self.weights)

    def with_input(self, choice: InputChoice) -> TrainConfig:
        """This configuration with the input size and colour decided (from the options or the data)."""
        return replace(self, input_size=choice.size, color=choice.color)

    def _resolved_size(self) -> tuple[int, int]:
        if self.input_size is None:
            raise UsageError("the input size is not decided yet", hint="train() decides it from the data")
        return self.input_size

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = f"{self.input_size[0]}x{self.input_size[1]}" if self.input_size else None
        d["learning_rate"] = self.learning_rate
        return d


@dataclass
class DataSummary:
    """The dataset as scanned, before decoding."""
    root: Path
    classes: list[str]
    counts: dict[str, int]
    train_files: int
    val_files: int
    ignored: list[Path]            # non-image files in class folders


@dataclass
class EstimateReport:
    spec: ModelSpec
    estimate: ModelEstimate
    fit: BoardFit | None           # None without --board


@dataclass
class LoadSummary:
    train_images: int
    val_images: int
    unreadable: list[tuple[Path, str]]   # (path, reason)


@dataclass
class TrainResult:
    run_dir: Path
    card: ModelCard
    history: dict[str, list[float]]
    estimate: ModelEstimate
    fit: BoardFit | None
    unreadable: list[tuple[Path, str]]
    confusion: np.ndarray
    confusion_set: str             # "validation" or "training" (no validation split)
    metrics: dict[str, Any]
    seconds: float
    input: InputChoice
    collapse: CollapseCheck
    warnings: list[str] = field(default_factory=list)     # for the end of the run: e.g. a collapsed model
    files: list[str] = field(default_factory=lambda: list(RUN_FILES))


Event = Callable[[str, Any], None]


def train(data_dir: Path | str, run_dir: Path | str, config: TrainConfig | None = None, *,
          board: Board | None = None, force: bool = False, verbose: int = 0,
          on_event: Event | None = None) -> TrainResult:
    """Train `config.arch` on DATA_DIR's class subfolders and write RUN_DIR (see the module doc).

    `on_event(name, payload)` is called before training with "data" (DataSummary), "input" (InputChoice:
    the input size and colour and why), "estimate" (EstimateReport) and "loaded" (LoadSummary); `verbose`
    is Keras's fit verbosity (2: a line per epoch). The result's `warnings` say when the model learned
    nothing (at chance, or one class for nearly every image); the card records the check either way.
    Raises BoardFitError right after the "estimate" event, before loading any image, when `board` cannot
    hold the model.
    """
    import keras

    cfg = config or TrainConfig()
    cfg.validate()
    emit = on_event or (lambda name, payload: None)
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    check_target(run_dir, force, what="run folder")
    t0 = time.monotonic()

    folder = _scan_classes(data_dir)
    train_items, val_items = split_items(folder.items, cfg.val_split, cfg.seed)
    emit("data", DataSummary(folder.root, folder.classes, folder.counts(), len(train_items), len(val_items),
                             folder.ignored))

    choice = choose_input([p for p, _ in folder.items],
                          ModelSpec(cfg.arch, 1, 1, 3, len(folder.classes), alpha=cfg.alpha, weights=cfg.weights),
                          input_size=cfg.input_size, color=cfg.color, board=board)
    cfg = cfg.with_input(choice)
    emit("input", choice)
    spec = cfg.spec(len(folder.classes))
    keras.utils.set_random_seed(cfg.seed)
    model = spec.build(batch_size=1)
    estimate = estimate_model(model)
    fit = check_fit(estimate, board) if board is not None else None
    emit("estimate", EstimateReport(spec, estimate, fit))      # shown before a refusal, too
    if board is not None:
        require_fit(spec, estimate, board)

    prep = cfg.preprocessing()
    x_train, y_train, bad_train = _load(train_items, prep)
    x_val, y_val, bad_val = _load(val_items, prep)
    unreadable = bad_train + bad_val
    emit("loaded", LoadSummary(len(y_train), len(y_val), unreadable))
    _check_loaded(folder.classes, y_train, len(folder.items), unreadable)

    has_val = len(y_val) > 0
    history, best_epoch, early_stopped = _fit(model, spec, cfg, x_train, y_train,
                                              (x_val, y_val) if has_val else None, verbose)
    eval_x, eval_y = (x_val, y_val) if has_val else (x_train, y_train)
    metrics, confusion, eval_pred = _evaluate(model, spec, cfg, eval_x, eval_y, folder.classes)
    collapse = check_collapse(eval_y, eval_pred, folder.classes, "validation" if has_val else "training")
    warnings = [collapse_warning(collapse, f"{spec.option_text()} on {data_dir.name}")] if collapse.collapsed else []
    metrics.update(best_epoch=best_epoch, epochs_run=len(history["loss"]), early_stopped=early_stopped)
    if not has_val:
        metrics = {k.replace("val_", "train_") if k.startswith("val_") else k: v for k, v in metrics.items()}
    metrics["seconds"] = round(time.monotonic() - t0, 2)

    card = ModelCard(labels=list(folder.classes), preprocessing=prep, training={
        "arch": cfg.arch,
        "alpha": spec.alpha,
        "weights": spec.weights,
        "options": cfg.to_dict(),
        "output": {"activation": spec.output, "units": 1 if spec.output == "sigmoid" else len(folder.classes)},
        "data_dir": str(data_dir.resolve()),
        "val_split": cfg.val_split,
        "seed": cfg.seed,
        "images": {"train": int(len(y_train)), "validation": int(len(y_val)), "files_per_class": folder.counts(),
                   "unreadable": [str(p) for p, _ in unreadable]},
        "input": choice.to_dict(),
        "metrics": metrics,
        "collapse": collapse.to_dict(),
        "estimate": estimate.to_dict(),
        "board": fit.to_dict() if fit else None,
    })
    confusion_set = "validation" if has_val else "training"
    accuracy = metrics["val_accuracy"] if has_val else metrics["train_accuracy"]
    with atomic_dir(run_dir, force=force, what="run folder") as tmp:
        model.save(tmp / "model.keras")
        (tmp / "labels.txt").write_text("".join(f"{c}\n" for c in folder.classes))
        _write_history(history, tmp / "history.csv")
        plot_curves(history, tmp / "curves.png", title=f"{cfg.arch} on {data_dir.resolve().name}")
        plot_confusion(confusion, folder.classes, tmp / "confusion.png",
                       title=f"{confusion_set} set ({len(eval_y)} images), accuracy {accuracy:.3f}")
        card.save(tmp / "model.json")
    return TrainResult(run_dir=run_dir.absolute(), card=card, history=history, estimate=estimate, fit=fit,
                       unreadable=unreadable, confusion=confusion, confusion_set=confusion_set,
                       metrics=metrics, seconds=metrics["seconds"], input=choice, collapse=collapse,
                       warnings=warnings)


# --- steps ---------------------------------------------------------------------------------------

def _scan_classes(data_dir: Path) -> ImageFolder:
    """The class subfolders; a folder of detection annotations is named as such, with the option it needs."""
    try:
        return scan_image_folder(data_dir)
    except DataError as e:
        if has_detection_annotations(data_dir):
            raise DataError(f"{data_dir} holds object boxes (a detection dataset), not class subfolders",
                            hint=f"train a detector on it: edgeimpro train {data_dir} --task detect --arch fomo "
                                 "-o RUN_DIR") from e
        raise


def _load(items: Sequence[tuple[Path, int]], prep: Preprocessing
          ) -> tuple[np.ndarray, np.ndarray, list[tuple[Path, str]]]:
    """Decode through the one preprocessing; keep uint8 (exact: pixel_scale 1, offset 0) to save memory."""
    xs, ys, bad = [], [], []
    for start in range(0, len(items), LOAD_CHUNK):
        chunk = load_images(items[start:start + LOAD_CHUNK], prep)
        xs.append(chunk.x.astype(np.uint8))
        ys.append(chunk.y)
        bad += chunk.unreadable
    x = np.concatenate(xs) if xs else np.zeros((0, *prep.shape), np.uint8)
    y = np.concatenate(ys) if ys else np.zeros((0,), np.int64)
    return x, y, bad


def _check_loaded(classes: list[str], y_train: np.ndarray, total: int, unreadable: list) -> None:
    if total and len(unreadable) == total:
        raise DataError(f"all {total} images are unreadable (first: {unreadable[0][0]})",
                        hint="check the files are jpg/png/bmp images; see the list above")
    counts = np.bincount(y_train, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts, strict=True) if n == 0]
    if empty:
        raise DataError(f"class {', '.join(empty)} has no readable training image",
                        hint="every class folder needs readable images; see the unreadable files above")


def make_optimizer(name: str, lr):
    """A Keras optimizer by name; `lr` is a float or a learning-rate schedule."""
    import keras

    make = {
        "sgd": lambda: keras.optimizers.SGD(lr, momentum=0.9),
        "adam": lambda: keras.optimizers.Adam(lr),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr),
        "adagrad": lambda: keras.optimizers.Adagrad(lr),
        "adadelta": lambda: keras.optimizers.Adadelta(lr),
    }
    return make[name]()


def _with_augmentation(model, seed: int):
    """A training twin: random flip/rotation/zoom, then the shared inference model (same weights)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    x = layers.RandomFlip("horizontal", seed=seed, name="random_flip")(inputs)
    x = layers.RandomRotation(0.05, seed=seed + 1, name="random_rotation")(x)
    x = layers.RandomZoom(0.1, seed=seed + 2, name="random_zoom")(x)
    return keras.Model(inputs, model(x), name=f"{model.name}_augmented")


def _targets(spec: ModelSpec, y: np.ndarray) -> np.ndarray:
    return y.astype(np.float32).reshape(-1, 1) if spec.output == "sigmoid" else y


def _fit(model, spec: ModelSpec, cfg: TrainConfig, x, y, val, verbose: int
         ) -> tuple[dict[str, list[float]], int, bool]:
    import keras

    # The saved model never contains augmentation: it trains inside a twin sharing its layers.
    trainer = _with_augmentation(model, cfg.seed) if cfg.augment else model
    loss = "binary_crossentropy" if spec.output == "sigmoid" else "sparse_categorical_crossentropy"
    trainer.compile(optimizer=make_optimizer(cfg.optimizer, cfg.learning_rate), loss=loss, metrics=["accuracy"])
    bn_x = bn_sample(x, cfg.seed)
    recalibrate_batchnorm(model, bn_x)          # start from the data's statistics, not mean 0 / variance 1
    callbacks = [recalibration_callback(model, bn_x)] if val and batchnorm_layers(model) else []
    stopper = None
    if cfg.patience > 0:
        stopper = keras.callbacks.EarlyStopping(monitor="val_loss" if val else "loss", patience=cfg.patience,
                                                restore_best_weights=True)
        callbacks.append(stopper)
    validation = (val[0], _targets(spec, val[1])) if val else None
    h = trainer.fit(x, _targets(spec, y), batch_size=cfg.batch_size, epochs=cfg.epochs,
                    validation_data=validation, callbacks=callbacks, shuffle=True, verbose=verbose)
    history = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    epochs_run = len(history["loss"])
    recalibrate_batchnorm(model, bn_x)          # the saved weights' own statistics
    if stopper is not None and stopper.best_weights is not None:
        return history, int(stopper.best_epoch) + 1, stopper.stopped_epoch > 0
    return history, epochs_run, False


def predict_classes(model, x: np.ndarray, output: str, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(class index, scores) for a batch of raw-pixel images; `output` is the card's output activation."""
    if len(x) > EAGER_PREDICT_MAX:
        scores = model.predict(x, batch_size=batch_size, verbose=0)
    else:   # eager calls skip tf.function tracing, which costs seconds for a deep model
        parts = [np.asarray(model(x[i:i + batch_size].astype(np.float32), training=False))
                 for i in range(0, len(x), batch_size)]
        scores = np.concatenate(parts) if parts else np.zeros((0, model.output_shape[-1]), np.float32)
    if output == "sigmoid":
        return (scores[:, 0] > 0.5).astype(np.int64), scores
    return np.argmax(scores, axis=1).astype(np.int64), scores


def _evaluate(model, spec: ModelSpec, cfg: TrainConfig, x, y, classes: list[str]
              ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Accuracy and cross-entropy (without weight regularization) of the saved weights, the confusion
    matrix and the predicted classes, on the validation set (the training set when there is no validation
    split)."""
    pred, scores = predict_classes(model, x, spec.output, batch_size=cfg.batch_size)
    n = len(classes)
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (y, pred), 1)
    eps = 1e-7
    if spec.output == "sigmoid":
        p = np.clip(scores[:, 0].astype(np.float64), eps, 1 - eps)
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    else:
        loss = -np.mean(np.log(np.clip(scores[np.arange(len(y)), y].astype(np.float64), eps, 1.0)))
    per_class = {c: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum() else None)
                 for i, c in enumerate(classes)}
    return {"val_accuracy": float(np.mean(pred == y)), "val_loss": float(loss),
            "val_per_class_accuracy": per_class}, confusion, pred


def _write_history(history: dict[str, list[float]], path: Path) -> None:
    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in history]
    keys += sorted(k for k in history if k not in keys)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", *keys])
        for i in range(len(history["loss"])):
            w.writerow([i + 1, *(f"{history[k][i]:.6g}" for k in keys)])
