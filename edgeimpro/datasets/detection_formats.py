"""The three readers behind `read_detection`: COCO JSON, YOLO text labels, Pascal VOC XML.

Each takes (folder or file, the class list or None, the report) and returns (class names, images); a problem
in one box or one image goes to the report, a problem that makes the whole dataset unreadable (a COCO file
that is not JSON, a names file that cannot be parsed) is a DataError.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

from edgeimpro.datasets.detection import (
    COCO_FILES,
    AnnotatedImage,
    DetectionReport,
    check_box,
    image_size,
    ultralytics_label_dir,
)
from edgeimpro.errors import DataError
from edgeimpro.preprocess import IMAGE_SUFFIXES

YOLO_NAMES_FILES = ("data.yaml", "data.yml", "classes.txt", "obj.names")
# .txt files beside YOLO images that are not label files: class lists, Darknet's image lists, read-mes
YOLO_OTHER_TXT = re.compile(r"^(classes|train|val|valid|test)\.txt$|^readme", re.IGNORECASE)


def _is_id(v: object) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, str)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _class_list(names: list[str]) -> str:
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f"{len(names)} class{'es' if len(names) != 1 else ''}: {shown}" if names else "no classes"


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _file_size(path: Path, report: DetectionReport, file: Path, where: str, boxes: int
               ) -> tuple[int, int] | None:
    """The image's (width, height), or None with a missing-image / unreadable-image problem in `report`."""
    left_out = f"; its {boxes} box{'es are' if boxes != 1 else ' is'} left out" if boxes else ""
    try:
        return image_size(path)
    except FileNotFoundError:
        report.add("missing-image", file, where, f"image file {path} not found{left_out}", path)
    except DataError as e:
        report.add("unreadable-image", file, where, e.message + left_out, path)
    return None


def _size_agrees(declared: tuple[int, int], actual: tuple[int, int], path: Path, report: DetectionReport,
                 file: Path, where: str, boxes: int) -> bool:
    if declared == actual:
        return True
    report.add("size-mismatch", file, where,
               f"the annotations give {declared[0]}x{declared[1]} for {path.name}, the file is "
               f"{actual[0]}x{actual[1]} (resized, or rotated by EXIF, after annotation); its {boxes} "
               f"box{'es are' if boxes != 1 else ' is'} left out", path)
    return False


# --- COCO -----------------------------------------------------------------------------------------

def read_coco(path: Path, classes: list[str] | None, report: DetectionReport
              ) -> tuple[list[str], list[AnnotatedImage]]:
    json_path = path if path.is_file() else next((path / n for n in COCO_FILES if (path / n).is_file()), None)
    if json_path is None:
        raise DataError(f"no COCO annotations in {path}: neither {' nor '.join(COCO_FILES)} is there",
                        hint="give the folder that holds the .json file, or the file itself")
    data = _load_json(json_path)
    annotations = data.get("annotations", [])
    if not isinstance(annotations, list):
        raise DataError(f"{json_path}: 'annotations' is not a list", hint="re-export the dataset in COCO format")
    cats = _coco_categories(json_path, data["categories"], annotations, report)
    names = list(classes) if classes is not None else list(dict.fromkeys(cats.values()))
    index = {name: k for k, name in reversed(list(enumerate(names)))}     # the first of a repeated name
    per_image = Counter(a.get("image_id") for a in annotations if isinstance(a, dict) and _is_id(a.get("image_id")))
    by_id = _coco_images(json_path, data["images"], per_image, report)
    for i, a in enumerate(annotations):
        where = f"annotation id {a['id']}" if isinstance(a, dict) and _is_id(a.get("id")) else f"annotations[{i}]"
        if not isinstance(a, dict):
            report.add("malformed", json_path, where, f"an annotation must be an object, got {type(a).__name__}")
            continue
        image_id, cat, bbox = a.get("image_id"), a.get("category_id"), a.get("bbox")
        if not _is_id(image_id) or image_id not in by_id:
            report.add("malformed", json_path, where, f"image_id {image_id!r} is not an image of the file")
            continue
        im = by_id[image_id]
        if im is None:                  # the image's own problem counted this box
            continue
        if not _is_id(cat) or cat not in cats:
            report.add("unknown-class", json_path, where,
                       f"category_id {cat!r} is not a category of the file ({_class_list(list(cats.values()))})",
                       im.path)
            continue
        if cats[cat] not in index:
            report.add("unknown-class", json_path, where,
                       f"category {cats[cat]!r} is not one of the {_class_list(names)}", im.path)
            continue
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
            report.add("malformed", json_path, where, f"bbox must be 4 numbers [x, y, width, height], got {bbox!r}",
                       im.path)
            continue
        if a.get("iscrowd"):
            report.add("crowd-region", json_path, where,
                       "an iscrowd region marks many objects with one box: left out, no centroid can count it",
                       im.path)
            continue
        x, y, w, h = (float(v) for v in bbox)
        box = check_box(index[cats[cat]], x, y, x + w, y + h, im.width, im.height, report, json_path, where, im.path)
        if box is not None:
            im.boxes.append(box)
    return names, [im for im in by_id.values() if im is not None]


def _load_json(json_path: Path) -> dict:
    try:
        data = json.loads(json_path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise DataError(f"{json_path} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                        hint="re-export the annotations, or repair the file at that place") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{json_path} is not UTF-8 text ({e.reason} at byte {e.start})",
                        hint="re-export the annotations as UTF-8 JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("categories"), list):
        raise DataError(f"{json_path} is not a COCO detection file: it needs the lists 'images', 'categories' "
                        "and 'annotations'", hint="re-export the dataset in COCO format")
    return data


def _coco_categories(json_path: Path, entries: list, annotations: list, report: DetectionReport
                     ) -> dict[object, str]:
    """category id -> name, in id order, without Roboflow's workspace placeholder (a category that is only
    the supercategory of the others and marks no object)."""
    cats: dict[object, tuple[str, object]] = {}
    for i, c in enumerate(entries):
        cid = c.get("id") if isinstance(c, dict) else None
        name = c.get("name") if isinstance(c, dict) else None
        if not _is_id(cid) or not isinstance(name, str) or not name.strip():
            report.add("malformed", json_path, f"categories[{i}]",
                       f"a category needs an id and a non-empty name, got {c!r}")
        elif cid in cats:
            report.add("malformed", json_path, f"categories[{i}]", f"category id {cid!r} appears twice")
        else:
            cats[cid] = (name.strip(), c.get("supercategory"))
    used = {a.get("category_id") for a in annotations if isinstance(a, dict) and _is_id(a.get("category_id"))}
    placeholders = {cid for cid, (name, _) in cats.items()
                    if cid not in used and any(sup == name for oid, (_, sup) in cats.items() if oid != cid)}
    order = sorted(cats, key=lambda cid: (isinstance(cid, str), cid if isinstance(cid, int) else 0, str(cid)))
    return {cid: cats[cid][0] for cid in order if cid not in placeholders}


def _coco_images(json_path: Path, entries: list, per_image: Counter, report: DetectionReport
                 ) -> dict[object, AnnotatedImage | None]:
    """image id -> image; None for an image with a problem (its boxes are counted in that problem)."""
    folder = json_path.parent
    by_id: dict[object, AnnotatedImage | None] = {}
    for i, e in enumerate(entries):
        iid = e.get("id") if isinstance(e, dict) else None
        where = f"image id {iid}" if _is_id(iid) else f"images[{i}]"
        name = e.get("file_name") if isinstance(e, dict) else None
        if not _is_id(iid) or not isinstance(name, str) or not name:
            report.add("malformed", json_path, where, f"an image needs an id and a file_name, got {e!r}")
            continue
        if iid in by_id:
            report.add("malformed", json_path, where, f"image id {iid!r} appears twice; the first is kept")
            continue
        by_id[iid] = None
        boxes = per_image[iid]
        declared = (e.get("width"), e.get("height"))
        if not all(v is None or (_is_number(v) and math.isfinite(v) and v > 0 and v == int(v)) for v in declared):
            report.add("malformed", json_path, where,
                       f"width and height must be positive whole numbers, got {declared[0]!r} x {declared[1]!r}; "
                       f"its {boxes} boxes are left out")
            continue
        path = folder / name
        if not path.is_file() and (folder / "images" / name).is_file():
            path = folder / "images" / name
        size = _file_size(path, report, json_path, where, boxes)
        if size is None:
            continue
        if None not in declared and not _size_agrees((int(declared[0]), int(declared[1])), size, path, report,
                                                     json_path, where, boxes):
            continue
        by_id[iid] = AnnotatedImage(path, size[0], size[1], [])
    return by_id


# --- YOLO -----------------------------------------------------------------------------------------

def read_yolo(folder: Path, classes: list[str] | None, report: DetectionReport
              ) -> tuple[list[str], list[AnnotatedImage]]:
    if (folder / "images").is_dir():
        image_dir, label_dir = folder / "images", folder / "labels"
    else:
        image_dir, label_dir = folder, ultralytics_label_dir(folder) or folder
    file_names = yolo_class_names([folder, label_dir, folder.parent, folder.parent.parent])
    parsed: list[tuple[Path, tuple[int, int], Path, list[tuple[int, int, list[float]]]]] = []
    matched: set[Path] = set()
    for image in _images_under(image_dir):
        label = label_dir / image.relative_to(image_dir).with_suffix(".txt")
        matched.add(label)
        lines = _read_label_file(label, image, report) if label.is_file() else None
        size = _file_size(image, report, image, "", len(lines or []))
        if size is None:
            continue
        if lines is None:
            if not label.is_file():
                report.add("no-labels", image, "", f"no label file {label}: read as an image with no objects",
                           image)
                parsed.append((image, size, label, []))
            continue
        parsed.append((image, size, label, lines))
    for label in sorted(label_dir.rglob("*.txt")) if label_dir.is_dir() else []:
        if label not in matched and not YOLO_OTHER_TXT.search(label.name):
            n = sum(1 for line in label.read_text(errors="replace").splitlines() if line.strip())
            report.add("missing-image", label, "",
                       f"no image for this label file in {image_dir}; its {n} line{'s are' if n != 1 else ' is'} "
                       "left out")
    names, to_index = _yolo_classes(file_names, classes, parsed)
    images = []
    for image, (w, h), label, lines in parsed:
        im = AnnotatedImage(image, w, h, [])
        for lineno, cls, (cx, cy, bw, bh) in lines:
            where = f"line {lineno}"
            k = to_index(cls)
            if k is None:
                report.add("unknown-class", label, where, f"class id {cls} is not one of the {_class_list(names)}",
                           image)
                continue
            note = " (values above 1: pixel coordinates instead of 0..1?)" if max(cx, cy, bw, bh) > 1 else ""
            box = check_box(k, (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h,
                            w, h, report, label, where, image, note)
            if box is not None:
                im.boxes.append(box)
        images.append(im)
    return names, images


def _read_label_file(label: Path, image: Path, report: DetectionReport
                     ) -> list[tuple[int, int, list[float]]] | None:
    """(line number, class id, [cx, cy, w, h]) of each well-formed line; None if the file is not text."""
    try:
        text = label.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        report.add("malformed", label, "", f"not a text file ({e.reason} at byte {e.start}); the image is left out",
                   image)
        return None
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {lineno}"
        if len(fields) != 5:
            polygon = " (a segmentation polygon? export boxes)" if len(fields) > 5 and len(fields) % 2 else ""
            report.add("malformed", label, where,
                       f"expected 5 fields `class cx cy w h`, got {len(fields)}{polygon}: {line.strip()[:80]!r}", image)
            continue
        try:
            cls = int(fields[0])
        except ValueError:
            report.add("malformed", label, where, f"class id {fields[0][:20]!r} is not a whole number", image)
            continue
        try:
            values = [float(v) for v in fields[1:]]
        except ValueError:
            report.add("malformed", label, where, f"cx cy w h must be numbers, got {' '.join(fields[1:])[:60]!r}",
                       image)
            continue
        if not all(math.isfinite(v) for v in values):
            report.add("malformed", label, where, f"cx cy w h must be finite, got {' '.join(fields[1:])!r}", image)
            continue
        out.append((lineno, cls, values))
    return out


def _yolo_classes(file_names: list[str] | None, classes: list[str] | None, parsed: list):
    """The class names and a function from a label's class id to a class index (None: unknown)."""
    if classes is not None:
        index = {name: k for k, name in reversed(list(enumerate(classes)))}
        if file_names is not None:
            return classes, lambda c: index.get(file_names[c]) if 0 <= c < len(file_names) else None
        return classes, lambda c: c if 0 <= c < len(classes) else None
    if file_names is not None:
        return file_names, lambda c: c if 0 <= c < len(file_names) else None
    ids = [c for _, _, _, lines in parsed for _, c, _ in lines if c >= 0]
    names = [str(i) for i in range(max(ids) + 1)] if ids else []
    return names, lambda c: c if c >= 0 else None


def yolo_class_names(folders: list[Path]) -> list[str] | None:
    """The class names of the first names file (data.yaml, data.yml, classes.txt, obj.names) in `folders`,
    searched in order; None when there is none."""
    seen = set()
    for folder in folders:
        if folder in seen:
            continue
        seen.add(folder)
        for name in YOLO_NAMES_FILES:
            path = folder / name
            if path.is_file():
                return _yaml_names(path) if path.suffix in (".yaml", ".yml") else _lines_names(path)
    return None


def _lines_names(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if "" in lines:
        raise DataError(f"{path} line {lines.index('') + 1} is empty: a class list has one name per line",
                        hint="remove the empty line (the ids after it would shift by one)")
    return lines


def _yaml_names(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        import yaml
    except ImportError:
        names, nc = simple_yaml_names(text, path)
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise DataError(f"{path} is not valid YAML: {str(e).splitlines()[0]}",
                            hint="repair the file; class names go in `names: [a, b]`") from None
        data = data if isinstance(data, dict) else {}
        names, nc = data.get("names"), data.get("nc")
    return _check_names(names, nc, path)


def _check_names(names: object, nc: object, path: Path) -> list[str]:
    if isinstance(names, dict):
        keys = sorted(names, key=str)
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise DataError(f"{path}: the keys of `names:` must be class ids 0, 1, ..., got {keys[:5]}") from None
        if ids != list(range(len(ids))):
            raise DataError(f"{path}: the ids of `names:` must run 0..{len(ids) - 1} without gaps, got {ids[:10]}")
        names = [names[k] for k in sorted(names, key=int)]
    if names is None and (isinstance(nc, int) and not isinstance(nc, bool)) and nc > 0:
        return [str(i) for i in range(nc)]
    if not isinstance(names, list) or not names:
        raise DataError(f"{path} has no `names:` list of classes", hint="add `names: [first, second, ...]`")
    out = [str(n).strip() for n in names]
    if "" in out:
        raise DataError(f"{path}: class {out.index('')} has an empty name", hint="give every class a name")
    if nc is not None and nc != len(out):
        raise DataError(f"{path} says nc: {nc} but lists {len(out)} names", hint="make nc equal the number of names")
    return out


def simple_yaml_names(text: str, path: Path) -> tuple[object, object]:
    """(`names`, `nc`) of a data.yaml without PyYAML: `names:` as a flow list `[a, 'b']`, a flow map
    `{0: a}`, a block list (`- a` lines) or a block map (`0: a` lines); `nc:` a whole number."""
    lines = text.splitlines()
    nc = None
    names: object = None
    for i, line in enumerate(lines):
        m = re.match(r"^nc\s*:\s*(\d+)\s*(#.*)?$", line)
        if m:
            nc = int(m.group(1))
        m = re.match(r"^names\s*:(.*)$", line)
        if not m:
            continue
        rest = _strip_comment(m.group(1)).strip()
        if rest:
            j = i
            while rest.count("[") + rest.count("{") > rest.count("]") + rest.count("}") and j + 1 < len(lines):
                j += 1
                rest += " " + _strip_comment(lines[j]).strip()
            names = _flow(rest, path)
        else:
            names = _block(lines[i + 1:], path)
    return names, nc


def _strip_comment(s: str) -> str:
    quote = None
    for i, ch in enumerate(s):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i]
    return s


def _split_flow(body: str) -> list[str]:
    items, cur, quote = [], "", None
    for ch in body:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            items.append(cur)
            cur = ""
            continue
        cur += ch
    items.append(cur)
    return [it.strip() for it in items if it.strip()]


def _scalar(s: str, path: Path) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1].replace("''", "'")
    if len(s) >= 2 and s[0] == s[-1] == '"':
        try:
            return json.loads(s)
        except json.JSONDecodeError:
            raise DataError(f"{path}: cannot read the quoted name {s[:40]}",
                            hint="install PyYAML, or write the name without escapes") from None
    return s


def _key_value(item: str, path: Path) -> tuple[str, str]:
    key, sep, value = item.partition(":")
    if not sep:
        raise DataError(f"{path}: expected `id: name` in `names:`, got {item[:40]!r}")
    return _scalar(key, path), _scalar(value, path)


def _flow(rest: str, path: Path) -> object:
    if rest.startswith("[") and rest.endswith("]"):
        return [_scalar(it, path) for it in _split_flow(rest[1:-1])]
    if rest.startswith("{") and rest.endswith("}"):
        return dict(_key_value(it, path) for it in _split_flow(rest[1:-1]))
    raise DataError(f"{path}: cannot read `names: {rest[:40]}`",
                    hint="write `names: [a, b]` or one `- name` per line (or install PyYAML)")


def _block(lines: list[str], path: Path) -> object:
    items: list[str] = []
    pairs: list[tuple[str, str]] = []
    for line in lines:
        body = _strip_comment(line)
        if not body.strip():
            continue
        if not body[0].isspace() and not body.startswith("-"):
            break                        # the next top-level key
        body = body.strip()
        if body.startswith("- ") or body == "-":
            items.append(_scalar(body[1:], path))
        else:
            pairs.append(_key_value(body, path))
    if items and pairs:
        raise DataError(f"{path}: `names:` mixes `- name` and `id: name` lines")
    return dict(pairs) if pairs else items


# --- Pascal VOC -----------------------------------------------------------------------------------

def read_voc(folder: Path, classes: list[str] | None, report: DetectionReport
             ) -> tuple[list[str], list[AnnotatedImage]]:
    if (folder / "Annotations").is_dir():
        xml_files = sorted((folder / "Annotations").rglob("*.xml"))
        image_dirs = [folder / "JPEGImages", folder / "images"]
    else:
        xml_files = sorted(folder.glob("*.xml"))
        image_dirs = [folder]
    records = [r for r in (_parse_voc(x, image_dirs, report) for x in xml_files) if r is not None]
    names = list(classes) if classes is not None else sorted({o[1] for r in records for o in r[3]})
    index = {name: k for k, name in reversed(list(enumerate(names)))}
    images = []
    for xml, image, declared, objects in records:
        size = _file_size(image, report, xml, "", len(objects))
        if size is None or (declared is not None and not _size_agrees(declared, size, image, report, xml, "",
                                                                      len(objects))):
            continue
        im = AnnotatedImage(image, size[0], size[1], [])
        for idx, name, coords in objects:
            where = f"object {idx}"
            if name not in index:
                report.add("unknown-class", xml, where, f"class {name!r} is not one of the {_class_list(names)}", image)
                continue
            box = check_box(index[name], *coords, size[0], size[1], report, xml, where, image)
            if box is not None:
                im.boxes.append(box)
        images.append(im)
    return names, images


def _parse_voc(xml: Path, image_dirs: list[Path], report: DetectionReport):
    """(xml, image path, declared (width, height) or None, [(object number, name, (x0, y0, x1, y1))])."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as e:
        report.add("malformed", xml, "", f"not valid XML ({e}); its image is left out")
        return None
    if root.tag != "annotation":
        report.add("malformed", xml, "", f"the root element is <{root.tag[:30]}>, not <annotation>; left out")
        return None
    objects = []
    for idx, obj in enumerate(root.findall("object"), 1):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        try:
            coords = tuple(float(box.findtext(k) or "") for k in ("xmin", "ymin", "xmax", "ymax")) \
                if box is not None else None
        except ValueError:
            coords = None
        if not name or coords is None:
            what = "<name>" if not name else "<bndbox> with numeric xmin, ymin, xmax and ymax"
            report.add("malformed", xml, f"object {idx}", f"the object has no {what}; left out")
            continue
        objects.append((idx, name, coords))
    image = _voc_image(xml, (root.findtext("filename") or "").strip(), image_dirs + [xml.parent])
    if image is None:
        report.add("missing-image", xml, "",
                   f"image {root.findtext('filename') or xml.stem + '.*'} not found in "
                   f"{', '.join(str(d) for d in dict.fromkeys(image_dirs + [xml.parent]))}; its {len(objects)} "
                   f"object{'s are' if len(objects) != 1 else ' is'} left out")
        return None
    return xml, image, _voc_size(root), objects


def _voc_image(xml: Path, filename: str, dirs: list[Path]) -> Path | None:
    """The image named by <filename>, else the image with the .xml file's name, in the first folder that has it."""
    for d in dirs:
        if filename and Path(filename).name == filename and (d / filename).is_file():
            return d / filename
    for d in dirs:
        for suffix in IMAGE_SUFFIXES:
            for candidate in (d / (xml.stem + suffix), d / (xml.stem + suffix.upper())):
                if candidate.is_file():
                    return candidate
    return None


def _voc_size(root) -> tuple[int, int] | None:
    """<size> as (width, height); None when absent or zero (common in exported files): the file's own is used."""
    try:
        w, h = int(float(root.findtext("size/width") or 0)), int(float(root.findtext("size/height") or 0))
    except ValueError:
        return None
    return (w, h) if w > 0 and h > 0 else None
