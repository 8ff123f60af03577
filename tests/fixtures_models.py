"""Trained models shared by the conversion, export and comparison tests (built once, cached across runs and
xdist workers with conftest.cached). Import the functions; they are not pytest fixtures themselves.

    from fixtures_models import trained_shapes_model
    run = trained_shapes_model()        # RUN_DIR: model.keras, model.json, labels.txt, ...
    card = ModelCard.load(run / "model.json")
    data_dir = Path(card.training["data_dir"])

The cache names carry a hash of the code that makes them, so a change to the generator, the
preprocessing, the model card, the training or (for the int8 model) the conversion code rebuilds them.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest
from conftest import CACHE_DIR, ROOT, cached

SHAPES_SIZE = 48           # model input; the files are 64x64, so preprocessing resizes
SHAPES_FILE_SIZE = 64
SHAPES_PER_CLASS = 300
SHAPES_EPOCHS = 20
SHAPES_PATIENCE = 6
SHAPES_VAL_SPLIT = 0.2
SHAPES_SEED = 0
_SOURCES = ("edgeimpro/datasets/demo.py", "edgeimpro/datasets/folder.py", "edgeimpro/preprocess.py",
            "edgeimpro/modelcard.py", "edgeimpro/training/architectures.py", "edgeimpro/training/fit.py")
_CONVERT_SOURCES = ("edgeimpro/quantize/converter.py", "edgeimpro/quantize/data.py")


def _code_hash(sources: tuple[str, ...] = _SOURCES) -> str:
    h = hashlib.sha256()
    for rel in sources:
        h.update((ROOT / rel).read_bytes())
    return h.hexdigest()[:10]


def shapes_data() -> Path:
    """The generated shapes dataset (3 classes x 300 PNGs, 64x64) the shapes model was trained on."""
    from edgeimpro.datasets.demo import write_demo

    return cached(f"shapes-data-{_code_hash()}",
                  lambda tmp: write_demo("shapes", tmp, count=SHAPES_PER_CLASS, seed=SHAPES_SEED,
                                         size=SHAPES_FILE_SIZE))


def trained_shapes_model() -> Path:
    """RUN_DIR of a seed-cnn trained on `shapes_data()` at 48x48 RGB (circle, square, triangle).

    Validation accuracy (recorded in model.json, training.metrics.val_accuracy) is typically > 0.9; its
    card records data_dir, val_split 0.2 and seed 0, so `split_items` reproduces the held-out split.
    """
    if not (CACHE_DIR / f"shapes-run-{_code_hash()}" / ".complete").exists() \
            and importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is needed to train the shapes model")
    data = shapes_data()
    return cached(f"shapes-run-{_code_hash()}", lambda tmp: _train_shapes(data, tmp))


def _train_shapes(data: Path, run_dir: Path) -> None:
    from edgeimpro.training import TrainConfig, train

    config = TrainConfig(arch="seed-cnn", input_size=(SHAPES_SIZE, SHAPES_SIZE), epochs=SHAPES_EPOCHS,
                         batch_size=16, patience=SHAPES_PATIENCE, val_split=SHAPES_VAL_SPLIT, seed=SHAPES_SEED)
    train(data, run_dir, config)


def shapes_int8() -> tuple[Path, Path]:
    """(int8 .tflite with model.json beside it, model.keras) of the trained shapes model."""
    run = trained_shapes_model()

    def convert(d: Path) -> None:
        from edgeimpro.quantize.converter import convert_model

        convert_model(run / "model.keras", d / "model.tflite", samples=50, debug_samples=4)

    name = f"compare-{run.name}-int8-{_code_hash(_CONVERT_SOURCES)}"
    return cached(name, convert) / "model.tflite", run / "model.keras"
