"""A model trained by each `train` preset, converted to int8, runs bit-exact on the AOT runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aot_harness import assert_bit_exact
from conftest import cached

from edgeimpro.datasets.folder import scan_image_folder
from edgeimpro.modelcard import ModelCard

pytestmark = [pytest.mark.host, pytest.mark.slow]

PRESETS = {  # arch -> TrainConfig overrides; 32x32 keeps training and conversion to seconds
    "seed-cnn": {},
    "mobilenet": {"alpha": 0.25},
    "dscnn": {},
    "resnet8": {},
    "mobilenetv2": {"alpha": 0.35, "weights": None},
}


def _shapes(out: Path) -> None:
    from edgeimpro.datasets.demo import write_demo

    write_demo("shapes", out / "shapes", count=24, seed=3)


def preset_model(arch: str) -> Path:
    data = cached("aot-presets-data-v1", _shapes) / "shapes"

    def build(out: Path) -> None:
        from edgeimpro.quantize.converter import convert_model
        from edgeimpro.training.fit import TrainConfig, train

        cfg = TrainConfig(arch=arch, input_size=(32, 32), epochs=1, batch_size=16, patience=0, seed=1,
                          **PRESETS[arch])
        train(data, out / "run", cfg, verbose=0)
        convert_model(out / "run" / "model.keras", out / "int8" / "model.tflite", samples=24, debug_samples=4)

    return cached(f"aot-preset-{arch}-v1", build) / "int8" / "model.tflite"


@pytest.mark.parametrize("arch", list(PRESETS))
def test_trained_preset_bit_exact(arch):
    model = preset_model(arch)
    card = ModelCard.load(model.with_name("model.json"))
    folder = scan_image_folder(card.training["data_dir"])
    real = np.stack([card.preprocessing.to_int8(p) for p, _ in folder.items[::9][:10]])
    assert_bit_exact(model, n=50, seed=11, extra=real)
