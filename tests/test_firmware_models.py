"""Generated models on the emulated boards: a model trained here (shapes), MLPerf Tiny ResNet-8 and, where the
board's memory allows, VWW, each exported to AOT C and built for each QEMU board; 20 inputs through
Device.infer bit-identical to tflite_micro, instruction counts identical in a second QEMU run, and every
layer's output over LAYER."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import ROOT, cached, mlperf_model
from fixtures_models import shapes_int8
from linkkit import QEMU_BOARDS, sources_digest

from edgeimpro.graph import load_graph
from edgeimpro.link.emulator import Emulator

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)"),
]


def export_for(name: str):
    """(model .tflite, AOT export folder) of a test model: shapes (trained here), resnet8 or vww."""
    from edgeimpro.codegen.aot import export_aot

    model = shapes_int8()[0] if name == "shapes" else mlperf_model(name)
    codegen = sources_digest(ROOT / "edgeimpro" / "codegen")   # a generator change re-exports
    key = f"aot-{name}-{model.parent.name}-{codegen}" if name == "shapes" else f"aot-{name}-{codegen}"
    return model, cached(key, lambda d: export_aot(model, d / "model", measure_tflm=False)) / "model"


def expected_outputs(model, x: np.ndarray) -> np.ndarray:
    from edgeimpro.references import TflmReference

    return TflmReference(model).run(x)


CASES = [(m, b) for m in ("shapes", "resnet8") for b in QEMU_BOARDS] + [("vww", "stm32f405")]


@pytest.mark.parametrize("name,board", [pytest.param(m, b, marks=pytest.mark.xdist_group(f"qemu-{b}"))
                                        for m, b in CASES])
def test_model_bit_exact_on_emulated_board(name: str, board: str) -> None:
    """20 inputs (the int8 extremes, then random) per model and board; the counts repeat in a new QEMU."""
    from edgeimpro.boards.build import build_firmware

    n = 20
    model, model_dir = export_for(name)
    # keyed by the firmware sources too: a change in app/, boards/ or runtime/ rebuilds
    build = cached(f"fw-{model_dir.parent.name}-{board}-{sources_digest()}",
                   lambda d: build_firmware(board, model_dir, d, jobs=2))
    shape = load_graph(model).input_tensors[0].shape[1:]
    x = np.random.default_rng(20).integers(-128, 128, (n, *shape), dtype=np.int8)
    x[0], x[1] = -128, 127
    want = expected_outputs(model, x)
    with Emulator(board, build) as emu:
        emu.device.check_model(model)
        counts = []
        for i in range(n):
            r = emu.device.infer(x[i:i + 1])
            np.testing.assert_array_equal(r.outputs[0].reshape(-1), want[i].reshape(-1))
            counts.append(r.instructions)
        dump = emu.device.layers(x[:1])
        assert len(dump.layers) == emu.device.info().num_layers
        np.testing.assert_array_equal(dump.layers[max(dump.layers)].data, want[0].reshape(-1))
    assert min(counts) > 1_000_000
    with Emulator(board, build) as again:
        assert [again.device.infer(x[i:i + 1]).instructions for i in range(3)] == counts[:3]
