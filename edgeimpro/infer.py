"""Inference on a desktop or a Raspberry Pi: frames in, top-k labels with timings out. Never prints.

    session = InferenceSession("model.tflite")            # LiteRT, the model card's preprocessing
    for frame, pred in session.run(open_source(["photos/"]), top_k=3):
        print(pred.best.label, pred.best.score, pred.invoke_ms, pred.fps)

Runtime: `runtime="auto"` takes LiteRT (ai-edge-litert), else tflite-runtime, else TensorFlow's tf.lite;
`"tflite-micro"` (the exact TFLM reference, slow) only when asked for. No TensorFlow import on the way
unless it is the runtime chosen.

Preprocessing is the model card's (`model.json` beside the model, DESIGN.md §2). A model without a card
(e.g. an MLPerf Tiny .tflite) gets its input size and colour from the input tensor, (1, H, W, 3) -> rgb,
(1, H, W, 1) -> grayscale, and its pixel scaling from the input quantization: the float range the int8
input can represent, [(-128 - zp) * scale, (127 - zp) * scale], names the convention the model was
trained with (within 2% of the range plus one quantization step):

| input float range | example scale, zero point | pixel scaling |
|---|---|---|
| 0 .. 1 | 1/255, -128 (MLPerf VWW) | pixel / 255 |
| 0 .. 255 | 1.0, -128 (MLPerf ResNet-8) | raw pixel 0..255 |
| -1 .. 1 | 2/255, 0 or 1/128, 0 | pixel / 127.5 - 1 |

Any other range is refused with a hint to write a model card. `size` and `color` given for such a model
must agree with the input tensor.

Per frame, `preprocess_ms` is frame -> input tensor (decode and resize for files), `invoke_ms` the
runtime call (set input, invoke, read output), `latency_ms` both plus the top-k; `fps` is measured over the
last `fps_window` frames, wall clock (so it includes capture or decoding).

Frames already at the model's size (a camera asked for it, a video at that size) skip Pillow: the
quantization is applied with a 256-entry table made by running the one preprocessing definition itself
on every pixel value, checked element-wise at start, so the result is identical (a test asserts it).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from edgeimpro.errors import DataError, DependencyError, ModelError, UsageError
from edgeimpro.graph.loader import read_model_bytes
from edgeimpro.modelcard import ModelCard, class_names_for, find_card
from edgeimpro.preprocess import IMAGE_SUFFIXES, Preprocessing
from edgeimpro.references import Reference, TensorInfo, get_reference
from edgeimpro.sources import Frame, Source

log = logging.getLogger(__name__)

RUNTIMES = ("litert", "tflite-runtime", "tensorflow", "tflite-micro")
AUTO_ORDER = ("litert", "tflite-runtime", "tensorflow")        # tflite-micro only on request
_REFERENCE_KIND = {"litert": "litert", "tflite-runtime": "tflite-runtime", "tensorflow": "tensorflow",
                   "tflite-micro": "tflm"}
NO_RUNTIME_HINT = ("pip install ai-edge-litert  (on a Raspberry Pi: pip install 'edgeimpro[pi]'); "
                   "tflite-runtime (numpy<2) or tensorflow-cpu also work")
DEFAULT_TOP_K = 3
FPS_WINDOW = 30
SMALL_OUTPUT = 64               # up to this many classes, top-k in plain Python (faster than numpy)
RANGE_TOLERANCE = 0.02          # of the float range, for recognising a pixel convention

# (float range of the model input, pixel_scale, pixel_offset, description)
PIXEL_CONVENTIONS: tuple[tuple[tuple[float, float], float, float, str], ...] = (
    ((0.0, 1.0), 1.0 / 255.0, 0.0, "pixel / 255"),
    ((0.0, 255.0), 1.0, 0.0, "raw pixel 0..255"),
    ((-1.0, 1.0), 1.0 / 127.5, -1.0, "pixel / 127.5 - 1"),
)


# ---------------------------------------------------------------------------------------------- records


class ClassScore(NamedTuple):       # a tuple: built for every class of every frame, so cheap
    index: int
    label: str
    score: float


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

    @property
    def best(self) -> ClassScore:
        return self.top[0]

    @property
    def correct(self) -> bool | None:
        return None if self.label is None else self.top[0].label == self.label

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index, "name": self.name, "label": self.label,
            "top": [{"index": c.index, "label": c.label, "score": round(c.score, 6)} for c in self.top],
            "preprocess_ms": round(self.preprocess_ms, 4), "invoke_ms": round(self.invoke_ms, 4),
            "latency_ms": round(self.latency_ms, 4),
            "fps": None if self.fps is None else round(self.fps, 2),
        }
        if self.label is not None:
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

    def add(self, p: Prediction, now: float) -> None:
        if self.started is None:
            self.started = now - p.latency_ms / 1e3
        self.finished = now
        self.frames += 1
        self.preprocess_ms += p.preprocess_ms
        self.invoke_ms += p.invoke_ms
        self.latency_ms += p.latency_ms
        if p.label is not None:
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
                "labelled": self.labelled, "accuracy": self.accuracy}


# ---------------------------------------------------------------------------------------------- runtime


def open_runtime(model: bytes | Path | str, runtime: str = "auto", threads: int | None = None
                 ) -> tuple[str, Reference]:
    """(runtime name, runtime) for `model`. "auto": LiteRT, then tflite-runtime, then TensorFlow; when none
    is installed, one DependencyError naming what to install."""
    if runtime != "auto" and runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}", hint="use one of: auto, " + ", ".join(RUNTIMES))
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    candidates = AUTO_ORDER if runtime == "auto" else (runtime,)
    missing: list[str] = []
    for name in candidates:
        options: dict[str, Any] = {}
        if name == "tflite-micro":
            if threads not in (None, 1):
                raise UsageError(f"tflite-micro runs on one thread; --threads {threads} does not apply",
                                 hint="drop --threads, or use --runtime litert")
        else:
            options["num_threads"] = threads
        try:
            return name, get_reference(_REFERENCE_KIND[name], model, **options)
        except DependencyError as e:
            if runtime != "auto":
                raise
            log.debug("runtime %s unavailable: %s", name, e.message)
            missing.append(name)
    raise DependencyError(f"no TFLite runtime is installed (tried {', '.join(missing)})", hint=NO_RUNTIME_HINT)


# ---------------------------------------------------------------------------------------------- preprocessing


def _check_image_input(info: TensorInfo) -> tuple[int, int, int]:
    shape = tuple(info.shape)
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3):
        raise ModelError(f"model input '{info.name}' has shape {list(shape)}; infer feeds images "
                         "(1, H, W, 3) or (1, H, W, 1)",
                         hint="this looks like a non-image model: run raw tensors with `edgeimpro run`")
    if info.dtype not in ("int8", "float32"):
        raise ModelError(f"model input '{info.name}' is {info.dtype}; infer runs full-int8 (or float32) models",
                         hint="convert with full-integer int8 input: edgeimpro convert MODEL.keras")
    if info.dtype == "int8" and (info.scale is None or info.zero_point is None):
        raise ModelError(f"model input '{info.name}' is int8 without one scale and zero point")
    return shape[1], shape[2], shape[3]


def preprocessing_from_input(info: TensorInfo, size: tuple[int, int] | None = None,
                             color: str | None = None) -> tuple[Preprocessing, str]:
    """Preprocessing for a model without a card, from its input tensor (rule in the module docstring).
    Returns it with a one-line description of where each part came from."""
    h, w, c = _check_image_input(info)
    model_color = "rgb" if c == 3 else "grayscale"
    if size is not None and tuple(size) != (h, w):
        raise UsageError(f"--size {size[0]}x{size[1]} does not match the model input {h}x{w}",
                         hint=f"use --size {h}x{w} (or leave it out: it is read from the model)")
    if color is not None and color != model_color:
        raise UsageError(f"--color {color} does not match the model input ({c} channel(s): {model_color})",
                         hint=f"use --color {model_color} (or leave it out)")
    if info.dtype != "int8":
        raise UsageError(f"model input is {info.dtype} and there is no model.json beside the model: "
                         "its pixel scaling is unknown",
                         hint="convert it to int8 with `edgeimpro convert` (writes model.json), "
                              "or put its model.json beside it")
    s, z = float(info.scale), int(info.zero_point)
    lo, hi = (-128 - z) * s, (127 - z) * s
    for (a, b), pixel_scale, offset, what in PIXEL_CONVENTIONS:
        tol = RANGE_TOLERANCE * (b - a) + s
        if abs(lo - a) <= tol and abs(hi - b) <= tol:
            prep = Preprocessing(h, w, model_color, pixel_scale, offset, s, z)
            given = "given" if size is not None or color is not None else "from the input tensor"
            return prep, (f"no model card: {h}x{w} {model_color} {given}; {what} "
                          f"(input scale {s:.6g}, zero point {z}: range {lo:.4g}..{hi:.4g})")
    raise UsageError(f"no model card, and the input quantization (scale {s:.6g}, zero point {z}) spans "
                     f"{lo:.4g}..{hi:.4g}, which is none of the pixel ranges 0..1, 0..255, -1..1",
                     hint="write a model.json beside the model (`edgeimpro convert` does) that states "
                          "pixel_scale and pixel_offset")


def preprocessing_from_card(card: ModelCard, info: TensorInfo, size: tuple[int, int] | None = None,
                            color: str | None = None) -> Preprocessing:
    """The card's preprocessing, checked against the model input; the input's quantization is the truth."""
    h, w, c = _check_image_input(info)
    prep = card.preprocessing
    if prep.shape != (h, w, c):
        raise ModelError(f"model.json says the input is {prep.height}x{prep.width} {prep.color}, the model "
                         f"input is {h}x{w} with {c} channel(s)",
                         hint="model.json belongs to another model: re-run `edgeimpro convert`")
    if size is not None and tuple(size) != (h, w):
        raise UsageError(f"--size {size[0]}x{size[1]} does not match the model card ({h}x{w})",
                         hint="leave --size out: the model card gives it")
    if color is not None and color != prep.color:
        raise UsageError(f"--color {color} does not match the model card ({prep.color})",
                         hint="leave --color out: the model card gives it")
    if info.dtype == "int8":
        s, z = float(info.scale), int(info.zero_point)
        if prep.input_scale is not None and (not math.isclose(prep.input_scale, s, rel_tol=1e-6)
                                             or prep.input_zero_point != z):
            raise ModelError(f"model.json has input quantization (scale {prep.input_scale:.6g}, zero point "
                             f"{prep.input_zero_point}); the model input has (scale {s:.6g}, zero point {z})",
                             hint="model.json is stale: re-run `edgeimpro convert`")
        prep = prep.with_quantization(s, z)
    return prep


def card_for_model(model_path: Path, data: bytes) -> ModelCard | None:
    """The card beside the model when it describes this model; None when there is none or it names another
    .tflite file. A card naming this file with another hash is stale: an error, not a guess."""
    card = find_card(model_path)
    if card is None or card.tflite_sha256 is None:
        return card
    if card.tflite_sha256 == hashlib.sha256(data).hexdigest():
        return card
    if card.tflite_file not in (None, model_path.name):
        log.info("model.json beside %s describes %s: not used", model_path, card.tflite_file)
        return None
    raise ModelError(f"model.json beside {model_path} was written for another version of it (sha256 differs)",
                     hint="re-run `edgeimpro convert` to rewrite both, or move the stale model.json away")


class FramePreparer:
    """Frame -> model input, through the one preprocessing. Reuses one input buffer; frames already at
    the model's size and colour skip Pillow and use a table of the definition's own per-pixel results."""

    def __init__(self, prep: Preprocessing, dtype: str, shape: tuple[int, ...]) -> None:
        self.prep = prep
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self._convert = prep.to_int8 if self.dtype == np.int8 else prep.to_float
        self.buffer = np.empty(self.shape, self.dtype)
        self._view = self.buffer.reshape(prep.shape)
        h, w, c = prep.shape
        # frames of these shapes (uint8) skip Pillow; for a grey model also (H, W), written to channel 0
        self._outputs = {(h, w, c): self._view}
        if c == 1:
            self._outputs[(h, w)] = self._view[:, :, 0]
        self.table = tabulate(prep, self._convert)
        # the common case (input = pixel - 128): a bitwise xor on the uint8 frame, no table at all
        self._xor = self.table is not None and self.dtype == np.int8 and np.array_equal(
            self.table.astype(np.int16), np.arange(256, dtype=np.int16) - 128)
        if self._xor:
            self._outputs = {k: v.view(np.uint8) for k, v in self._outputs.items()}
        if self.table is None:
            self._outputs = {}
        self._cv2: Any = None if self.table is None or self._xor else _optional_cv2()   # cv2.LUT: fastest table

    @property
    def fast_path(self) -> str:
        if self.table is None:
            return "none (the preprocessing is not per-pixel)"
        return "xor 0x80" if self._xor else ("cv2.LUT" if self._cv2 is not None else "numpy table")

    def __call__(self, frame: Frame) -> np.ndarray:
        """The model input for `frame` (the shared buffer: valid until the next call)."""
        img = frame.image
        if img is not None:
            out = self._outputs.get(img.shape)
            if out is None or img.dtype != np.uint8:
                self._view[...] = self._convert(img)
            elif self._xor:
                np.bitwise_xor(img, 0x80, out=out)
            elif self._cv2 is not None:
                self._cv2.LUT(img, self.table, dst=out)
            else:
                np.take(self.table, img, out=out)
        elif frame.path is not None:
            self._view[...] = self._convert(frame.path)
        elif frame.tensor is not None:
            t = frame.tensor
            if t.dtype != self.dtype or t.size != self.buffer.size or t.shape[-1] != self.prep.channels:
                raise DataError(f"{frame.name}: tensor {t.dtype} {list(t.shape)} does not fit the model input "
                                f"{self.dtype} {list(self.shape)}",
                                hint="tensors in a .npy are used as they are: save them with the model "
                                     "input's dtype and shape")
            self.buffer.reshape(-1)[...] = t.reshape(-1)
        else:
            raise UsageError(f"frame {frame.name} has no image, path or tensor")
        return self.buffer


def _optional_cv2() -> Any:
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def tabulate(prep: Preprocessing, convert: Any) -> np.ndarray | None:
    """The model-input value of every pixel value 0..255, by running `convert` (the preprocessing itself)
    on model-sized images that hold them; None if the result is not a function of the pixel value alone."""
    h, w, c = prep.shape
    n = h * w * c
    table = None
    for start in range(0, 256, n):
        values = np.arange(start, min(start + n, 256), dtype=np.uint8)
        img = np.resize(values, n).reshape(h, w, c)
        out = np.asarray(convert(img)).reshape(-1)
        if table is None:
            table = np.empty(256, out.dtype)
        table[values] = out[: len(values)]
        if not np.array_equal(out, table[img.reshape(-1)]):
            return None
    return table


# ---------------------------------------------------------------------------------------------- session


class InferenceSession:
    """A model, its runtime and its preprocessing; `predict(frame)` per frame, `run(source)` for a stream."""

    def __init__(self, model: Path | str, *, runtime: str = "auto", threads: int | None = None,
                 size: tuple[int, int] | None = None, color: str | None = None,
                 class_names: list[str] | None = None, fps_window: int = FPS_WINDOW) -> None:
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
        self.classes = int(np.prod(self.output.shape[1:]))
        self.labels, self.labels_origin = class_names_for(self.model_path, self.card, self.classes, class_names)
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

    def describe(self) -> dict[str, Any]:
        p = self.preprocessing
        return {"model": str(self.model_path), "runtime": self.runtime_name, "threads": self.threads,
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
        top = self._top(out, top_k)
        t3 = clock()
        ticks = self._ticks
        ticks.append(t3)
        fps = (len(ticks) - 1) / (t3 - ticks[0]) if len(ticks) > 1 and t3 > ticks[0] else None
        pred = Prediction(frame.index, frame.name, top, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t0) * 1e3,
                          fps, frame.label)
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

    def display_image(self, frame: Frame) -> np.ndarray:
        """RGB uint8 picture of a frame; a raw tensor is mapped back to pixels through the preprocessing."""
        if frame.tensor is None:
            return frame.rgb()
        return self.preprocessing.to_rgb(frame.tensor)

    def annotate(self, frame: Frame, pred: Prediction, min_width: int = 320) -> np.ndarray:
        """The frame with its top-k, latency and FPS drawn on it (RGB uint8); small frames are enlarged."""
        return annotate_image(self.display_image(frame), pred, min_width)


def _as_frame(frame: Frame | np.ndarray | Path | str) -> Frame:
    if isinstance(frame, Frame):
        return frame
    if isinstance(frame, (str, Path)):
        return Frame(index=0, name=Path(frame).name, path=Path(frame))
    return Frame(index=0, name="array", image=np.asarray(frame))


# ---------------------------------------------------------------------------------------------- drawing


def annotate_image(rgb: np.ndarray, pred: Prediction, min_width: int = 320) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(rgb)
    if img.width < min_width:
        f = math.ceil(min_width / img.width)
        img = img.resize((img.width * f, img.height * f), Image.Resampling.NEAREST)
    size = max(11, img.width // 28)
    try:
        font: Any = ImageFont.load_default(size=size)
    except (TypeError, OSError):     # Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
    lines = [f"{c.label} {c.score:.2f}" for c in pred.top]
    timing = f"pre {pred.preprocess_ms:.2f} ms  invoke {pred.invoke_ms:.2f} ms"
    if pred.fps is not None:
        timing += f"  {pred.fps:.1f} fps"
    lines.append(timing)
    if pred.label is not None:
        lines.append(f"truth {pred.label}")
    draw = ImageDraw.Draw(img, "RGBA")
    pad, step = size // 3 + 2, size + size // 4
    width = max(draw.textlength(t, font=font) for t in lines)
    draw.rectangle((0, 0, width + 2 * pad, step * len(lines) + 2 * pad), fill=(0, 0, 0, 160))
    for i, text in enumerate(lines):
        colour = (255, 255, 0) if i == 0 else (255, 255, 255)
        draw.text((pad, pad + i * step), text, fill=colour, font=font)
    return np.asarray(img.convert("RGB"))


def annotated_name(pred: Prediction) -> str:
    """File name of an annotated frame: index and the frame's name made safe for a file system."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in pred.name).strip("_")
    stem = safe.rsplit(".", 1)[0] if safe.lower().endswith(IMAGE_SUFFIXES) else safe
    return f"{pred.index:06d}_{stem}.png"


def save_annotated(directory: Path | str, pred: Prediction, image: np.ndarray) -> Path:
    from PIL import Image

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / annotated_name(pred)
    Image.fromarray(image).save(path)
    return path
