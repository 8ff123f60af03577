"""Object-detection datasets: bounding boxes in COCO JSON, YOLO text or Pascal VOC XML, read into one form
and turned into centroid grids for FOMO-style detection and counting.

Layouts read (the format is detected from the folder, or forced with `format=`):
  coco  FOLDER/_annotations.coco.json (Roboflow writes one per split folder) or FOLDER/annotations.json, the
        images beside it or in FOLDER/images/; or the .json file itself
  yolo  FOLDER/images/** + FOLDER/labels/**.txt, the .txt files beside the images, or Ultralytics'
        ROOT/images/<split> + ROOT/labels/<split>; lines `class cx cy w h` normalised to 0..1; class names
        from data.yaml, classes.txt or obj.names in the folder, its labels folder or up to two folders above
  voc   FOLDER/Annotations/*.xml + FOLDER/JPEGImages/, or the .xml files beside the images; coordinates are
        taken as written (VOC's own 1-based pixels shift a centroid by half a pixel, far below a grid cell)
A folder holding splits (ROOT/train, ROOT/valid, ROOT/test, or ROOT/images/train ...) is read one split at a
time: `read_detection(ROOT, split="train")`.

Boxes are `Box(class_index, x0, y0, x1, y1)` in pixels of the image file (after its EXIF rotation), x1 and
y1 exclusive. Every problem is reported by file and place (a label line, a COCO annotation or image id, a
VOC object number), counted by kind (`PROBLEM_KINDS`) and never silently dropped:
  - an error leaves its box (or image) out; `strict=True` (the default) refuses the dataset when there is
    one, `strict=False` reads the rest and keeps the error in the report. A box left out of an image that
    stays marks an object the model will see as background there: `Problem.image` names that image.
  - a box partly outside its image is clipped to the image and kept, with a warning that says by how much;
    overhangs of at most half a pixel (exporters' rounding) are clipped without one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edgeimpro.errors import DataError, UsageError
from edgeimpro.preprocess import IMAGE_SUFFIXES, Preprocessing

FORMATS = ("coco", "yolo", "voc")
SPLIT_NAMES = ("train", "valid", "val", "test")
COCO_FILES = ("_annotations.coco.json", "annotations.json")
DEFAULT_STRIDE = 8         # FOMO's output grid: one cell per 8x8 input pixels
CLIP_SLACK = 0.5           # px a box may overhang its image without a warning (exporters round)


class ProblemKind(NamedTuple):
    severity: str          # "error": the box or image is left out; "warning": read, with the change said
    meaning: str


PROBLEM_KINDS: dict[str, ProblemKind] = {
    "malformed": ProblemKind("error", "a label line, JSON entry or XML file that cannot be parsed"),
    "unknown-class": ProblemKind("error", "a class id or name that is not one of the dataset's classes"),
    "empty-box": ProblemKind("error", "a box of zero or negative width or height"),
    "outside": ProblemKind("error", "a box wholly outside its image"),
    "missing-image": ProblemKind("error", "annotations for an image file that does not exist"),
    "unreadable-image": ProblemKind("error", "an image file that cannot be decoded"),
    "size-mismatch": ProblemKind("error", "an image whose size differs from the size its annotations give"),
    "clipped": ProblemKind("warning", "a box partly outside its image, clipped to it"),
    "crowd-region": ProblemKind("warning", "a COCO iscrowd region (one box over many objects), left out"),
    "no-labels": ProblemKind("warning", "an image without a label file, read as an image with no objects"),
}


class Box(NamedTuple):
    class_index: int
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def centroid(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


@dataclass
class AnnotatedImage:
    path: Path
    width: int
    height: int
    boxes: list[Box]


@dataclass(frozen=True)
class Problem:
    kind: str              # a key of PROBLEM_KINDS
    file: Path             # the annotation file (or the image file, for an image's own problem)
    where: str             # "line 3", "annotation id 17", "image id 4", "object 2"; "" for the whole file
    message: str
    image: Path | None = None   # the image the box belongs to, when known

    @property
    def severity(self) -> str:
        return PROBLEM_KINDS[self.kind].severity

    def __str__(self) -> str:
        return f"{self.file}{': ' + self.where if self.where else ''}: {self.message}"


@dataclass
class DetectionReport:
    problems: list[Problem] = field(default_factory=list)

    def add(self, kind: str, file: Path, where: str, message: str, image: Path | None = None) -> None:
        self.problems.append(Problem(kind, file, where, message, image))

    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def counts(self) -> dict[str, int]:
        """Problems per kind, in PROBLEM_KINDS order, kinds that occurred only."""
        c = Counter(p.kind for p in self.problems)
        return {k: c[k] for k in PROBLEM_KINDS if c[k]}


@dataclass
class DetectionDataset:
    root: Path             # the folder (or COCO file) read
    format: str            # one of FORMATS
    classes: list[str]     # class_index -> name
    images: list[AnnotatedImage]
    report: DetectionReport

    def boxes_per_class(self) -> dict[str, int]:
        c = Counter(b.class_index for im in self.images for b in im.boxes)
        return {name: c[k] for k, name in enumerate(self.classes)}

    def objects_per_image(self) -> list[int]:
        return [len(im.boxes) for im in self.images]


# --- reading -------------------------------------------------------------------------------------

def read_detection(path: Path | str, format: str | None = None, split: str | None = None,
                   classes: Sequence[str] | None = None, strict: bool = True) -> DetectionDataset:
    """Read the bounding boxes of a detection dataset folder (or a COCO .json file).

    `classes` fixes the class list (give the training split's to a validation split, so the indices agree);
    without it the classes come from the dataset (COCO categories by id, YOLO's names file or its ids, VOC's
    names sorted). `strict` refuses the dataset when the report holds an error (a DataError naming the first).
    """
    from edgeimpro.datasets import detection_formats as formats

    path = Path(path)
    if format is not None and format not in FORMATS:
        raise UsageError(f"unknown detection format {format!r}", hint="use " + ", ".join(FORMATS))
    folder = _split_folder(path, split)
    fmt = format or detect_format(folder)
    report = DetectionReport()
    readers = {"coco": formats.read_coco, "yolo": formats.read_yolo, "voc": formats.read_voc}
    names, images = readers[fmt](folder, None if classes is None else list(classes), report)
    if not images and not report.problems:
        raise DataError(f"no annotated images found in {folder} as {fmt}",
                        hint="check the folder and the format (" + ", ".join(FORMATS) + ")")
    dataset = DetectionDataset(root=folder, format=fmt, classes=names, images=images, report=report)
    if strict:
        refuse_errors(dataset)
    return dataset


def refuse_errors(dataset: DetectionDataset) -> None:
    """Raise a DataError naming the first error of `dataset.report` and how many there are, if any."""
    errors = dataset.report.errors()
    if not errors:
        return
    kinds = Counter(p.kind for p in errors)
    tally = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    raise DataError(f"{len(errors)} bad annotation{'s' if len(errors) > 1 else ''} in {dataset.root} ({tally}); "
                    f"the first: {errors[0]}",
                    hint=f"fix them (`edgeimpro datasets check {dataset.root}` lists every one), or read "
                         "leniently (strict=False), which leaves them out and keeps them in the report")


def _split_folder(path: Path, split: str | None) -> Path:
    if not path.exists():
        raise DataError(f"detection dataset not found: {path}",
                        hint="give a folder of images with COCO, YOLO or Pascal VOC annotations "
                             "(or make one: edgeimpro datasets demo crowd data/crowd)")
    if path.is_file():
        if split is not None:
            raise UsageError(f"split {split!r} given with the file {path}", hint="give the dataset folder")
        return path
    splits = find_splits(path)
    if split is not None:
        if split not in splits:
            have = ", ".join(splits) or "none"
            raise DataError(f"{path} has no split {split!r} (splits found: {have})",
                            hint="give one of the splits found, or the split's folder itself")
        return splits[split]
    if splits:
        raise DataError(f"{path} holds the splits {', '.join(splits)}: read one at a time",
                        hint=f"give split='{next(iter(splits))}' or the folder {next(iter(splits.values()))}")
    return path


def find_splits(root: Path | str) -> dict[str, Path]:
    """Split name -> folder, for a root holding split folders (Roboflow's ROOT/train ..., Ultralytics'
    ROOT/images/train ...); empty when `root` is one split itself."""
    root = Path(root)
    found = {}
    for name in SPLIT_NAMES:
        for folder in (root / name, root / "images" / name):
            if folder.is_dir() and annotation_formats(folder):
                found[name] = folder
                break
    return found


def detect_format(folder: Path | str) -> str:
    """The annotation format of one dataset folder (or COCO file): coco, yolo or voc."""
    folder = Path(folder)
    found = annotation_formats(folder)
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(f"no detection annotations found in {folder}",
                        hint="expected _annotations.coco.json or annotations.json (COCO), images/ + labels/ "
                             "or .txt beside the images (YOLO), or Annotations/ or .xml beside the images (VOC)")
    raise DataError(f"{folder} holds annotations in {len(found)} formats ({', '.join(found)})",
                    hint="choose one with format=" + " or format=".join(found))


def annotation_formats(folder: Path) -> list[str]:
    """The annotation formats found in one folder (or COCO file), none for a plain image folder."""
    if folder.is_file():
        return ["coco"] if folder.suffix.lower() == ".json" else []
    found = []
    if any((folder / name).is_file() for name in COCO_FILES):
        found.append("coco")
    if (folder / "labels").is_dir() or ultralytics_label_dir(folder) is not None or _has_beside(folder, ".txt"):
        found.append("yolo")
    if (folder / "Annotations").is_dir() or _has_beside(folder, ".xml"):
        found.append("voc")
    return found


def ultralytics_label_dir(folder: Path) -> Path | None:
    """ROOT/labels/<split> for an Ultralytics split folder ROOT/images/<split>, when it exists."""
    if folder.parent.name != "images":
        return None
    labels = folder.parent.parent / "labels" / folder.name
    return labels if labels.is_dir() else None


def _has_beside(folder: Path, suffix: str) -> bool:
    """True when `folder` holds an image with an annotation file of `suffix` and the same name beside it."""
    if not folder.is_dir():
        return False
    files = [p for p in folder.iterdir() if p.is_file()]
    stems = {p.stem for p in files if p.suffix.lower() in IMAGE_SUFFIXES}
    return any(p.suffix.lower() == suffix and p.stem in stems for p in files)


# --- box checks shared by the readers ------------------------------------------------------------

def check_box(class_index: int, x0: float, y0: float, x1: float, y1: float, width: int, height: int,
              report: DetectionReport, file: Path, where: str, image: Path | None = None,
              note: str = "") -> Box | None:
    """The box clipped to the image, or None with an error in `report` (`note` is added to its message)."""
    def fail(kind: str, message: str) -> None:
        report.add(kind, file, where, message + note, image)

    shown = f"({_num(x0)}, {_num(y0)})-({_num(x1)}, {_num(y1)})"
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        fail("malformed", f"box {shown} has a non-finite coordinate")
        return None
    if x1 <= x0 or y1 <= y0:
        fail("empty-box", f"box {shown} has width {_num(x1 - x0)} and height {_num(y1 - y0)} px")
        return None
    cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
    if cx1 <= cx0 or cy1 <= cy0:
        fail("outside", f"box {shown} lies outside the {width}x{height} image")
        return None
    overhang = max(-x0, -y0, x1 - width, y1 - height)
    if overhang > CLIP_SLACK:
        lost = 1 - (cx1 - cx0) * (cy1 - cy0) / ((x1 - x0) * (y1 - y0))
        report.add("clipped", file, where,
                   f"box {shown} reaches {_num(overhang)} px outside the {width}x{height} image: clipped to "
                   f"({_num(cx0)}, {_num(cy0)})-({_num(cx1)}, {_num(cy1)}), {lost:.0%} of its area cut", image)
    return Box(class_index, cx0, cy0, cx1, cy1)


def _num(v: float) -> str:
    return f"{v:.6g}"


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as the model sees it (EXIF rotation applied), from its header only.

    Raises FileNotFoundError for a missing file and DataError for one Pillow cannot identify."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                rotated = im.getexif().get(0x0112) in (5, 6, 7, 8)     # EXIF orientation: a quarter turn
    except FileNotFoundError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"image {path} is larger than {Image.MAX_IMAGE_PIXELS:,} pixels (decompression-bomb "
                        "guard)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {path}: {e}") from None
    return (h, w) if rotated else (w, h)


# --- centroid grids -------------------------------------------------------------------------------

def grid_shape(height: int, width: int, stride: int = DEFAULT_STRIDE) -> tuple[int, int]:
    """The output grid of a model whose input is `height`x`width` and whose output stride is `stride`."""
    if stride < 1:
        raise UsageError(f"grid stride must be positive, got {stride}")
    if height % stride or width % stride:
        lo_h, lo_w = height // stride * stride, width // stride * stride
        raise UsageError(f"input size {height}x{width} is not a multiple of the grid stride {stride}",
                         hint=f"use {max(lo_h, stride)}x{max(lo_w, stride)} or "
                              f"{lo_h + stride}x{lo_w + stride}")
    return height // stride, width // stride


def centroid_cells(boxes: Iterable[Box], image_hw: tuple[int, int], grid_hw: tuple[int, int]
                   ) -> list[tuple[int, int]]:
    """(row, col) of the grid cell holding each box's centroid; the grid spans the whole image evenly."""
    h, w = image_hw
    gh, gw = grid_hw
    cells = []
    for b in boxes:
        cx, cy = b.centroid
        cells.append((min(max(math.floor(cy * gh / h), 0), gh - 1), min(max(math.floor(cx * gw / w), 0), gw - 1)))
    return cells


def centroid_grid(boxes: Sequence[Box], image_hw: tuple[int, int], grid_hw: tuple[int, int]) -> np.ndarray:
    """int32 (grid_h, grid_w) labels: 0 background, k + 1 where the centroid of a box of class k falls.

    When centroids share a cell the largest box labels it (then the lower class index): one object is
    counted there; `load_detection` keeps the true counts beside the grids."""
    grid = np.zeros(grid_hw, np.int32)
    cells = centroid_cells(boxes, image_hw, grid_hw)
    order = sorted(range(len(boxes)), key=lambda i: (-boxes[i].area, boxes[i].class_index, i))
    for i in order:
        r, c = cells[i]
        if grid[r, c] == 0:
            grid[r, c] = boxes[i].class_index + 1
    return grid


# --- loading pixels and grids ---------------------------------------------------------------------

@dataclass
class LoadedDetection:
    x: np.ndarray               # float32 (N, H, W, C), after the one preprocessing
    y: np.ndarray               # int32 (N, grid_h, grid_w): 0 background, k + 1 a centroid of class k
    counts: np.ndarray          # int32 (N, K): objects of each class in each image (the counting truth)
    paths: list[Path]
    classes: list[str]
    problems: list[Problem]     # images that could not be decoded (kind unreadable-image), left out


def load_detection(dataset: DetectionDataset, prep: Preprocessing, grid_hw: tuple[int, int] | None = None,
                   stride: int = DEFAULT_STRIDE, strict: bool = True) -> LoadedDetection:
    """Every image resized to the model input (`prep`) with its centroid grid (default: input size / stride).

    The resize stretches the whole image, so a centroid keeps its relative place and the grid is computed
    in the file's own pixels. An image that cannot be decoded is a problem (strict: a DataError)."""
    grid_hw = grid_hw or grid_shape(prep.height, prep.width, stride)
    xs, ys, counts, paths, problems = [], [], [], [], []
    k = len(dataset.classes)
    for im in dataset.images:
        try:
            xs.append(prep.to_float(im.path))
        except DataError as e:
            problems.append(Problem("unreadable-image", im.path, "", e.message, im.path))
            continue
        ys.append(centroid_grid(im.boxes, (im.height, im.width), grid_hw))
        counts.append(np.bincount(np.array([b.class_index for b in im.boxes], np.int64), minlength=k)[:k])
        paths.append(im.path)
    if problems and strict:
        raise DataError(f"{len(problems)} image{'s' if len(problems) > 1 else ''} of {dataset.root} cannot be "
                        f"decoded; the first: {problems[0]}",
                        hint="remove or replace them, or load leniently (strict=False) to leave them out")
    return LoadedDetection(
        x=np.stack(xs) if xs else np.zeros((0, *prep.shape), np.float32),
        y=np.stack(ys).astype(np.int32) if ys else np.zeros((0, *grid_hw), np.int32),
        counts=np.stack(counts).astype(np.int32) if counts else np.zeros((0, k), np.int32),
        paths=paths, classes=list(dataset.classes), problems=problems)
