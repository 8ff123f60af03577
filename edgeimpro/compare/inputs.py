"""Inputs for a comparison: frames with stable keys, turned into model inputs by the same code `infer` uses.

Keys identify an input across runs so that --resume neither loses nor repeats one: an image file is its
resolved path, a .npy sample is the file and the sample's index, a video frame the file and the frame's
number. The same input given twice gets a second key (`key~2`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.errors import DataError, ModelError, UsageError
from edgeimpro.graph.model import Graph
from edgeimpro.infer.lut import FramePreparer
from edgeimpro.infer.preprocessing import card_for_model, preprocessing_from_card, preprocessing_from_input
from edgeimpro.preprocess import Preprocessing
from edgeimpro.references import TensorInfo
from edgeimpro.sources import (
    CameraFrames,
    Chain,
    Frame,
    ImageFiles,
    NpyFrames,
    PiCameraFrames,
    Source,
    VideoFrames,
    load_npy,
    open_source,
)

log = logging.getLogger(__name__)

THUMB_SIZE = 112          # longest side of a gallery thumbnail, pixels


# ---------------------------------------------------------------------------------------------- sources


class TensorFile(Source):
    """A .npy of int8 model inputs of any shape, for models that do not take images (keyword spotting
    features, anomaly-detection vectors): (N, *input shape without batch) or one input."""

    def __init__(self, path: Path | str, sample_shape: tuple[int, ...]) -> None:
        self.path = Path(path)
        arr = load_npy(self.path)
        size = int(np.prod(sample_shape))
        if arr.dtype != np.int8:
            raise DataError(f"{self.path} holds {arr.dtype}; the model takes int8 inputs",
                            hint="quantize them with the model input's scale and zero point, then "
                                 "numpy.save(path, array.astype(numpy.int8))")
        if arr.size % size or (arr.ndim > 1 and int(np.prod(arr.shape[1:])) not in (size, arr.size)):
            raise DataError(f"{self.path} has shape {list(arr.shape)}; the model input is {list(sample_shape)}",
                            hint=f"save an array of shape (N, {', '.join(map(str, sample_shape))})")
        self.array = arr.reshape(-1, *sample_shape)
        self.description = f"{self.path.name}: {len(self.array)} tensor(s) of shape {list(sample_shape)}"

    def __iter__(self) -> Iterator[Frame]:
        for i, a in enumerate(self.array):
            yield Frame(index=i, name=f"{self.path.name}[{i}]", tensor=a)


def open_inputs(paths: Sequence[Path | str] = (), *, camera: int | None = None, picamera: bool = False,
                video: Path | str | None = None, image_model: bool = True,
                sample_shape: tuple[int, ...] = (), capture_size: tuple[int, int] | None = None) -> Source:
    """The frame source for the command line's inputs. Image models: exactly `infer`'s (sources.open_source);
    other models: .npy files of raw tensors only."""
    if image_model:
        return open_source(paths, camera=camera, picamera=picamera, video=video, capture_size=capture_size)
    if camera is not None or picamera or video is not None:
        raise UsageError("this model does not take images: cameras and videos cannot feed it",
                         hint=f"give .npy files of int8 inputs of shape (N, {', '.join(map(str, sample_shape))})")
    if not paths:
        raise UsageError("no input given", hint="give .npy files of int8 model inputs")
    sources: list[Source] = []
    for p in map(Path, paths):
        if p.suffix.lower() != ".npy":
            raise UsageError(f"{p}: this model does not take images, only raw tensors",
                             hint=f"give .npy files of int8 inputs of shape (N, {', '.join(map(str, sample_shape))})")
        sources.append(TensorFile(p, sample_shape))
    return sources[0] if len(sources) == 1 else Chain(sources)


def _leaves(source: Source) -> list[Source]:
    return [leaf for s in source.sources for leaf in _leaves(s)] if isinstance(source, Chain) else [source]


def _key(source: Source, frame: Frame) -> str:
    if frame.path is not None:
        return f"file:{frame.path.resolve()}"
    if isinstance(source, (NpyFrames, TensorFile)):
        return f"npy:{source.path.resolve()}[{frame.index}]"
    if isinstance(source, VideoFrames):
        return f"video:{source.path.resolve()}#{frame.index}"
    return f"{type(source).__name__}:{frame.name}"


def is_live(source: Source) -> bool:
    """A camera: frames are not the same on a second run, so a comparison of it cannot be resumed."""
    return any(isinstance(s, (CameraFrames, PiCameraFrames)) for s in _leaves(source))


def takes_tensors_only(source: Source) -> bool:
    """Every frame of `source` is a raw model input (.npy of int8/float32 tensors), none an image."""
    return all(isinstance(s, TensorFile) or isinstance(s, NpyFrames) and s.kind == "tensor" for s in _leaves(source))


def check_tensor_files(source: Source, input_shape: tuple[int, ...]) -> None:
    """Raw tensors go to the device as they are: refuse a .npy of another dtype or sample size now, before
    a board is opened, rather than at its first input."""
    size = int(np.prod(input_shape))
    for leaf in _leaves(source):
        if isinstance(leaf, NpyFrames) and leaf.kind == "tensor":
            arr = leaf.array
            if arr.dtype != np.int8 or int(np.prod(arr.shape[1:])) != size:
                raise DataError(f"{leaf.path} holds {arr.dtype} tensors of shape {list(arr.shape[1:])}; the "
                                f"device takes int8 {list(input_shape[1:])}",
                                hint="save int8 model inputs (quantized with the input's scale and zero point), "
                                     "or uint8 images to go through the preprocessing")


def keyed_frames(source: Source) -> Iterator[tuple[str, Frame]]:
    """(key, frame) in order; frame.index is the position in the whole stream."""
    seen: dict[str, int] = {}
    position = 0
    for leaf in _leaves(source):
        for frame in leaf:
            key = _key(leaf, frame)
            n = seen.get(key, 0) + 1
            seen[key] = n
            if n > 1:
                key = f"{key}~{n}"
            if frame.index != position:
                frame.index = position
            yield key, frame
            position += 1


def source_length(source: Source) -> int | None:
    """Number of frames when it is known without decoding them (None for cameras)."""
    total = 0
    for leaf in _leaves(source):
        if isinstance(leaf, ImageFiles):
            total += len(leaf.paths)
        elif isinstance(leaf, (NpyFrames, TensorFile)):
            total += len(leaf.array)
        elif isinstance(leaf, VideoFrames):
            n = _video_frames(leaf.path)
            if n is None:
                return None
            total += n
        else:
            return None
    return total


def _video_frames(path: Path) -> int | None:
    try:
        import cv2
    except ImportError:
        return None
    cap = cv2.VideoCapture(str(path))
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    return n if n > 0 else None


# ---------------------------------------------------------------------------------------------- preparing


def input_info(graph: Graph) -> TensorInfo:
    if len(graph.inputs) != 1:
        raise ModelError(f"model has {len(graph.inputs)} inputs; compare feeds one",
                         hint="compare models with a single input tensor")
    t = graph.input_tensors[0]
    q = t.quantization.scalar if t.quantization is not None and not t.quantization.per_channel else None
    if t.dtype != "int8" or q is None:
        raise ModelError(f"model input '{t.name}' is {t.dtype}; the device runs full-int8 models",
                         hint="convert it to full int8 first: edgeimpro convert MODEL.keras")
    return TensorInfo(t.index, t.name, t.shape, t.dtype, q[0], q[1])


class InputPreparer:
    """Frame -> int8 model input (for the device and the int8 references) and float input (for Keras).

    An image model's preprocessing is `infer`'s: the model card beside the .tflite, or for a model without
    one, what its input tensor implies. A model whose input is not an image takes raw tensors only."""

    def __init__(self, model_path: Path, data: bytes, graph: Graph) -> None:
        self.info = input_info(graph)
        self.shape = tuple(self.info.shape)
        self.card = card_for_model(Path(model_path), data)
        self.preprocessing: Preprocessing | None = None
        self.origin = ""
        self.image_error: str | None = None
        if self.card is not None:      # a card that disagrees with the model is an error, not a fallback
            self.preprocessing = preprocessing_from_card(self.card, self.info)
            self.origin = f"model card {Path(model_path).with_name('model.json')}"
        else:
            try:
                self.preprocessing, self.origin = preprocessing_from_input(self.info)
            except (ModelError, UsageError) as e:     # not an image input, or no known pixel range
                self.image_error = e.message
                self.origin = f"raw tensors only ({e.message})"
        # frames come from `infer`'s sources for image-shaped inputs (images or (N, H, W, C) .npy tensors)
        self.image_shaped = len(self.shape) == 4 and self.shape[-1] in (1, 3)
        self._frames = (FramePreparer(self.preprocessing, "int8", self.shape)
                        if self.preprocessing is not None else None)

    def __call__(self, frame: Frame) -> np.ndarray:
        """The int8 model input (with its batch dimension) for `frame`, a new array."""
        if self._frames is not None:
            return self._frames(frame).copy()
        if frame.tensor is None:
            raise UsageError(f"{frame.name}: images cannot be fed to this model: {self.image_error}",
                             hint="give .npy files of int8 model inputs, or put a model.json beside the model")
        t = np.asarray(frame.tensor)
        if t.dtype != np.int8 or t.size != int(np.prod(self.shape)):
            raise DataError(f"{frame.name}: tensor {t.dtype} {list(t.shape)} does not fit the model input "
                            f"int8 {list(self.shape)}")
        return t.reshape(self.shape).copy()

    def float_input(self, frame: Frame, x: np.ndarray) -> np.ndarray:
        """The float model input for a float (Keras) reference: the same preprocessing without the int8
        quantization for images; the int8 input `x` dequantized for raw tensors."""
        p = self.preprocessing
        if p is not None and frame.tensor is None:
            img = frame.image if frame.image is not None else frame.path
            return p.to_float(img).reshape(self.shape)
        return ((x.astype(np.float32) - np.float32(self.info.zero_point)) * np.float32(self.info.scale))

    def display(self, frame: Frame, x: np.ndarray) -> np.ndarray | None:
        """An RGB uint8 picture of the input for the report (None for a non-image input)."""
        if frame.image is not None or frame.path is not None:
            try:
                return frame.rgb()
            except DataError:
                return None
        return None if self.preprocessing is None else self.preprocessing.to_rgb(x)


def thumbnail_png(rgb: np.ndarray, size: int = THUMB_SIZE) -> bytes:
    """A PNG of the picture, its longest side `size` (small inputs enlarged without smoothing)."""
    import io

    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgb))
    f = size / max(img.size)
    new = (max(1, round(img.width * f)), max(1, round(img.height * f)))
    img = img.resize(new, Image.Resampling.NEAREST if f > 1 else Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- labels


@dataclass
class TruthLabels:
    """Ground truth from --labels FILE: by position in the input stream, or by input name."""
    by_position: list[str] | None = None
    by_name: dict[str, str] | None = None
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.by_position if self.by_position is not None else self.by_name or {})

    def get(self, position: int, frame: Frame) -> str | None:
        if self.by_position is not None:
            return self.by_position[position] if position < len(self.by_position) else None
        if self.by_name is not None:
            return self.by_name.get(frame.name) or (self.by_name.get(frame.path.name) if frame.path else None)
        return None


def read_truth_labels(path: Path | str, class_names: Sequence[str]) -> TruthLabels:
    """--labels FILE: a .npy of class indices in input order; or a text file with one label per line in
    input order, or `name,label` / `name<TAB>label` lines keyed by input name. A label is a class name or
    a class index."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"labels file not found: {path}")

    def name_of(token: Any) -> str:
        text = str(token).strip()
        if text in class_names:
            return text
        if text.lstrip("-").isdigit():
            k = int(text)
            if 0 <= k < len(class_names):
                return class_names[k]
            raise DataError(f"{path}: class index {k} is out of range (the model has {len(class_names)} classes)")
        raise DataError(f"{path}: label {text!r} is not one of the model's classes ({', '.join(class_names[:12])})",
                        hint="write class names as in model.json (or indices), or give --class-names FILE")

    if path.suffix.lower() == ".npy":
        arr = load_npy(path)
        if arr.dtype.kind not in "iu":
            raise DataError(f"{path} holds {arr.dtype}; labels in a .npy are integer class indices")
        return TruthLabels(by_position=[name_of(int(v)) for v in arr.reshape(-1)], path=path)
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    pairs = [ln.split("\t", 1) if "\t" in ln else ln.rsplit(",", 1) for ln in lines]
    if lines and all(len(p) == 2 for p in pairs):
        return TruthLabels(by_name={k.strip(): name_of(v) for k, v in pairs}, path=path)
    return TruthLabels(by_position=[name_of(ln) for ln in lines], path=path)
