"""Frame sources shared by `infer` and `compare`: image files, folders, .npy tensors, a video, a camera.

Every source yields `Frame`s with a running index, a name and, when the source knows it, a label:

| source | frames | label |
|---|---|---|
| image file (.jpg .png .bmp ...) | one, decoded by the one preprocessing (`Frame.path`) | none |
| folder | its images, sorted; images in class subfolders (`DATA_DIR/<class>/*.jpg`) | the subfolder name |
| .npy, dtype int8 / float32 | model inputs used as they are (`Frame.tensor`), (H, W, C) or (N, H, W, C) | none |
| .npy, dtype uint8 | images (`Frame.image`), (H, W[, C]) or (N, H, W[, C]) | none |
| video file (OpenCV) | RGB frames (`Frame.image`) | none |
| camera `--camera N` (OpenCV) / `--picamera` (picamera2) | RGB frames until stopped | none |

Video and camera frames are converted from OpenCV's BGR to RGB here, so every `Frame.image` is RGB (or
grey) uint8 and goes through `Preprocessing` like a decoded file. OpenCV and picamera2 are imported only
when a video or camera is opened; TensorFlow never.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.errors import DataError, DependencyError, UsageError
from edgeimpro.preprocess import IMAGE_SUFFIXES, open_image

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
TENSOR_SUFFIXES = (".npy",)
FALLBACK_CAPTURE = (640, 480)      # (width, height) every camera offers
OPENCV_PIP = "pip install opencv-python-headless  (or: pip install 'edgeimpro[pi]')"
PICAMERA_HINT = ("on 64-bit Raspberry Pi OS: sudo apt install python3-picamera2, and make the venv with "
                 "python3 -m venv --system-site-packages so it sees the apt package")


@dataclass(slots=True)
class Frame:
    """One input. Exactly one of `image`, `path`, `tensor` is set. (Not frozen: one is made per camera
    frame, and a frozen dataclass costs three times as much to build.)"""
    index: int
    name: str
    image: np.ndarray | None = None    # uint8 RGB (H, W, 3) or grey (H, W) / (H, W, 1)
    path: Path | None = None           # an image file, decoded by the one preprocessing when used
    tensor: np.ndarray | None = None   # a model input (no batch dim), used as it is
    label: str | None = None           # ground truth, from a class subfolder

    def rgb(self) -> np.ndarray:
        """The frame as a uint8 RGB (H, W, 3) array, for display (not for the model: see Preprocessing)."""
        if self.image is not None:
            img = self.image[:, :, 0] if self.image.ndim == 3 and self.image.shape[2] == 1 else self.image
            return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img
        if self.path is not None:
            return np.asarray(open_image(self.path).convert("RGB"))
        raise UsageError(f"frame {self.name} is a raw tensor, not an image")


class Source:
    """Base of every source: iterate for frames; `close()` releases a device (also done at the end)."""

    description = ""

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file; iteration after close starts again where possible."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- files


class ImageFiles(Source):
    """Image files given one by one (decoded lazily, in order)."""

    def __init__(self, paths: Sequence[Path | str], labels: Sequence[str | None] | None = None,
                 names: Sequence[str] | None = None) -> None:
        self.paths = [Path(p) for p in paths]
        for p in self.paths:
            if not p.is_file():
                raise DataError(f"image not found: {p}", hint="check the path")
        self.labels = list(labels) if labels is not None else [None] * len(self.paths)
        self.names = list(names) if names is not None else [p.name for p in self.paths]
        self.description = f"{len(self.paths)} image file(s)"

    def __iter__(self) -> Iterator[Frame]:
        for i, (p, name, label) in enumerate(zip(self.paths, self.names, self.labels, strict=True)):
            yield Frame(index=i, name=name, path=p, label=label)


def image_folder(root: Path | str) -> ImageFiles:
    """A folder's images: loose images (no label) then class subfolders (label = subfolder name), sorted.
    Uses the dataset scanner's layout rules (hidden files skipped, subfolders searched recursively)."""
    from edgeimpro.datasets.folder import scan_image_folder

    root = Path(root)
    loose = sorted(p for p in root.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
    paths: list[Path] = list(loose)
    labels: list[str | None] = [None] * len(loose)
    if any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        try:
            folder = scan_image_folder(root, min_classes=1)
        except DataError:
            folder = None      # subfolders without images: only the loose images count
        if folder is not None:
            paths += [p for p, _ in folder.items]
            labels += [folder.classes[y] for _, y in folder.items]
    if not paths:
        raise DataError(f"no images in folder {root}",
                        hint=f"put images ({', '.join(IMAGE_SUFFIXES)}) in it, or in class subfolders "
                             "DIR/<class>/*.jpg")
    names = [p.relative_to(root).as_posix() for p in paths]
    files = ImageFiles(paths, labels, names)
    n_classes = len({lb for lb in labels if lb is not None})
    files.description = f"folder {root}: {len(paths)} images" + (f", {n_classes} classes" if n_classes else "")
    return files


def load_npy(path: Path) -> np.ndarray:
    """np.load of one array, with errors that name the file and the fix."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"tensor file not found: {path}") from None
    except (ValueError, OSError) as e:
        raise DataError(f"cannot read {path} as a .npy array: {e}",
                        hint="save inputs with numpy.save(path, array)") from None


class NpyFrames(Source):
    """A .npy file: int8/float32 arrays are model inputs (used as they are), uint8 arrays are images.
    One sample (H, W, C) or a stack (N, H, W, C); uint8 images may also be (H, W) / (N, H, W)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        arr = load_npy(self.path)
        if arr.dtype == np.uint8:
            if arr.ndim in (2, 3) and not (arr.ndim == 3 and arr.shape[2] not in (1, 3)):
                arr = arr[None]
            if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] not in (1, 3)):
                raise DataError(f"{self.path}: uint8 images must be (H, W[, 1|3]) or (N, H, W[, 1|3]), "
                                f"got shape {list(arr.shape)}")
            self.kind = "image"
        elif arr.dtype in (np.int8, np.float32):
            if arr.ndim == 3:
                arr = arr[None]
            if arr.ndim != 4:
                raise DataError(f"{self.path}: model inputs must be (H, W, C) or (N, H, W, C), "
                                f"got shape {list(arr.shape)}")
            self.kind = "tensor"
        else:
            raise DataError(f"{self.path} holds {arr.dtype}; expected int8 or float32 model inputs, "
                            "or uint8 images", hint="cast it: numpy.save(path, array.astype(numpy.int8))")
        self.array = arr
        self.description = f"{self.path.name}: {len(arr)} {self.kind}(s) of shape {list(arr.shape[1:])}"

    def __iter__(self) -> Iterator[Frame]:
        for i, a in enumerate(self.array):
            name = f"{self.path.name}[{i}]"
            yield (Frame(index=i, name=name, image=a) if self.kind == "image"
                   else Frame(index=i, name=name, tensor=a))


# ---------------------------------------------------------------------------------------------- OpenCV


def import_cv2() -> Any:
    try:
        import cv2
    except ImportError as e:
        raise DependencyError(f"OpenCV (cv2) is not installed ({e}); videos and cameras need it",
                              hint=OPENCV_PIP) from None
    return cv2


class VideoFrames(Source):
    """A video file read with OpenCV; frames converted to RGB."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"video not found: {self.path}", hint="check the path")
        self._cap: Any = None
        self.description = f"video {self.path}"

    def __iter__(self) -> Iterator[Frame]:
        cv2 = import_cv2()
        self.close()
        self._cap = cap = cv2.VideoCapture(str(self.path))
        try:
            if not cap.isOpened():
                raise DataError(f"OpenCV cannot open the video {self.path}",
                                hint="check the file; OpenCV's wheels read .avi (MJPG) and .mp4 (H.264) files")
            i = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield Frame(index=i, name=f"{self.path.name}#{i}", image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                i += 1
            if i == 0:
                raise DataError(f"the video {self.path} has no readable frame",
                                hint="check the file; re-encode it, e.g. ffmpeg -i IN -c:v mjpeg OUT.avi")
        finally:
            self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def video_devices() -> list[str]:
    """The V4L2 camera device nodes present on Linux (empty elsewhere)."""
    return sorted(str(p) for p in Path("/dev").glob("video*")) if sys.platform.startswith("linux") else []


class CameraFrames(Source):
    """A camera opened with OpenCV (`--camera N`: /dev/videoN on Linux), RGB frames until closed.

    `size` (width, height) is a request: a camera delivers its nearest mode. Ask for the model's size so
    frames need little or no resizing (frames already at the model's size skip it)."""

    def __init__(self, index: int = 0, size: tuple[int, int] | None = None) -> None:
        if index < 0:
            raise UsageError(f"camera index must be >= 0, got {index}")
        self.index = index
        self.size = size
        self.device = f"/dev/video{index}" if sys.platform.startswith("linux") else f"camera {index}"
        if sys.platform.startswith("linux") and not Path(self.device).exists():
            present = video_devices()
            raise DataError(
                f"camera {index} not found: {self.device} does not exist "
                + (f"(cameras present: {', '.join(present)})" if present else "(no /dev/video* device at all)"),
                hint=_camera_hint(present))
        self._cap: Any = None
        self.description = f"camera {index} ({self.device})"

    def __iter__(self) -> Iterator[Frame]:
        cv2 = import_cv2()
        self.close()
        self._cap = cap = cv2.VideoCapture(self.index)
        try:
            if not cap.isOpened():
                raise DataError(f"camera {self.index} ({self.device}) exists but OpenCV cannot open it",
                                hint="is another program using it? Is your user in the 'video' group? "
                                     "A Raspberry Pi camera module needs --picamera instead")
            if self.size is not None:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
            i = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    if i == 0:
                        raise DataError(f"camera {self.index} ({self.device}) opened but gave no frame",
                                        hint="a Raspberry Pi camera module needs --picamera; otherwise "
                                             "check the cable and try another --camera N")
                    log.warning("camera %s stopped delivering frames after %d", self.device, i)
                    break
                yield Frame(index=i, name=f"camera{self.index}#{i}", image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                i += 1
        finally:
            self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _camera_hint(present: list[str]) -> str:
    pick = "pick one of them with --camera N" if present else "plug in a USB camera (check with ls /dev/video*)"
    return f"{pick}; for a Raspberry Pi camera module use --picamera; or run on files / --video FILE"


class PiCameraFrames(Source):
    """A Raspberry Pi camera module through picamera2 (libcamera), RGB frames until closed.

    `size` (width, height) is asked of the camera's ISP, which scales in hardware: at the model's size the
    frames need no resize on the CPU."""

    def __init__(self, size: tuple[int, int] = FALLBACK_CAPTURE, camera: int = 0) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as e:
            raise DependencyError(f"picamera2 is not installed ({e}); --picamera needs it", hint=PICAMERA_HINT) from None
        self._cls = Picamera2
        self.size = size
        self.camera = camera
        self._cam: Any = None
        self.description = f"Raspberry Pi camera {camera} at {size[0]}x{size[1]}"

    def __iter__(self) -> Iterator[Frame]:
        self.close()
        try:
            self._cam = cam = self._cls(self.camera)
        except (IndexError, RuntimeError) as e:   # picamera2 raises IndexError when no camera is attached
            raise DataError(f"no Raspberry Pi camera {self.camera} found ({e})",
                            hint="check the ribbon cable and run `rpicam-hello --list-cameras`; a USB camera "
                                 "needs --camera N instead") from None
        try:
            self._configure(cam)
            cam.start()
            i = 0
            while True:
                # picamera2's "RGB888" is B, G, R in memory (OpenCV order): flip to RGB
                bgr = cam.capture_array("main")
                yield Frame(index=i, name=f"picamera{self.camera}#{i}",
                            image=np.ascontiguousarray(bgr[:, :, 2::-1]))
                i += 1
        finally:
            self.close()

    def _configure(self, cam: Any) -> None:
        """The requested size, else the camera's common 640x480 (frames are then resized on the CPU)."""
        sizes = [self.size] if self.size == FALLBACK_CAPTURE else [self.size, FALLBACK_CAPTURE]
        for k, size in enumerate(sizes):
            try:
                cam.configure(cam.create_video_configuration(main={"size": size, "format": "RGB888"}))
                return
            except Exception as e:     # libcamera's refusals are plain RuntimeError / ValueError and more
                if k == len(sizes) - 1:
                    raise DataError(f"the Raspberry Pi camera refused {size[0]}x{size[1]} RGB888 frames ({e})",
                                    hint="check it with `rpicam-hello`") from None
                log.warning("Pi camera refused %dx%d (%s); using %dx%d", *size, e, *FALLBACK_CAPTURE)

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
            finally:
                self._cam.close()
                self._cam = None


# ---------------------------------------------------------------------------------------------- chains


class Chain(Source):
    """Several sources one after the other, frames renumbered 0, 1, 2, ..."""

    def __init__(self, sources: Iterable[Source]) -> None:
        self.sources = list(sources)
        self.description = "; ".join(s.description for s in self.sources)

    def __iter__(self) -> Iterator[Frame]:
        i = 0
        for src in self.sources:
            for frame in src:
                yield frame if frame.index == i else replace(frame, index=i)
                i += 1

    def close(self) -> None:
        for src in self.sources:
            src.close()


def source_for_path(path: Path | str) -> Source:
    """An image file, a folder, a .npy or a video file, by what the path is."""
    p = Path(path)
    if p.is_dir():
        return image_folder(p)
    if not p.exists():
        raise DataError(f"input not found: {p}", hint="give image files, a folder, a .npy or a video file")
    suffix = p.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return ImageFiles([p])
    if suffix in TENSOR_SUFFIXES:
        return NpyFrames(p)
    if suffix in VIDEO_SUFFIXES:
        return VideoFrames(p)
    raise DataError(f"do not know how to read {p} (suffix {suffix or 'none'})",
                    hint=f"images: {' '.join(IMAGE_SUFFIXES)}; tensors: .npy; videos: {' '.join(VIDEO_SUFFIXES)}")


def open_source(paths: Sequence[Path | str] = (), *, camera: int | None = None, picamera: bool = False,
                video: Path | str | None = None, capture_size: tuple[int, int] | None = None) -> Source:
    """One source from the command-line choices: paths, or exactly one of camera / picamera / video.

    `capture_size` (width, height) is what cameras are asked for (the model's size is a good choice)."""
    live = [name for name, on in (("--camera", camera is not None), ("--picamera", picamera),
                                  ("--video", video is not None)) if on]
    if len(live) > 1:
        raise UsageError(f"{' and '.join(live)} cannot be combined", hint="give one frame source")
    if live and paths:
        raise UsageError(f"{live[0]} cannot be combined with input files",
                         hint="give either files / folders or one of --camera, --picamera, --video")
    if camera is not None:
        return CameraFrames(camera, size=capture_size)
    if picamera:
        return PiCameraFrames(size=capture_size or FALLBACK_CAPTURE)
    if video is not None:
        return VideoFrames(video)
    if not paths:
        raise UsageError("no input given",
                         hint="give image files, a folder, a .npy, --video FILE, --camera N or --picamera")
    sources: list[Source] = []
    files: list[Path] = []          # consecutive image files make one source
    for p in map(Path, paths):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            files.append(p)
            continue
        if files:
            sources.append(ImageFiles(files))
            files = []
        sources.append(source_for_path(p))
    if files:
        sources.append(ImageFiles(files))
    return sources[0] if len(sources) == 1 else Chain(sources)
