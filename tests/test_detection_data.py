"""Detection datasets: the COCO, YOLO and VOC readers with every bad-box case, centroid grids, the loader,
and the `crowd` demo (determinism, disjoint splits, counts, COCO validity)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeimpro.cli.main import main
from edgeimpro.datasets import crowd
from edgeimpro.datasets.demo import write_demo
from edgeimpro.datasets.detection import (
    PROBLEM_KINDS,
    AnnotatedImage,
    Box,
    DetectionDataset,
    DetectionReport,
    centroid_cells,
    centroid_grid,
    detect_format,
    find_splits,
    grid_shape,
    image_size,
    load_detection,
    read_detection,
)
from edgeimpro.datasets.detection_formats import yolo_class_names
from edgeimpro.errors import DataError, UsageError
from edgeimpro.preprocess import Preprocessing

pytestmark = pytest.mark.unit


def image(path: Path, width: int, height: int, value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    px = np.full((height, width, 3), value, np.uint8)
    px[: height // 2, : width // 2] = 255 - value            # not flat, so a resize is visible
    Image.fromarray(px).save(path)
    return path


def where(ds: DetectionDataset) -> list[tuple[str, str, str]]:
    """(kind, file name, place) of every problem, sorted."""
    return sorted((p.kind, p.file.name, p.where) for p in ds.report.problems)


# --- COCO -------------------------------------------------------------------------------------------

def coco_folder(root: Path, bad: bool = True) -> Path:
    """A Roboflow-style COCO folder: a workspace placeholder category, and (bad=True) every bad-box case."""
    image(root / "a.png", 64, 48)
    image(root / "b.png", 64, 48, 60)
    image(root / "c.png", 32, 32)
    cats = [{"id": 0, "name": "things", "supercategory": "none"},
            {"id": 1, "name": "cat", "supercategory": "things"},
            {"id": 2, "name": "dog", "supercategory": "things"}]
    images = [{"id": 1, "file_name": "a.png", "width": 64, "height": 48},
              {"id": 2, "file_name": "b.png", "width": 64, "height": 48}]
    anns = [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [8, 8, 16, 16], "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 2, "bbox": [40, 20, 8, 8]},
            {"id": 12, "image_id": 2, "category_id": 1, "bbox": [63.75, 0, 0.5, 1]}]   # 0.25 px over: no warning
    if bad:
        cats.append({"id": 5})                                                        # categories[3]: no name
        images += [{"id": 3, "file_name": "gone.png", "width": 64, "height": 48},     # missing file, 2 boxes
                   {"id": 4, "file_name": "c.png", "width": 64, "height": 48},        # the file is 32x32
                   {"file_name": "x.png"}]                                            # images[4]: no id
        anns += [{"id": 13, "image_id": 1, "category_id": 1, "bbox": [-4, 10, 10, 10]},   # clipped by 4 px
                 {"id": 14, "image_id": 1, "category_id": 1, "bbox": [70, 10, 5, 5]},     # outside
                 {"id": 15, "image_id": 2, "category_id": 2, "bbox": [10, 10, 0, 5]},     # zero width
                 {"id": 16, "image_id": 2, "category_id": 2, "bbox": [10, 10, 5, -3]},    # negative height
                 {"id": 17, "image_id": 2, "category_id": 7, "bbox": [1, 1, 4, 4]},       # unknown category
                 {"id": 18, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3]},          # 3 numbers
                 {"id": 19, "image_id": 2, "category_id": 1, "bbox": ["1", 2, 3, 4]},     # a string
                 {"id": 20, "image_id": 99, "category_id": 1, "bbox": [1, 1, 4, 4]},      # no such image
                 "not an annotation",                                                     # annotations[11]
                 {"id": 21, "image_id": 3, "category_id": 1, "bbox": [1, 1, 4, 4]},
                 {"id": 22, "image_id": 3, "category_id": 1, "bbox": [9, 9, 4, 4]},
                 {"id": 23, "image_id": 4, "category_id": 1, "bbox": [1, 1, 4, 4]},
                 {"id": 24, "image_id": 2, "category_id": 1, "bbox": [0, 0, 30, 30], "iscrowd": 1}]
    (root / "_annotations.coco.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": cats}))
    return root


def test_coco_reads_boxes_in_pixels_without_the_roboflow_placeholder(tmp_path: Path) -> None:
    ds = read_detection(coco_folder(tmp_path / "coco", bad=False))
    assert ds.format == "coco" and ds.classes == ["cat", "dog"]
    assert [(im.path.name, im.width, im.height) for im in ds.images] == [("a.png", 64, 48), ("b.png", 64, 48)]
    assert ds.images[0].boxes == [Box(0, 8, 8, 24, 24), Box(1, 40, 20, 48, 28)]
    assert ds.images[1].boxes == [Box(0, 63.75, 0, 64, 1)]       # a rounding overhang is clipped silently
    assert ds.report.problems == []
    assert ds.boxes_per_class() == {"cat": 2, "dog": 1}
    # A class list given: a category whose name it lacks is an unknown class, by annotation id.
    only_cats = read_detection(tmp_path / "coco", classes=["cat"], strict=False)
    assert only_cats.classes == ["cat"] and where(only_cats) == [("unknown-class", "_annotations.coco.json",
                                                                  "annotation id 11")]
    assert "category 'dog' is not one of the 1 class: cat" in only_cats.report.problems[0].message
    assert only_cats.images[0].boxes == [Box(0, 8, 8, 24, 24)]
    # The file itself may be given, and the format forced.
    same = read_detection(tmp_path / "coco" / "_annotations.coco.json", format="coco")
    assert [im.boxes for im in same.images] == [im.boxes for im in ds.images]


def test_coco_every_bad_case_is_reported_by_id_and_counted(tmp_path: Path) -> None:
    root = coco_folder(tmp_path / "coco")
    ds = read_detection(root, strict=False)
    j = "_annotations.coco.json"
    assert where(ds) == sorted([
        ("malformed", j, "categories[3]"),
        ("missing-image", j, "image id 3"),
        ("size-mismatch", j, "image id 4"),
        ("malformed", j, "images[4]"),
        ("clipped", j, "annotation id 13"),
        ("outside", j, "annotation id 14"),
        ("empty-box", j, "annotation id 15"),
        ("empty-box", j, "annotation id 16"),
        ("unknown-class", j, "annotation id 17"),
        ("malformed", j, "annotation id 18"),
        ("malformed", j, "annotation id 19"),
        ("malformed", j, "annotation id 20"),
        ("malformed", j, "annotations[11]"),
        ("crowd-region", j, "annotation id 24"),
    ])
    assert ds.report.counts() == {"malformed": 6, "unknown-class": 1, "empty-box": 2, "outside": 1,
                                  "missing-image": 1, "size-mismatch": 1, "clipped": 1, "crowd-region": 1}
    assert len(ds.report.errors()) == 12 and len(ds.report.warnings()) == 2
    text = {p.where: p.message for p in ds.report.problems}
    assert "its 2 boxes are left out" in text["image id 3"]       # the boxes of a missing image are counted
    assert "64x48" in text["image id 4"] and "32x32" in text["image id 4"]
    assert "4 px outside the 64x48 image" in text["annotation id 13"] and "40% of its area cut" in text["annotation id 13"]
    assert "category_id 7" in text["annotation id 17"]
    # Lenient: the good boxes and the clipped one are kept; the images with problems are left out.
    assert [im.path.name for im in ds.images] == ["a.png", "b.png"]
    assert ds.images[0].boxes == [Box(0, 8, 8, 24, 24), Box(1, 40, 20, 48, 28), Box(0, 0, 10, 6, 20)]
    assert ds.images[1].boxes == [Box(0, 63.75, 0, 64, 1)]
    box_problem = next(p for p in ds.report.problems if p.where == "annotation id 15")
    assert box_problem.image == root / "b.png"                    # the image where an object is now unlabelled
    # Strict (the default): one DataError naming how many, the first, and the fix.
    with pytest.raises(DataError, match=r"12 bad annotations in .*coco .*the first: .*categories\[3\]") as e:
        read_detection(root)
    assert "strict=False" in e.value.hint and "datasets check" in e.value.hint


def test_coco_file_that_cannot_be_read_is_refused_whole(tmp_path: Path) -> None:
    (tmp_path / "annotations.json").write_text('{"images": [], "categories": [\n  {"id": 1,}]}')
    with pytest.raises(DataError, match="not valid JSON: .* at line 2 column"):
        read_detection(tmp_path)
    (tmp_path / "annotations.json").write_text('{"images": {}}')
    with pytest.raises(DataError, match="not a COCO detection file"):
        read_detection(tmp_path)


def test_splits_are_read_one_at_a_time_with_the_training_classes(tmp_path: Path) -> None:
    coco_folder(tmp_path / "rf" / "train", bad=False)
    valid = tmp_path / "rf" / "valid"
    image(valid / "v.png", 16, 16)
    (valid / "_annotations.coco.json").write_text(json.dumps({
        "images": [{"id": 0, "file_name": "v.png", "width": 16, "height": 16}],
        "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}],
        "annotations": [{"id": 0, "image_id": 0, "category_id": 1, "bbox": [0, 0, 4, 4]},
                        {"id": 1, "image_id": 0, "category_id": 2, "bbox": [8, 8, 4, 4]}]}))
    assert find_splits(tmp_path / "rf") == {"train": tmp_path / "rf" / "train", "valid": valid}
    with pytest.raises(DataError, match="holds the splits train, valid: read one at a time"):
        read_detection(tmp_path / "rf")
    with pytest.raises(DataError, match="has no split 'test'"):
        read_detection(tmp_path / "rf", split="test")
    train = read_detection(tmp_path / "rf", split="train")
    val = read_detection(tmp_path / "rf", split="valid", classes=train.classes)
    assert train.classes == val.classes == ["cat", "dog"]           # indices agree across the splits
    assert val.images[0].boxes == [Box(1, 0, 0, 4, 4), Box(0, 8, 8, 12, 12)]


# --- YOLO -------------------------------------------------------------------------------------------

YOLO_A = """\
0 0.5 0.5 0.25 0.5

1 0.25 0.25 0.125 0.25
2 0.5 0.5 0.1 0.1
-1 0.5 0.5 0.1 0.1
0 0.5 0.5 0.25
0 0.1 0.1 0.2 0.1 0.3 0.3
x 0.5 0.5 0.1 0.1
0 0.5 abc 0.1 0.1
0 nan 0.5 0.1 0.1
0 0.5 0.5 0 0.1
0 0.5 0.5 0.1 -0.2
0 1.5 0.5 0.2 0.2
0 0.0 0.5 0.25 0.5
0 32 16 16 16
1.0 0.5 0.5 0.1 0.1
"""


def yolo_folder(root: Path) -> Path:
    """images/ + labels/ + data.yaml; a.txt holds a good line or two and every bad-line case."""
    image(root / "images" / "a.png", 64, 32)
    image(root / "images" / "b.png", 64, 32)
    (root / "images" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    image(root / "images" / "d.png", 64, 32)                  # no label file
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text(YOLO_A)
    (root / "labels" / "b.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (root / "labels" / "c.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (root / "labels" / "e.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # no image
    (root / "data.yaml").write_text("train: images\nval: images\nnc: 2\nnames: ['cat', 'dog']\n")
    return root


def test_yolo_every_bad_line_is_reported_by_line(tmp_path: Path) -> None:
    ds = read_detection(yolo_folder(tmp_path / "yolo"), strict=False)
    assert ds.format == "yolo" and ds.classes == ["cat", "dog"]
    assert where(ds) == sorted([
        ("unknown-class", "a.txt", "line 4"), ("unknown-class", "a.txt", "line 5"),
        ("malformed", "a.txt", "line 6"), ("malformed", "a.txt", "line 7"), ("malformed", "a.txt", "line 8"),
        ("malformed", "a.txt", "line 9"), ("malformed", "a.txt", "line 10"),
        ("empty-box", "a.txt", "line 11"), ("empty-box", "a.txt", "line 12"),
        ("outside", "a.txt", "line 13"), ("clipped", "a.txt", "line 14"), ("outside", "a.txt", "line 15"),
        ("malformed", "a.txt", "line 16"),
        ("unreadable-image", "c.png", ""), ("no-labels", "d.png", ""), ("missing-image", "e.txt", ""),
    ])
    text = {(p.file.name, p.where): p.message for p in ds.report.problems}
    assert "got 7" in text["a.txt", "line 7"] and "segmentation polygon" in text["a.txt", "line 7"]
    assert "pixel coordinates instead of 0..1" in text["a.txt", "line 15"]
    assert "8 px outside the 64x32 image" in text["a.txt", "line 14"] and "50% of its area cut" in text["a.txt", "line 14"]
    assert "its 1 box is left out" in text["c.png", ""]
    assert "its 1 line is left out" in text["e.txt", ""]
    # Normalised centre/size become pixel corners; the clipped box is kept; d.png has no objects.
    assert [im.path.name for im in ds.images] == ["a.png", "b.png", "d.png"]
    assert ds.images[0].boxes == [Box(0, 24, 8, 40, 24), Box(1, 12, 4, 20, 12), Box(0, 0, 8, 8, 24)]
    assert ds.images[1].boxes == [Box(1, 16, 8, 48, 24)]
    assert ds.images[2].boxes == []
    with pytest.raises(DataError, match=r"14 bad annotations .*the first: .*a\.txt: line 6: expected 5 fields"):
        read_detection(tmp_path / "yolo")


def test_yolo_without_names_uses_the_ids_and_beside_layout(tmp_path: Path) -> None:
    root = tmp_path / "darknet"
    image(root / "p.png", 32, 32)
    image(root / "q.png", 32, 32)
    (root / "p.txt").write_text("2 0.5 0.5 0.25 0.25\n")
    (root / "q.txt").write_text("0 0.25 0.25 0.25 0.25\n")
    (root / "README.txt").write_text("exported by hand\n")         # not a label file, not an orphan
    ds = read_detection(root)
    assert ds.format == "yolo" and ds.classes == ["0", "1", "2"]
    assert [im.boxes for im in ds.images] == [[Box(2, 12, 12, 20, 20)], [Box(0, 4, 4, 12, 12)]]
    assert ds.report.problems == []
    (root / "obj.names").write_text("person\n\ncar\n")
    with pytest.raises(DataError, match="line 2 is empty"):
        read_detection(root)
    (root / "obj.names").write_text("person\ncar\n\n")
    ds = read_detection(root, strict=False)
    assert ds.classes == ["person", "car"]
    assert where(ds) == [("unknown-class", "p.txt", "line 1")]


def test_yolo_ultralytics_splits(tmp_path: Path) -> None:
    root = tmp_path / "ul"
    for split in ("train", "val"):
        image(root / "images" / split / "x.png", 32, 16)
        (root / "labels" / split).mkdir(parents=True)
        (root / "labels" / split / "x.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames:\n  0: person\n  1: car\n")
    assert find_splits(root) == {"train": root / "images" / "train", "val": root / "images" / "val"}
    ds = read_detection(root, split="val")
    assert ds.classes == ["person", "car"]
    assert ds.images[0].path == root / "images" / "val" / "x.png"
    assert ds.images[0].boxes == [Box(1, 8, 4, 24, 12)]
    # A class list given maps the names file's ids by name; a name it lacks is an unknown class.
    assert read_detection(root, split="val", classes=["car", "person"]).images[0].boxes == [Box(0, 8, 4, 24, 12)]
    ds = read_detection(root, split="val", classes=["person", "bus"], strict=False)
    assert ds.images[0].boxes == [] and where(ds) == [("unknown-class", "x.txt", "line 1")]


NAMES_FORMS = [
    ("names: [cat, \"dog, big\", 'it''s']  # three\nnc: 3\n", ["cat", "dog, big", "it's"]),
    ("train: ../train/images\nnames:\n  - cat\n  - dog  # the second\nnc: 2\n", ["cat", "dog"]),
    ("names:\n  0: person\n  1: car\nother: 1\n", ["person", "car"]),
    ("names: {0: a, 1: b}\n", ["a", "b"]),
    ("names: [\n  a,\n  b\n]\n", ["a", "b"]),
    ("train: ../train/images\nval: ../valid/images\n\nnc: 2\nnames: ['face', 'person']\n\nroboflow:\n"
     "  workspace: w\n  version: 1\n", ["face", "person"]),
    ("nc: 3\n", ["0", "1", "2"]),
]


@pytest.mark.parametrize("with_pyyaml", [True, False])
@pytest.mark.parametrize("text, names", NAMES_FORMS)
def test_data_yaml_names_with_and_without_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 with_pyyaml: bool, text: str, names: list[str]) -> None:
    if not with_pyyaml:
        monkeypatch.setitem(sys.modules, "yaml", None)           # `import yaml` raises ImportError
    (tmp_path / "data.yaml").write_text(text)
    assert yolo_class_names([tmp_path]) == names


@pytest.mark.parametrize("with_pyyaml", [True, False])
@pytest.mark.parametrize("text, message", [
    ("names: [a, b]\nnc: 3\n", "says nc: 3 but lists 2 names"),
    ("names:\n  0: a\n  2: b\n", "without gaps"),
    ("train: images\n", "has no `names:` list"),
])
def test_data_yaml_names_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_pyyaml: bool,
                                text: str, message: str) -> None:
    if not with_pyyaml:
        monkeypatch.setitem(sys.modules, "yaml", None)
    (tmp_path / "data.yaml").write_text(text)
    with pytest.raises(DataError, match=message):
        yolo_class_names([tmp_path])


# --- Pascal VOC ---------------------------------------------------------------------------------------

def voc_xml(filename: str, size: tuple[int, int] | None, objects: list[str]) -> str:
    size_xml = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ""
    return f"<annotation><filename>{filename}</filename>{size_xml}{''.join(objects)}</annotation>"


def obj(name: str | None, box: tuple | None) -> str:
    name_xml = f"<name>{name}</name>" if name is not None else ""
    box_xml = ("<bndbox>" + "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True))
               + "</bndbox>") if box is not None else ""
    return f"<object>{name_xml}<difficult>0</difficult>{box_xml}</object>"


def voc_folder(root: Path) -> Path:
    ann = root / "Annotations"
    ann.mkdir(parents=True)
    image(root / "JPEGImages" / "a.png", 64, 48)
    image(root / "JPEGImages" / "b.png", 64, 48)
    image(root / "JPEGImages" / "f.png", 32, 32)
    (ann / "a.xml").write_text(voc_xml("a.png", (64, 48), [
        obj("cat", (8, 8, 24, 24)), obj("dog", (40, 20, 48, 28)),
        obj(None, (1, 1, 5, 5)),                     # object 3: no name
        obj("cat", ("abc", 1, 5, 5)),                # object 4: not a number
        obj("cat", None),                            # object 5: no bndbox
        obj("cat", (10, 10, 10, 20)),                # object 6: zero width
        obj("cat", (70, 10, 80, 20)),                # object 7: outside
        obj("cat", (-5, 0, 10, 10)),                 # object 8: clipped
        obj("bird", (1, 1, 5, 5)),                   # object 9: not one of the classes given
        obj("dog", (30, 30, 20, 40)),                # object 10: negative width
    ]))
    (ann / "b.xml").write_text(voc_xml("renamed.png", (0, 0), [obj("cat", (1, 1, 5, 5))]))   # found by its name
    (ann / "c.xml").write_text("<annotation><object>")
    (ann / "d.xml").write_text("<foo/>")
    (ann / "e.xml").write_text(voc_xml("e.png", (64, 48), [obj("cat", (1, 1, 5, 5)), obj("dog", (1, 1, 5, 5))]))
    (ann / "f.xml").write_text(voc_xml("f.png", (64, 48), [obj("cat", (1, 1, 5, 5))]))
    return root


def test_voc_every_bad_object_is_reported_by_file_and_object(tmp_path: Path) -> None:
    ds = read_detection(voc_folder(tmp_path / "voc"), classes=["cat", "dog"], strict=False)
    assert ds.format == "voc" and ds.classes == ["cat", "dog"]
    assert where(ds) == sorted([
        ("malformed", "a.xml", "object 3"), ("malformed", "a.xml", "object 4"), ("malformed", "a.xml", "object 5"),
        ("empty-box", "a.xml", "object 6"), ("outside", "a.xml", "object 7"), ("clipped", "a.xml", "object 8"),
        ("unknown-class", "a.xml", "object 9"), ("empty-box", "a.xml", "object 10"),
        ("malformed", "c.xml", ""), ("malformed", "d.xml", ""),
        ("missing-image", "e.xml", ""), ("size-mismatch", "f.xml", ""),
    ])
    text = {(p.file.name, p.where): p.message for p in ds.report.problems}
    assert "its 2 objects are left out" in text["e.xml", ""]
    assert "'bird' is not one of the 2 classes: cat, dog" in text["a.xml", "object 9"]
    assert [(im.path.name, im.width, im.height) for im in ds.images] == [("a.png", 64, 48), ("b.png", 64, 48)]
    assert ds.images[0].boxes == [Box(0, 8, 8, 24, 24), Box(1, 40, 20, 48, 28), Box(0, 0, 0, 10, 10)]
    assert ds.images[1].boxes == [Box(0, 1, 1, 5, 5)]          # <size> 0x0: the file's size is used
    assert "width -10 and height 10 px" in text["a.xml", "object 10"]
    with pytest.raises(DataError, match="11 bad annotations"):
        read_detection(tmp_path / "voc", classes=["cat", "dog"])
    # Without a class list the names found are the classes, sorted.
    assert read_detection(tmp_path / "voc", strict=False).classes == ["bird", "cat", "dog"]


def test_voc_beside_layout(tmp_path: Path) -> None:
    image(tmp_path / "z.png", 20, 10)
    (tmp_path / "z.xml").write_text(voc_xml("z.png", (20, 10), [obj("bee", (2, 2, 6, 8))]))
    ds = read_detection(tmp_path)
    assert (ds.format, ds.classes, ds.images[0].boxes) == ("voc", ["bee"], [Box(0, 2, 2, 6, 8)])


def test_format_detection(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no detection annotations found"):
        detect_format(tmp_path)
    image(tmp_path / "z.png", 20, 10)
    (tmp_path / "z.xml").write_text(voc_xml("z.png", (20, 10), [obj("bee", (2, 2, 6, 8))]))
    (tmp_path / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "z.png", "width": 20, "height": 10}],
        "categories": [{"id": 1, "name": "wasp"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}]}))
    with pytest.raises(DataError, match=r"annotations in 2 formats \(coco, voc\)") as e:
        read_detection(tmp_path)
    assert "format=coco" in e.value.hint
    assert read_detection(tmp_path, format="coco").classes == ["wasp"]
    assert read_detection(tmp_path, format="voc").classes == ["bee"]
    with pytest.raises(UsageError, match="unknown detection format 'kitti'"):
        read_detection(tmp_path, format="kitti")
    with pytest.raises(DataError, match="not found"):
        read_detection(tmp_path / "nothing")


# --- centroid grids and the loader -------------------------------------------------------------------

def test_centroid_grid() -> None:
    boxes = [Box(0, 0, 0, 16, 16),          # centroid (8, 8): the first pixel of cell (1, 1)
             Box(1, 80, 40, 96, 56),        # (88, 48): cell (6, 11)
             Box(0, 28, 28, 36, 36),        # (32, 32): cell (4, 4) ...
             Box(1, 31, 31, 33, 33),        # ... shared with a smaller box of class 1: the larger box labels it
             Box(1, 90, 90, 96, 96)]        # (93, 93): the last cell
    grid = centroid_grid(boxes, (96, 96), (12, 12))
    expected = np.zeros((12, 12), np.int32)
    expected[1, 1] = 1
    expected[6, 11] = 2
    expected[4, 4] = 1
    expected[11, 11] = 2
    assert grid.dtype == np.int32
    np.testing.assert_array_equal(grid, expected)
    assert centroid_cells(boxes, (96, 96), (12, 12)) == [(1, 1), (6, 11), (4, 4), (4, 4), (11, 11)]
    # A non-square image on a square grid: the grid spans the image evenly.
    assert centroid_cells([Box(0, 0, 0, 8, 48), Box(2, 88, 40, 96, 48)], (48, 96), (6, 12)) == [(3, 0), (5, 11)]
    wide = centroid_grid([Box(2, 88, 40, 96, 48)], (48, 96), (6, 12))
    assert int(wide[5, 11]) == 3 and int(wide.sum()) == 3
    assert grid_shape(96, 96) == (12, 12) and grid_shape(96, 64, stride=16) == (6, 4)
    with pytest.raises(UsageError, match="100x96 is not a multiple of the grid stride 8") as e:
        grid_shape(100, 96)
    assert "96x96" in e.value.hint and "104x104" in e.value.hint


def test_load_detection_images_grids_and_counts(tmp_path: Path) -> None:
    ds = read_detection(coco_folder(tmp_path / "coco", bad=False))
    prep = Preprocessing(32, 32)
    loaded = load_detection(ds, prep)
    assert loaded.x.shape == (2, 32, 32, 3) and loaded.x.dtype == np.float32
    np.testing.assert_array_equal(loaded.x[0], prep.to_float(ds.images[0].path))
    assert loaded.y.shape == (2, 4, 4) and loaded.y.dtype == np.int32
    # a.png 64x48: cat centroid (16, 16) -> cell (1, 1), dog (44, 24) -> cell (2, 2); b.png: cat (63.875, 0.5) -> (0, 3)
    expected = np.zeros((2, 4, 4), np.int32)
    expected[0, 1, 1] = 1
    expected[0, 2, 2] = 2
    expected[1, 0, 3] = 1
    np.testing.assert_array_equal(loaded.y, expected)
    np.testing.assert_array_equal(loaded.counts, np.array([[1, 1], [1, 0]], np.int32))
    assert loaded.classes == ["cat", "dog"] and loaded.paths == [im.path for im in ds.images]
    assert load_detection(ds, prep, grid_hw=(2, 2)).y.shape == (2, 2, 2)


def test_load_detection_undecodable_image(tmp_path: Path) -> None:
    good = image(tmp_path / "good.png", 16, 16)
    full = image(tmp_path / "big.png", 64, 64)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:60])                      # the header reads, the pixels do not
    ds = DetectionDataset(tmp_path, "coco", ["x"], [AnnotatedImage(good, 16, 16, [Box(0, 0, 0, 8, 8)]),
                                                     AnnotatedImage(cut, 64, 64, [])], DetectionReport())
    with pytest.raises(DataError, match="1 image of .* cannot be decoded; the first: .*cut.png"):
        load_detection(ds, Preprocessing(16, 16))
    loaded = load_detection(ds, Preprocessing(16, 16), strict=False)
    assert loaded.paths == [good] and [p.kind for p in loaded.problems] == ["unreadable-image"]
    np.testing.assert_array_equal(loaded.counts, np.array([[1]], np.int32))


def test_image_size_follows_exif_rotation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6                                             # stored 40x20, shown rotated a quarter turn
    Image.new("RGB", (40, 20)).save(tmp_path / "r.jpg", exif=exif)
    assert image_size(tmp_path / "r.jpg") == (20, 40)
    assert Preprocessing(8, 8).pixels(tmp_path / "r.jpg").shape == (8, 8, 3)   # decoded the same way
    (tmp_path / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "r.jpg", "width": 40, "height": 20}],
        "categories": [{"id": 1, "name": "a"}], "annotations": []}))
    ds = read_detection(tmp_path, strict=False)
    assert where(ds) == [("size-mismatch", "annotations.json", "image id 1")]
    assert "rotated by EXIF" in ds.report.problems[0].message


def test_every_problem_kind_has_a_severity() -> None:
    assert {k.severity for k in PROBLEM_KINDS.values()} == {"error", "warning"}


# --- the crowd demo ------------------------------------------------------------------------------------

def tree_digest(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


def pixel_digests(root: Path) -> set[str]:
    return {hashlib.sha256(np.asarray(Image.open(p)).tobytes()).hexdigest() for p in root.glob("*.png")}


def test_crowd_is_a_valid_coco_counting_set(tmp_path: Path) -> None:
    result = write_demo("crowd", tmp_path / "crowd", count=60, seed=0)
    per_image = result.objects_per_image
    assert result.total == 60 and len(per_image) == 60 and result.counts == {"face": sum(per_image)}
    assert min(per_image) >= 0 and max(per_image) <= crowd.MAX_FACES
    assert min(per_image) <= 1 and max(per_image) >= 14             # the whole range of counts occurs
    ds = read_detection(tmp_path / "crowd")                         # strict: no problem at all
    assert ds.report.problems == [] and ds.format == "coco" and ds.classes == ["face"]
    assert ds.objects_per_image() == per_image
    assert len(list((tmp_path / "crowd").glob("*.png"))) == 60
    for im in ds.images:
        assert (im.width, im.height) == (96, 96)
        with Image.open(im.path) as pil:
            assert pil.mode == "RGB" and pil.size == (96, 96)
        for b in im.boxes:
            side = b.x1 - b.x0
            assert 12 <= side <= 28 and b.y1 - b.y0 == side
        # Counting is well defined: every face has its own cell of the 12x12 grid.
        grid = centroid_grid(im.boxes, (96, 96), (12, 12))
        assert int(np.count_nonzero(grid)) == len(im.boxes)
    loaded = load_detection(ds, Preprocessing(96, 96))
    np.testing.assert_array_equal(loaded.counts[:, 0], np.array(per_image, np.int32))
    np.testing.assert_array_equal(np.count_nonzero(loaded.y, axis=(1, 2)), np.array(per_image))


def test_crowd_is_deterministic(tmp_path: Path) -> None:
    write_demo("crowd", tmp_path / "a", count=6, seed=5)
    write_demo("crowd", tmp_path / "b", count=6, seed=5)
    write_demo("crowd", tmp_path / "c", count=6, seed=6)
    write_demo("crowd", tmp_path / "d", count=9, seed=5)
    a, b, c, d = (tree_digest(tmp_path / x) for x in "abcd")
    assert a == b
    assert not set(a.values()) & set(c.values())
    pngs = {k: v for k, v in a.items() if k.endswith(".png")}
    assert all(d[k] == v for k, v in pngs.items())                # a larger --count keeps the first images


def test_crowd_train_and_test_never_share_a_source_or_an_image(tmp_path: Path) -> None:
    train = write_demo("crowd", tmp_path / "train", count=40, seed=0).path
    test = write_demo("crowd", tmp_path / "test", count=40, seed=7, split="test").path
    assert not pixel_digests(train) & pixel_digests(test)
    a, b = crowd.crowd_sources("train"), crowd.crowd_sources("test")
    digest = lambda arrays: {hashlib.sha256(x.tobytes()).hexdigest() for x in arrays}  # noqa: E731
    assert not set(a.face_ids) & set(b.face_ids) and len(a.face_ids) + len(b.face_ids) == 100
    assert not digest(a.faces) & digest(b.faces)
    assert not set(a.tile_ids) & set(b.tile_ids)
    assert not digest(t for ts in a.tiles.values() for t in ts) & digest(t for ts in b.tiles.values() for t in ts)
    assert len(b.face_ids) >= crowd.MAX_FACES and len(b.tile_ids) >= 10   # the test split has enough sources


def test_crowd_size_option_and_refusals(tmp_path: Path) -> None:
    write_demo("crowd", tmp_path / "big", count=3, size=128)
    ds = read_detection(tmp_path / "big")
    assert {(im.width, im.height) for im in ds.images} == {(128, 128)}
    assert all(16 <= b.x1 - b.x0 <= 37 for im in ds.images for b in im.boxes)
    with pytest.raises(UsageError, match="at least 64, got 48"):
        write_demo("crowd", tmp_path / "small", count=3, size=48)
    with pytest.raises(UsageError, match="--seed must be 0 or more"):
        write_demo("crowd", tmp_path / "neg", count=3, seed=-1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big"]      # nothing left by a refusal


def test_cli_crowd_and_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["datasets", "demo", "crowd", str(tmp_path / "c"), "--count", "4", "--seed", "2"]) == 0
    assert read_detection(tmp_path / "c").objects_per_image() == \
        write_demo("crowd", tmp_path / "lib", count=4, seed=2).objects_per_image
    assert main(["datasets", "check", str(tmp_path / "c")]) == 0
    assert main(["datasets", "check", str(yolo_folder(tmp_path / "yolo"))]) == DataError.exit_code
    assert main(["datasets", "check", str(tmp_path / "yolo"), "--format", "coco"]) == DataError.exit_code
    capsys.readouterr()


def test_reading_boxes_never_imports_tensorflow(tmp_path: Path) -> None:
    """`datasets check` and the readers run where only the light install is (a Pi, a labelling machine)."""
    import subprocess

    coco_folder(tmp_path / "coco", bad=False)
    code = ("import sys\n"
            "from edgeimpro.cli.main import main\n"
            f"assert main(['datasets', 'check', {str(tmp_path / 'coco')!r}]) == 0\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
