"""Shared fixtures: the MLPerf Tiny models in ../shared/models, a cross-worker build cache, --port/--board."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = ROOT.parent / "shared" / "models"
# Built artefacts (trained demo models, single-op models, host builds) shared by xdist workers and runs.
CACHE_DIR = Path(os.environ.get("EDGEIMPRO_TEST_CACHE", ROOT / ".test-cache"))

MLPERF_MODELS = {
    "vww": "vww_96_int8.tflite",
    "resnet8": "pretrainedResnet_quant.tflite",
    "kws": "kws_ref_model.tflite",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--port", default=None, help="serial URL of a real board (enables `hardware` tests)")
    parser.addoption("--board", default=None, help="board name of the real board on --port")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--port"):
        return
    skip = pytest.mark.skip(reason="needs a real board: pytest --port /dev/ttyACM0 --board NAME")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_models() -> Path:
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"shared models folder absent: {SHARED_MODELS}")
    return SHARED_MODELS


def mlperf_model(name: str) -> Path:
    """Path of a shared MLPerf Tiny model (skips when ../shared/models is absent)."""
    p = SHARED_MODELS / MLPERF_MODELS[name]
    if not p.exists():
        pytest.skip(f"shared model absent: {p}")
    return p


def cached(name: str, build: Callable[[Path], None]) -> Path:
    """Build `CACHE_DIR/name` once across xdist workers (file lock); `build(tmp_dir)` fills a folder."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    target = CACHE_DIR / name
    lock = CACHE_DIR / f".{name}.lock"
    with open(lock, "w") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            import shutil
            tmp = CACHE_DIR / f".{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            build(tmp)
            (tmp / ".complete").write_text("ok\n")
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
    return target
