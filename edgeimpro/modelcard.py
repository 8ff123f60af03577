"""The model card (`model.json`): labels, the one preprocessing definition, quantization, metrics.

Written by train (float model), rewritten by convert (adds int8 quantization and the .tflite sha256),
read by inspect, export, compare and infer.

`task` says what the output means: "classify" (one score per label) or "detect" (a FOMO-style centroid
grid: per-cell scores for background and each label, described by the "detection" section, which
`detect_metrics.DetectionHead` reads). Cards written before `task` existed are classifiers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeimpro.detect_metrics import DetectionHead
from edgeimpro.errors import DataError, ModelError
from edgeimpro.preprocess import Preprocessing

CARD_FORMAT = "edgeimpro-model-card"
CARD_VERSION = 1
TASKS = ("classify", "detect")


@dataclass
class ModelCard:
    labels: list[str]
    preprocessing: Preprocessing
    # arch, data_dir, options, metrics, ...; "input": the input size/colour and why (datashape.InputChoice);
    # "collapse": did the model learn anything (collapse.CollapseCheck: collapsed, reasons, numbers). Cards
    # written before a key existed lack it: readers treat a missing key as "not recorded".
    training: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)  # input/output scale and zero point
    conversion: dict[str, Any] = field(default_factory=dict)    # accuracy delta, worst layers, int8 collapse
    tflite_sha256: str | None = None
    tflite_file: str | None = None
    task: str = "classify"                                      # one of TASKS
    detection: dict[str, Any] | None = None                     # task "detect": DetectionHead.to_dict()

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ModelError(f"unknown task {self.task!r} in the model card",
                             hint=f"a card's task is one of {', '.join(TASKS)}; upgrade edgeimpro if it is newer")
        if self.task == "detect" and not self.detection:
            raise ModelError("the model card says task detect but has no detection section",
                             hint="re-run `edgeimpro train --task detect` to write a complete card")

    @property
    def is_detector(self) -> bool:
        return self.task == "detect"

    def detection_head(self) -> DetectionHead:
        """The detector's grid, classes, threshold and loss weighting (a ModelError for a classifier)."""
        if not self.is_detector or self.detection is None:
            raise ModelError("the model card describes a classifier, not a detector",
                             hint="train a detector with `edgeimpro train DATA --task detect --arch fomo`")
        return DetectionHead.from_dict(self.detection)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CARD_FORMAT,
            "version": CARD_VERSION,
            "task": self.task,
            "labels": list(self.labels),
            "preprocessing": self.preprocessing.to_dict(),
            "training": self.training,
            "quantization": self.quantization,
            "conversion": self.conversion,
            "tflite": {"file": self.tflite_file, "sha256": self.tflite_sha256},
            **({"detection": self.detection} if self.detection is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "model.json") -> ModelCard:
        if d.get("format") != CARD_FORMAT:
            raise ModelError(f"{source} is not an edgeimpro model card",
                             hint="model.json is written by `edgeimpro train` and `edgeimpro convert`")
        if d.get("version", 0) > CARD_VERSION:
            raise ModelError(f"{source} has card version {d['version']}, this edgeimpro reads up to {CARD_VERSION}",
                             hint="upgrade edgeimpro")
        if not isinstance(d.get("preprocessing"), dict):
            raise ModelError(f"{source} has no preprocessing section",
                             hint="re-run `edgeimpro convert` (or `edgeimpro train`) to write a complete card")
        tfl = d.get("tflite") or {}
        return cls(
            labels=list(d.get("labels", [])),
            preprocessing=Preprocessing.from_dict(d["preprocessing"]),
            training=d.get("training", {}),
            quantization=d.get("quantization", {}),
            conversion=d.get("conversion", {}),
            tflite_sha256=tfl.get("sha256"),
            tflite_file=tfl.get("file"),
            task=d.get("task", "classify"),
            detection=d.get("detection"),
        )

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelError(f"model card not found: {path}",
                             hint="model.json is written beside the model by `edgeimpro train` and "
                                  "`edgeimpro convert`") from None
        except json.JSONDecodeError as e:
            raise ModelError(f"model card {path} is not valid JSON: {e}") from None
        return cls.from_dict(d, source=str(path))

    def to_bytes(self) -> bytes:
        """The card as written to model.json."""
        return (json.dumps(self.to_dict(), indent=2) + "\n").encode()

    def save(self, path: Path) -> None:
        write_atomic(Path(path), self.to_bytes())


def card_path_for(model_path: Path) -> Path:
    """model.json lives beside the model file."""
    return Path(model_path).with_name("model.json")


def find_card(model_path: Path) -> ModelCard | None:
    """The card beside a model, or None when there is none."""
    p = card_path_for(model_path)
    return ModelCard.load(p) if p.exists() else None


LABELS_FILE = "labels.txt"   # one class name per line, beside the model (what `train` writes)


def read_class_names(path: Path | str) -> list[str]:
    """One class name per line (blank lines skipped): --class-names FILE, or labels.txt."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"class names file not found: {path}", hint="one class name per line, in output order")
    return [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]


def class_names_for(model_path: Path, card: ModelCard | None, classes: int,
                    given: list[str] | None = None) -> tuple[list[str], str]:
    """The names of a model's `classes` outputs and where they came from: `given` (--class-names), the model
    card's labels, labels.txt beside the model, else the class indices."""
    candidates = [(given, "--class-names"), (card.labels if card is not None else None, "model.json")]
    txt = Path(model_path).with_name(LABELS_FILE)
    if not given and (card is None or not card.labels) and txt.is_file():
        candidates.append((read_class_names(txt), str(txt)))
    for names, origin in candidates:
        if names:
            if len(names) != classes:
                raise ModelError(f"{origin} lists {len(names)} class names; the model has {classes} outputs",
                                 hint="the names belong to another model: give the right file, or re-run "
                                      "`edgeimpro convert`")
            return list(names), origin
    return [str(i) for i in range(classes)], "class indices (no names: give --class-names FILE)"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write one file via a temporary sibling and a rename: never a half-written file."""
    write_all_or_nothing([(Path(path), data)])


def write_all_or_nothing(files: list[tuple[Path, bytes]]) -> None:
    """Write several files so that either all are replaced or none is, even on Ctrl-C.

    Every file goes to a hidden temporary sibling first (the slow part). Then each is renamed into place
    in the given order, the previous version kept as a hard link until the end; an exception or
    KeyboardInterrupt during the renames puts back the previous versions. Give the file that describes the
    others (model.json, which holds the .tflite's sha256) last. A replaced file keeps its permissions.
    """
    files = [(Path(p), data) for p, data in files]
    created_dirs: list[Path] = []     # folders made here, deepest first: removed again on failure
    for path, _ in files:
        parent = path.parent.absolute()
        created_dirs += [d for d in (parent, *parent.parents) if not d.exists() and d not in created_dirs]
        parent.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    swapped: list[tuple[Path, Path | None]] = []   # (target, backup of the previous version or None)
    try:
        for path, data in files:
            temps.append(_write_temp(path, data))
        for (path, _), tmp in zip(files, temps, strict=True):
            backup = _backup(path) if path.exists() else None
            swapped.append((path, backup))
            os.replace(tmp, path)
    except BaseException:
        for path, backup in reversed(swapped):
            if backup is None:
                path.unlink(missing_ok=True)
            elif path.exists() and os.path.samefile(backup, path):
                backup.unlink()   # not replaced yet (and rename() between two links of one file is a no-op)
            else:
                os.replace(backup, path)
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        for d in created_dirs:
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    for _, backup in swapped:
        if backup is not None:
            backup.unlink(missing_ok=True)


def _write_temp(path: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _mode_for(path))     # mkstemp makes 0600; the result should look like any file written
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _mode_for(path: Path) -> int:
    """The existing file's permissions, else the usual 0666 minus the umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _backup(path: Path) -> Path:
    """A second name for the current file (hard link; a copy where links are not supported)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".bak", dir=path.parent)
    os.close(fd)
    os.unlink(name)
    try:
        os.link(path, name)
    except OSError:
        shutil.copy2(path, name)
    return Path(name)
