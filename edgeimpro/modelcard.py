"""The model card (`model.json`): labels, the one preprocessing definition, quantization, metrics.

Written by train (float model), rewritten by convert (adds int8 quantization and the .tflite sha256),
read by inspect, export, compare and infer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeimpro.errors import ModelError
from edgeimpro.preprocess import Preprocessing

CARD_FORMAT = "edgeimpro-model-card"
CARD_VERSION = 1


@dataclass
class ModelCard:
    labels: list[str]
    preprocessing: Preprocessing
    training: dict[str, Any] = field(default_factory=dict)   # arch, data_dir, epochs, ... and metrics
    quantization: dict[str, Any] = field(default_factory=dict)  # input/output scale and zero point
    conversion: dict[str, Any] = field(default_factory=dict)    # accuracy delta, worst layers
    tflite_sha256: str | None = None
    tflite_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CARD_FORMAT,
            "version": CARD_VERSION,
            "labels": list(self.labels),
            "preprocessing": self.preprocessing.to_dict(),
            "training": self.training,
            "quantization": self.quantization,
            "conversion": self.conversion,
            "tflite": {"file": self.tflite_file, "sha256": self.tflite_sha256},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "model.json") -> ModelCard:
        if d.get("format") != CARD_FORMAT:
            raise ModelError(f"{source} is not an edgeimpro model card",
                             hint="model.json is written by `edgeimpro train` and `edgeimpro convert`")
        if d.get("version", 0) > CARD_VERSION:
            raise ModelError(f"{source} has card version {d['version']}, this edgeimpro reads up to {CARD_VERSION}",
                             hint="upgrade edgeimpro")
        tfl = d.get("tflite") or {}
        return cls(
            labels=list(d.get("labels", [])),
            preprocessing=Preprocessing.from_dict(d["preprocessing"]),
            training=d.get("training", {}),
            quantization=d.get("quantization", {}),
            conversion=d.get("conversion", {}),
            tflite_sha256=tfl.get("sha256"),
            tflite_file=tfl.get("file"),
        )

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelError(f"model card not found: {path}",
                             hint="train with `edgeimpro train` or give --size/--color explicitly") from None
        except json.JSONDecodeError as e:
            raise ModelError(f"model card {path} is not valid JSON: {e}") from None
        return cls.from_dict(d, source=str(path))

    def save(self, path: Path) -> None:
        write_atomic(Path(path), (json.dumps(self.to_dict(), indent=2) + "\n").encode())


def card_path_for(model_path: Path) -> Path:
    """model.json lives beside the model file."""
    return Path(model_path).with_name("model.json")


def find_card(model_path: Path) -> ModelCard | None:
    """The card beside a model, or None when there is none."""
    p = card_path_for(model_path)
    return ModelCard.load(p) if p.exists() else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)   # mkstemp makes 0600; these are ordinary user files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

