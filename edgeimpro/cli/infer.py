"""`edgeimpro infer model.tflite [SOURCE...] [--camera N | --picamera | --video FILE] [--top-k K]
[--threads N] [--runtime litert|tflite-runtime|tflite-micro|tensorflow] [--json] [--save-annotated DIR]
[--show] [--size HxW] [--color rgb|grayscale] [--task classify|detect] [--threshold T] [--class-names FILE|a,b]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from edgeimpro.cli.sources import add_source_options
from edgeimpro.errors import DependencyError, UsageError
from edgeimpro.modelcard import read_class_names
from edgeimpro.preprocess import COLOR_MODES, DEFAULT_MAX_IMAGE_PIXELS, parse_size, set_max_image_pixels

if TYPE_CHECKING:
    from edgeimpro.infer import Prediction

RUNTIME_CHOICES = ("auto", "litert", "tflite-runtime", "tflite-micro", "tensorflow")
WINDOW = "edgeimpro infer"


def add_parser(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Classify images, a folder (class subfolders give the expected labels), .npy tensors, a video or a "
        "live camera with an int8 .tflite, without TensorFlow. Preprocessing comes from model.json beside the "
        "model; without one, size and colour come from the input tensor and the pixel scaling from its "
        "quantization (input range 0..1: pixel/255; 0..255: raw pixels; -1..1: pixel/127.5-1). A detector "
        "(model.json task detect, or --task detect for a FOMO-style model without one) prints per frame the "
        "count and the centroids (class, x, y in model-input pixels, score) and draws them.")
    p.add_argument("model", type=Path, help="an int8 .tflite (model.json beside it is used when present)")
    add_source_options(p)
    p.add_argument("--top-k", type=int, default=3, metavar="K", help="classes to report per frame (default 3)")
    p.add_argument("--threads", type=int, metavar="N", help="interpreter threads (default: the runtime's)")
    p.add_argument("--runtime", choices=RUNTIME_CHOICES, default="auto",
                   help="auto (default): litert, else tflite-runtime, else tensorflow; "
                        "tflite-micro is the exact (slow) TFLM reference")
    p.add_argument("--json", action="store_true", help="one JSON object per frame on stdout")
    p.add_argument("--save-annotated", type=Path, metavar="DIR", help="write each frame with its top-k drawn on it")
    p.add_argument("--show", action="store_true", help="show annotated frames in a window (q or Esc stops)")
    p.add_argument("--size", type=parse_size, metavar="HxW", help="input size, for a model without model.json")
    p.add_argument("--color", choices=COLOR_MODES, help="colour mode, for a model without model.json")
    p.add_argument("--class-names", metavar="FILE|a,b,...",
                   help="a file of one class name per line, in output order, or the names separated by commas "
                        "(default: model.json's labels, else labels.txt beside the model, else class indices; "
                        "a detector without model.json: class_1, class_2, ...)")
    p.add_argument("--task", choices=("classify", "detect"),
                   help="what the output means, for a model without model.json: classify (the default) or detect "
                        "(a FOMO-style grid (1, H, W, classes + 1), background in channel 0)")
    p.add_argument("--threshold", type=float, metavar="T",
                   help="a detector's decoding threshold (default: model.json's, else 0.5)")
    p.add_argument("--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS, metavar="N",
                   help="refuse image files with more pixels than this, a decompression-bomb guard "
                        "(default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from edgeimpro.infer import InferenceSession, save_annotated
    from edgeimpro.sources import open_source

    set_max_image_pixels(args.max_image_pixels)
    if args.top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {args.top_k}")
    session = InferenceSession(args.model, runtime=args.runtime, threads=args.threads, size=args.size,
                               color=args.color, class_names=class_names_arg(args.class_names), task=args.task,
                               threshold=args.threshold)
    p = session.preprocessing
    source = open_source(args.sources, camera=args.camera, picamera=args.picamera, video=args.video,
                         capture_size=(p.width, p.height))
    live = args.camera is not None or args.picamera or args.video is not None
    window = Window(wait_ms=1 if live else 0) if args.show else None
    info = sys.stderr if args.json else sys.stdout
    d = session.describe()
    threads = f", {d['threads']} threads" if d["threads"] else ""
    head = session.head
    what = (f"detector, {head.grid_height}x{head.grid_width} grid, threshold {head.threshold:g}, "
            if head is not None else "")
    print(f"model {d['model']}: {d['input']}, {what}{d['classes']} classes ({d['class_names']}), "
          f"runtime {d['runtime']}{threads}\n"
          f"preprocessing: {d['preprocessing']}\ninput: {source.description}", file=info, flush=True)
    saved = 0
    interrupted = False
    try:
        for frame, pred in session.run(source, args.top_k):
            if args.json:
                sys.stdout.write(json.dumps(pred.to_dict()) + "\n")
                sys.stdout.flush()
            else:
                print(format_prediction(pred), flush=True)
            if args.save_annotated is not None or window is not None:
                image = session.annotate(frame, pred)
                if args.save_annotated is not None:
                    save_annotated(args.save_annotated, pred, image)
                    saved += 1
                if window is not None and not window.show(image):
                    break
    except KeyboardInterrupt:       # the normal way to end a camera run: summarise, exit 0
        interrupted = True
    finally:
        source.close()
        if window is not None:
            window.close()
    print_summary(session.stats.to_dict(), session.runtime_name, saved, args.save_annotated, interrupted, info)
    return 0


def class_names_arg(value: str | None) -> list[str] | None:
    """--class-names: a file of names (one per line), else names separated by commas."""
    if not value:
        return None
    if Path(value).is_file() or "," not in value and Path(value).suffix == ".txt":
        return read_class_names(value)
    names = [n.strip() for n in value.split(",")]
    if not all(names):
        raise UsageError(f"--class-names {value!r} has an empty name", hint="write --class-names a,b,c")
    return names


def format_prediction(pred: Prediction) -> str:
    if pred.objects is not None:
        found = "  ".join(f"{o.label} ({o.x:.0f},{o.y:.0f}) {o.score:.2f}" for o in pred.objects)
        counts = " ".join(f"{k} {v}" for k, v in (pred.counts or {}).items()) if len(pred.counts or {}) > 1 else ""
        return (f"{pred.index:5d}  {pred.name:<24}  count {len(pred.objects):3d}{'  ' + counts if counts else ''}"
                f"  invoke {pred.invoke_ms:6.2f} ms  {found}")
    top = "  ".join(f"{c.label} {c.score:.3f}" for c in pred.top)
    fps = f"  {pred.fps:6.1f} fps" if pred.fps is not None else ""
    truth = ""
    if pred.label is not None:
        truth = f"  [{pred.label}: {'ok' if pred.correct else 'WRONG'}]"
    return (f"{pred.index:5d}  {pred.name:<24}  {top}  pre {pred.preprocess_ms:6.2f} ms  "
            f"invoke {pred.invoke_ms:6.2f} ms  latency {pred.latency_ms:6.2f} ms{fps}{truth}")


def print_summary(s: dict, runtime: str, saved: int, directory: Path | None, interrupted: bool,
                  out: TextIO) -> None:
    if s["frames"] == 0:
        print("no frames", file=out)
        return
    line = (f"{s['frames']} frames on {runtime}: preprocess {s['mean_preprocess_ms']:.3f} ms, invoke "
            f"{s['mean_invoke_ms']:.3f} ms, whole pipeline {s['mean_latency_ms']:.3f} ms per frame")
    if s["fps"] is not None:
        line += f", {s['fps']:.1f} fps"
    if s.get("objects") is not None:
        line += f"; {s['objects']} objects, {s['mean_count']:.2f} per frame"
    if s["accuracy"] is not None:
        line += f"; top-1 {100 * s['accuracy']:.1f}% of {s['labelled']} labelled frames"
    if interrupted:
        line += " (stopped)"
    print(line, file=out)
    if saved:
        print(f"{saved} annotated frames in {directory}", file=out)


class Window:
    """An OpenCV window for --show; refuses clearly when there is no display or no GUI support."""

    def __init__(self, wait_ms: int) -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise UsageError("--show needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set",
                             hint="use --save-annotated DIR, or run it on the desktop (or over ssh -X)")
        from edgeimpro.sources import import_cv2

        self.cv2 = cv2 = import_cv2()
        self.wait_ms = wait_ms
        try:                        # before the first frame: a headless OpenCV fails here
            cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE)
        except cv2.error:
            raise DependencyError(f"this OpenCV ({cv2.__version__}) is built without windows "
                                  "(opencv-python-headless)",
                                  hint="pip uninstall opencv-python-headless && pip install opencv-python; "
                                       "or use --save-annotated DIR") from None

    def show(self, rgb: Any) -> bool:
        """Show a frame; False when the user pressed q or Esc."""
        cv2 = self.cv2
        cv2.imshow(WINDOW, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(self.wait_ms) & 0xFF
        return key not in (ord("q"), 27)

    def close(self) -> None:
        try:
            self.cv2.destroyAllWindows()
        except self.cv2.error:
            pass
