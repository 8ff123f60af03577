"""`edgeimpro train DATA_DIR -o RUN_DIR`: train a compact CNN on a folder of class subfolders, or with
`--task detect --arch fomo` a centroid detector on a detection dataset (COCO, YOLO or VOC boxes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeimpro.cli import import_tensorflow_quietly

# Kept equal to edgeimpro.training (not imported here so `--help` does not load TensorFlow).
ARCHS = ("seed-cnn", "mobilenet", "dscnn", "resnet8", "mobilenetv2")
DETECT_ARCHS = ("fomo",)
OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad", "adadelta")
TASKS = ("classify", "detect")
STRIDES = (8, 4)
# --task detect's own defaults, used where the option is not given (kept equal to edgeimpro.training.detect)
DETECT_DEFAULTS = {"arch": "fomo", "epochs": 40, "batch_size": 32, "patience": 10}
DETECT_OBJECT_WEIGHT = 5.0
MAX_LISTED = 20


class _Given(argparse.Action):
    """Store the value and remember the option was given: --task detect has defaults of its own."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        namespace.given = {*getattr(namespace, "given", ()), self.dest}


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR",
                        help="folder with one subfolder of images per class (jpg, png, bmp; any size); with "
                             "--task detect, images with COCO, YOLO or Pascal VOC boxes")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="RUN_DIR",
                        help="run folder to write: model.keras, labels.txt, model.json, history.csv, plots")
    parser.add_argument("--task", choices=TASKS, default="classify",
                        help="classify (one label per image) or detect (find and count objects: a FOMO-style "
                             "grid of centroids); default classify")
    parser.add_argument("--arch", choices=ARCHS + DETECT_ARCHS, default="seed-cnn", action=_Given,
                        help="seed-cnn (the workshop CNN), mobilenet (V1), dscnn, resnet8 (MLPerf Tiny IC), "
                             "mobilenetv2 (transfer learning); default seed-cnn. --task detect: fomo (the default "
                             "there; MobileNetV2-style, cut at --stride)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="width multiplier of mobilenet (default 0.25), mobilenetv2 and fomo (default 0.35)")
    parser.add_argument("--weights", default="none", metavar="imagenet|none|PATH",
                        help="mobilenetv2 base weights: imagenet (from Keras's cache, never downloaded), "
                             "none (train from scratch), or a weights file; given weights freeze the base")
    parser.add_argument("--input-size", default=None, metavar="HxW",
                        help="model input size (default: the dataset's most common image size, at most 96 on a "
                             "side, raised to the architecture's minimum; with --board, the largest that fits)")
    parser.add_argument("--color", choices=("rgb", "grayscale"), default=None,
                        help="default: grayscale when the dataset's images are grey, else rgb")
    parser.add_argument("--epochs", type=int, default=20, action=_Given,
                        help="maximum epochs (default 20; --task detect: 40, the learning rate decaying over them)")
    parser.add_argument("--batch-size", type=int, default=16, action=_Given, help="default 16 (--task detect: 32)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                        help="default adam (sgd uses momentum 0.9)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: sgd 0.01, adam 0.001, rmsprop 0.001, adagrad 0.01, "
                             "adadelta 1.0)")
    parser.add_argument("--patience", type=int, default=5, action=_Given,
                        help="stop after this many epochs without a better validation loss (--task detect: F1) "
                             "and restore the best weights; 0 = train all epochs (default 5; --task detect: 10)")
    parser.add_argument("--val-split", type=float, default=0.2,
                        help="validation fraction per class (default 0.2); --task detect: of the images, unless "
                             "the dataset has its own valid/ split")
    parser.add_argument("--augment", action="store_true",
                        help="random flip, rotation and zoom while training (not part of the saved model); "
                             "--task detect: brightness and contrast jitter (left-right flips always)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, initial weights and shuffling")
    parser.add_argument("--board", default=None, metavar="NAME",
                        help="refuse a model whose int8 estimate cannot fit this board (e.g. stm32f405)")
    detect = parser.add_argument_group("detection (--task detect)")
    detect.add_argument("--stride", type=int, choices=STRIDES, default=None,
                        help="input pixels per output cell: 8 (FOMO's grid, default) or 4 (finer, 4x the cells)")
    detect.add_argument("--object-weight", type=float, default=None, metavar="W",
                        help=f"loss weight of a cell holding a centroid against a background cell (default "
                             f"{DETECT_OBJECT_WEIGHT:g}; Edge Impulse's FOMO uses 100)")
    detect.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="class probability that makes a cell a detection (default: the best F1 on the "
                             "validation images, recorded in model.json)")
    parser.add_argument("--force", action="store_true", help="replace RUN_DIR if it exists and is not empty")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress")


def run(args: argparse.Namespace) -> int:
    _check_task_options(args)
    import_tensorflow_quietly()
    if args.task == "detect":
        return _run_detect(args)
    from edgeimpro.boards.registry import get_board
    from edgeimpro.preprocess import parse_size
    from edgeimpro.training import TrainConfig, train

    board = get_board(args.board) if args.board else None
    config = TrainConfig(
        arch=args.arch, input_size=parse_size(args.input_size) if args.input_size else None, color=args.color,
        epochs=args.epochs,
        batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr, patience=args.patience,
        val_split=args.val_split, augment=args.augment, seed=args.seed, alpha=args.alpha,
        weights=None if args.weights == "none" else args.weights,
    )
    result = train(args.data_dir, args.output, config, board=board, force=args.force,
                   verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),  # a live bar on a terminal
                   on_event=_print_event)
    _print_summary(result)
    for warning in result.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    return 0


def _check_task_options(args: argparse.Namespace) -> None:
    """Options of one task given to the other: refused before anything loads, naming the fix."""
    from edgeimpro.errors import UsageError

    given = getattr(args, "given", set())
    if args.task == "classify":
        if args.arch in DETECT_ARCHS:
            raise UsageError(f"--arch {args.arch} is a detector, not a classifier",
                             hint=f"add --task detect (edgeimpro train DATA --task detect --arch {args.arch} -o RUN)")
        detect_only = [name for name, value in (("--stride", args.stride), ("--object-weight", args.object_weight),
                                                ("--threshold", args.threshold)) if value is not None]
        if detect_only:
            raise UsageError(f"{', '.join(detect_only)} applies to --task detect only",
                             hint="add --task detect to train a detector, or drop the option")
        return
    if "arch" in given and args.arch not in DETECT_ARCHS:
        raise UsageError(f"--arch {args.arch} is a classifier; --task detect trains a centroid detector",
                         hint=f"use --arch {' or '.join(DETECT_ARCHS)} (the default with --task detect), or drop "
                              "--task detect to train a classifier")
    if args.weights != "none":
        raise UsageError("--weights applies to mobilenetv2 classifiers; fomo trains from scratch",
                         hint="drop --weights")


def _run_detect(args: argparse.Namespace) -> int:
    from edgeimpro.boards.registry import get_board
    from edgeimpro.preprocess import parse_size
    from edgeimpro.training.detect import DetectConfig, train_detector

    given = getattr(args, "given", set())

    def option(name: str):
        return getattr(args, name) if name in given else DETECT_DEFAULTS[name]

    board = get_board(args.board) if args.board else None
    config = DetectConfig(
        arch=option("arch"), input_size=parse_size(args.input_size) if args.input_size else None, color=args.color,
        alpha=args.alpha, stride=args.stride or 8, epochs=option("epochs"), batch_size=option("batch_size"),
        optimizer=args.optimizer, lr=args.lr, patience=option("patience"), val_split=args.val_split,
        augment=args.augment, seed=args.seed,
        object_weight=DETECT_OBJECT_WEIGHT if args.object_weight is None else args.object_weight,
        threshold=args.threshold,
    )
    result = train_detector(args.data_dir, args.output, config, board=board, force=args.force,
                            verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),
                            on_event=_print_detect_event)
    _print_detect_summary(result)
    for warning in result.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    return 0


def _print_summary_rows(rows: list[tuple[str, str]], result) -> None:   # noqa: ANN001
    """A run's summary table (the task's rows, then estimate, time and files) and the next command."""
    from edgeimpro.units import size_text

    rows = [*rows, ("int8 estimate", f"flash ~{size_text(result.estimate.flash_bytes)}, "
                                     f"AOT arena ~{size_text(result.estimate.planned_ram_bytes)}"),
            ("time", f"{result.seconds:.1f} s"), ("files", " ".join(result.files))]
    width = max(len(k) for k, _ in rows)
    print()
    print("summary")
    for k, v in rows:
        print(f"  {k:{width}}  {v}")
    print(f"next: edgeimpro convert {result.run_dir / 'model.keras'}")


def _print_loaded(payload) -> None:   # noqa: ANN001
    """The images that could not be read (skipped, the first MAX_LISTED named) and the split, as
    classification and detection print them; file names go through `printable` (no terminal control)."""
    from edgeimpro.escape import printable

    if payload.unreadable:
        print(f"unreadable images: {len(payload.unreadable)} (skipped; training continues with the rest)")
        for path, reason in payload.unreadable[:MAX_LISTED]:
            print(printable(f"  {path}: {reason}"))
        if len(payload.unreadable) > MAX_LISTED:
            print(f"  ... and {len(payload.unreadable) - MAX_LISTED} more (all listed in model.json)")
    print(f"training on {payload.train_images} images, validating on {payload.val_images}")


def _print_estimate(est, fit) -> None:   # noqa: ANN001
    """The int8 size estimate and the board fit, as classification and detection print them."""
    from edgeimpro.units import size_text

    print(f"int8     flash ~{size_text(est.flash_bytes)} of model data (+ runtime code)\n"
          f"         AOT arena ~{size_text(est.planned_ram_bytes)} (layers streamed over their inputs, convs fused "
          f"with their pools; {size_text(est.peak_ram_bytes)} if every layer held its whole input and output, "
          f"peak at {est.peak_layer}; {size_text(est.total_activation_bytes)} if no buffer were reused)")
    if fit is not None:
        print(f"board    {fit.board} {'fits' if fit.fits else 'does NOT fit'}: flash "
              f"{size_text(fit.flash_needed)} of {size_text(fit.flash_available)} "
              f"({fit.flash_needed / fit.flash_available:.0%}), RAM ~{size_text(fit.ram_needed)} of "
              f"{size_text(fit.ram_available)} ({fit.ram_needed / fit.ram_available:.0%}, with runtime; margin "
              f"{'' if fit.ram_margin >= 0 else '-'}{size_text(abs(fit.ram_margin))})")


def _print_detect_event(name: str, payload) -> None:
    from edgeimpro.escape import printable

    if name == "data":
        boxes = ", ".join(f"{c} {n:,}" for c, n in payload.boxes.items())
        print(printable(f"data     {payload.root.resolve()}: {payload.format}, {len(payload.classes)} "
                        f"class{'es' if len(payload.classes) != 1 else ''}, "
                        f"{payload.train_images + payload.val_images} images, boxes: {boxes}"))
        print(f"split    train {payload.train_images}, validation {payload.val_images} ({payload.validation})")
        if payload.warnings:
            print(printable(f"warnings {len(payload.warnings)} in the annotations, first: {payload.warnings[0]} "
                            "(edgeimpro datasets check lists them)"))
    elif name == "input":
        print(f"input    {payload.height}x{payload.width} {payload.color} ({payload.reason})")
    elif name == "estimate":
        spec, est, fit = payload.spec, payload.estimate, payload.fit
        gh, gw = spec.grid
        print(f"model    {spec.option_text()}, input {spec.height}x{spec.width}, grid {gh}x{gw} of "
              f"{spec.output_channels} channels (background + {spec.num_classes}): {est.params:,} params, "
              f"{est.macs / 1e6:.2f} M MACs")
        _print_estimate(est, fit)
    elif name == "loaded":
        _print_loaded(payload)
    sys.stdout.flush()


def _print_detect_summary(result) -> None:

    m, e, t = result.metrics, result.evaluation, result.card.training
    stop = (f"early stopped, best epoch {m['best_epoch']} restored" if m["early_stopped"]
            else f"best epoch {m['best_epoch']}")
    mape = "n/a (no objects)" if e.count_mape is None else f"{e.count_mape:.1%}"
    rows = [
        ("run", str(result.run_dir)),
        ("model", f"{t['arch']} alpha {t['alpha']:g}, stride {t['stride']}, grid {result.head.grid_height}x"
                  f"{result.head.grid_width}, {result.estimate.params:,} params"),
        ("classes", ", ".join(result.card.labels)),
        ("images", f"train {t['images']['train']}, validation {t['images']['validation']}, "
                   f"unreadable {len(result.unreadable)}"),
        ("epochs", f"{m['epochs_run']} run ({stop})"),
        ("threshold", f"{result.head.threshold:g} ({m['threshold_from']})"),
        (f"{result.evaluation_set} F1", f"{e.f1:.3f} (precision {e.precision:.3f}, recall {e.recall:.3f}; "
                                        f"{e.tp} found, {e.fp} false, {e.fn} missed)"),
        ("count MAE", f"{e.count_mae:.2f} per image (MAPE {mape}, exact {e.count_exact:.0%} of images)"),
    ]
    _print_summary_rows(rows, result)


def _print_event(name: str, payload) -> None:

    if name == "data":
        counts = ", ".join(f"{c} {n}" for c, n in payload.counts.items())
        print(f"data     {payload.root.resolve()}: {len(payload.classes)} classes, "
              f"{sum(payload.counts.values())} images ({counts})")
        print(f"split    train {payload.train_files}, validation {payload.val_files}")
        if payload.ignored:
            print(f"ignored  {len(payload.ignored)} non-image files, first: {payload.ignored[0]}")
    elif name == "input":
        print(f"input    {payload.height}x{payload.width} {payload.color} ({payload.reason})")
    elif name == "estimate":
        spec, est, fit = payload.spec, payload.estimate, payload.fit
        colour = "rgb" if spec.channels == 3 else "grayscale"
        print(f"model    {spec.option_text()}, input {spec.height}x{spec.width} {colour}, "
              f"{spec.num_classes} classes ({spec.output}): {est.params:,} params, {est.macs / 1e6:.2f} M MACs")
        _print_estimate(est, fit)
    elif name == "loaded":
        _print_loaded(payload)
    sys.stdout.flush()


def _print_summary(result) -> None:

    m = result.metrics
    t = result.card.training
    which = "val" if "val_accuracy" in m else "train"
    stop = (f"early stopped, best epoch {m['best_epoch']} restored" if m["early_stopped"]
            else f"best epoch {m['best_epoch']}")
    rows = [
        ("run", str(result.run_dir)),
        ("model", f"{t['arch']}" + (f" alpha {t['alpha']:g}" if t["alpha"] is not None else "")
         + f", {result.estimate.params:,} params"),
        ("labels", ", ".join(result.card.labels)),
        ("images", f"train {t['images']['train']}, validation {t['images']['validation']}, "
                   f"unreadable {len(result.unreadable)}"),
        ("epochs", f"{m['epochs_run']} run ({stop})"),
        (f"{which} accuracy", f"{m[f'{which}_accuracy']:.3f}"),
        (f"{which} loss", f"{m[f'{which}_loss']:.4f}"),
    ]
    _print_summary_rows(rows, result)
