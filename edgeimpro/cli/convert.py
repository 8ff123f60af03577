"""`edgeimpro convert MODEL.keras -o model.tflite`: full-int8 TFLite, accuracy delta (a detector: F1 and count
error, float vs int8), worst layers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeimpro.cli import import_tensorflow_quietly

DEFAULT_SAMPLES = 200   # kept equal to edgeimpro.quantize.DEFAULT_SAMPLES (not imported: --help stays fast)


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL.keras", help="Keras model written by `edgeimpro train`")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output .tflite (or a folder for FOLDER/model.tflite); default: beside the model. "
                             "model.json is written beside it")
    parser.add_argument("--calibration", type=Path, default=None, metavar="DATA_DIR",
                        help="image folder (class subfolders; a detector: a detection dataset) for calibration and "
                             "the held-out accuracy; default: the training data recorded in model.json")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, metavar="N",
                        help=f"calibration images (default {DEFAULT_SAMPLES})")
    parser.add_argument("--eval-samples", type=int, default=None, metavar="N",
                        help="cap the held-out images evaluated (default: all of the held-out split)")
    parser.add_argument("--eval-data", type=Path, default=None, metavar="DIR",
                        help="a detector only: measure float vs int8 on this held-out detection set (e.g. a test "
                             "split) instead of the validation part of the training data")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from edgeimpro.quantize import convert_model

    def progress(msg: str) -> None:
        print(f"  {msg}", file=sys.stderr, flush=True)

    result = convert_model(args.model, args.output, calibration_dir=args.calibration, samples=args.samples,
                           eval_samples=args.eval_samples, progress=None if args.json else progress,
                           eval_data=args.eval_data)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        _print_warnings(result.warnings)
        return 0
    if getattr(result, "task", "classify") == "detect":
        _print_detector(result)
        _print_warnings(result.warnings)
        return 0
    c = result.card.conversion
    acc = result.accuracy
    print(f"wrote {result.tflite_path} ({result.size_bytes:,} bytes, sha256 {result.card.tflite_sha256[:16]}...)")
    print(f"wrote {result.card_path}")
    q = result.card.quantization
    print(f"input  {q['input']['shape']} int8  scale {q['input']['scale']:.6g} zero point {q['input']['zero_point']}")
    print(f"output {q['output']['shape']} int8  scale {q['output']['scale']:.6g} zero point {q['output']['zero_point']}")
    print(f"calibrated on {result.calibration_samples} images from {c['calibration']['data_dir']}")
    if acc.samples:
        which = ("evaluation (seen in training: no validation split)" if result.data.seen_in_training
                 else "held-out")
        print(f"{which} images: {acc.samples} (validation split {c['evaluation']['val_fraction']:g}, "
              f"seed {c['evaluation']['seed']}); int8 run in {acc.runtime}")
        print(f"  accuracy  float {acc.float_accuracy:6.1%}   int8 {acc.int8_accuracy:6.1%}   "
              f"delta {acc.int8_accuracy - acc.float_accuracy:+.1%}")
        print(f"  top-1 agreement {acc.agreement:6.1%} ({acc.disagreements} of {acc.samples} differ)")
    else:
        print("no held-out images: accuracy not measured")
    _print_layers(result)
    if not result.worst_layers:
        print("per-layer quantization error unavailable (the warning above says why)")
    _print_warnings(result.warnings)
    return 0


def _print_detector(result) -> None:
    from edgeimpro.escape import printable

    c, head = result.comparison, result.head
    q = result.card.quantization
    print(f"wrote {result.tflite_path} ({result.size_bytes:,} bytes, sha256 {result.card.tflite_sha256[:16]}...)")
    print(f"wrote {result.card_path}")
    print(f"input  {q['input']['shape']} int8  scale {q['input']['scale']:.6g} zero point {q['input']['zero_point']}")
    print(f"output {q['output']['shape']} int8  scale {q['output']['scale']:.6g} zero point "
          f"{q['output']['zero_point']}  (grid {head.grid_height}x{head.grid_width}, stride {head.stride}: "
          f"background + {', '.join(head.classes)})")
    print(printable(f"calibrated on {result.calibration_samples} images from {result.data['calibration']['data_dir']}"))
    if not c.samples:
        print("no evaluation images: detection not measured")
    else:
        print(printable(f"evaluation images: {c.samples} ({c.images}); int8 run in {c.runtime}; "
                        f"threshold {c.threshold:g}"))
        print(f"         {'F1':>6} {'precision':>9} {'recall':>6} {'count MAE':>9} {'MAPE':>6}")
        for name, m in (("float", c.float_metrics), ("int8", c.int8_metrics)):
            mape = "n/a" if m.count_mape is None else f"{m.count_mape:.1%}"
            print(f"  {name:<6} {m.f1:6.3f} {m.precision:9.3f} {m.recall:6.3f} {m.count_mae:9.2f} {mape:>6}")
        print(f"  int8 - float: F1 {c.f1_delta * 100:+.1f} points, count MAE "
              f"{c.int8_metrics.count_mae - c.float_metrics.count_mae:+.2f}; "
              f"grid cells decoded alike {c.cell_agreement:.2%}")
    _print_layers(result)


def _print_layers(result) -> None:   # noqa: ANN001
    """Unreadable images and the layers of largest quantization error, for classifiers and detectors alike."""
    if result.unreadable:
        print(f"{len(result.unreadable)} unreadable images skipped, first: {result.unreadable[0][0]}")
    if result.worst_layers:
        print("largest quantization error (RMS error in output LSBs):")
        width = max(len(e.layer) for e in result.worst_layers)
        for e in result.worst_layers:
            print(f"  {e.layer:<{width}}  {e.op:<18} {e.rmse_over_scale:8.3f}   max |err| {e.max_abs_error:.4g}")


def _print_warnings(warnings: list[str]) -> None:
    sys.stdout.flush()
    for warning in warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
