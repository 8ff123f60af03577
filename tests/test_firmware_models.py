"""Generated models on the emulated boards: MLPerf Tiny ResNet-8 exported to AOT C, built for each QEMU board,
20 inputs through Device.infer bit-identical to the host build of the same C (and to tflite_micro when it is
installed), instruction counts identical in a second QEMU run, and every layer's output over LAYER."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest
from conftest import ROOT, cached, mlperf_model
from linkkit import QEMU_BOARDS, sources_digest

from edgeimpro.link.emulator import Emulator

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)"),
]


def resnet8_export():
    from edgeimpro.codegen.aot import export_aot

    model = mlperf_model("resnet8")
    key = sources_digest(ROOT / "edgeimpro" / "codegen")
    return model, cached(f"aot-resnet8-{key}", lambda d: export_aot(model, d / "model", measure_tflm=False)) / "model"


def expected_outputs(model, x: np.ndarray) -> np.ndarray:
    if importlib.util.find_spec("tflite_micro") is not None:
        from edgeimpro.references import TflmReference

        return TflmReference(model).run(x)
    from edgeimpro.run import run_host

    return run_host(model, [x]).outputs["output_0"]


@pytest.mark.parametrize("board", [pytest.param(b, marks=pytest.mark.xdist_group(f"qemu-{b}")) for b in QEMU_BOARDS])
def test_resnet8_bit_exact_on_emulated_board(board: str) -> None:
    """20 inputs on qemu-m4, 6 on the others (each inference is ~0.35 s of emulation and link)."""
    n = 20 if board == "qemu-m4" else 6
    from edgeimpro.boards.build import build_firmware

    model, model_dir = resnet8_export()
    build = cached(f"fw-resnet8-{board}-{sources_digest(model_dir)}", lambda d: build_firmware(board, model_dir, d, jobs=2))
    x = np.random.default_rng(20).integers(-128, 128, (n, 32, 32, 3), dtype=np.int8)
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
    assert min(counts) > 50_000_000
    with Emulator(board, build) as again:
        assert [again.device.infer(x[i:i + 1]).instructions for i in range(3)] == counts[:3]
