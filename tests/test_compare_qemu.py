"""`edgeimpro compare` end to end on the emulated qemu-m4 board: 100% exact on a trained shapes model (an
image folder with labels, the Keras reference, the report) and on ResNet-8 (.npy inputs); a firmware with a
deliberately perturbed layer is caught and --layers names that layer; a run whose emulator is killed
resumes without losing or repeating an input. Firmware builds are cached in the test cache."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import CACHE_DIR, ROOT, mlperf_model
from fixtures_models import shapes_data, shapes_int8
from test_compare import check_report

from edgeimpro.cli.main import main
from edgeimpro.compare import store

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.xdist_group("qemu-compare"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)"),
]

BOARD = "qemu-m4"
PERTURBED_LAYER = 12          # ResNet-8's AVERAGE_POOL_2D: a flipped low bit reaches the output for many inputs
FIRMWARE_CACHE = CACHE_DIR / "compare-firmware"


@pytest.fixture(autouse=True)
def firmware_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tflite_micro")
    monkeypatch.setenv("EDGEIMPRO_CACHE", str(FIRMWARE_CACHE))


def shapes_images(folder: Path, per_class: int) -> Path:
    """The last `per_class` images of each class (held out from training), in class subfolders."""
    data = shapes_data()
    for cls in sorted(p.name for p in data.iterdir() if p.is_dir()):
        (folder / cls).mkdir(parents=True)
        for f in sorted((data / cls).glob("*.png"))[-per_class:]:
            shutil.copy(f, folder / cls / f.name)
    return folder


def summary(report: Path) -> dict:
    return json.loads((report / "summary.json").read_text())


def test_shapes_model_exact_with_labels_keras_and_report(tmp_path: Path) -> None:
    model, keras_model = shapes_int8()
    images = shapes_images(tmp_path / "images", per_class=5)
    report = tmp_path / "report"
    code = main(["compare", "--model", str(model), "--emulate", BOARD, str(images), "--report", str(report),
                 "--layers", "--keras", str(keras_model), "--fail-on", "exact"])
    assert code == 0
    s = summary(report)
    assert s["state"] == "complete" and s["inputs"] == 15
    tflm = s["references"]["tflm"]
    assert tflm["exact_rate"] == 1.0 and tflm["max_abs_diff_steps"] == 0 and tflm["cosine_similarity"] == 1.0
    assert set(s["references"]) == {"tflm", "litert", "keras"}
    assert s["references"]["keras"]["top1_agreement"] > 0.8
    assert s["labels"]["labelled"] == 15 and s["labels"]["accuracy"]["device"] > 0.8
    assert s["labels"]["accuracy"]["device"] == s["labels"]["accuracy"]["tflm"]
    perf = s["device_performance"]
    assert perf["count_kind"] == "instructions" and perf["per_inference"]["min"] > 1_000_000
    assert perf["link_bytes_per_second"] > 0 and perf["inputs_per_second"] > 0
    assert len(store.load(report / "results.jsonl").records) == 15
    assert {"histogram", "confusion", "gallery"} <= check_report(report / "report.html")


def test_resnet8_npy_exact(tmp_path: Path) -> None:
    model = mlperf_model("resnet8")
    rng = np.random.default_rng(8)
    np.save(tmp_path / "x.npy", rng.integers(-128, 128, (8, 32, 32, 3), dtype=np.int8))
    np.save(tmp_path / "y.npy", rng.integers(0, 10, 8))
    report = tmp_path / "report"
    code = main(["compare", "--model", str(model), "--emulate", BOARD, str(tmp_path / "x.npy"),
                 "--labels", str(tmp_path / "y.npy"), "--report", str(report), "--no-litert"])
    assert code == 0
    s = summary(report)
    assert s["inputs"] == 8 and s["references"]["tflm"]["exact_inputs"] == 8
    assert s["labels"]["labelled"] == 8
    assert 10_000_000 < s["device_performance"]["per_inference"]["min"] < 20_000_000  # DSP kernels 14.9 M, reference ~103 M
    check_report(report / "report.html")


def test_perturbed_layer_is_caught_and_named(tmp_path: Path) -> None:
    from edgeimpro.link.emulator import Emulator

    model = mlperf_model("resnet8")
    np.save(tmp_path / "x.npy", np.random.default_rng(5).integers(-128, 128, (6, 32, 32, 3), dtype=np.int8))
    build = tmp_path / "firmware"                 # the documented drill: build --perturb-layer N
    assert main(["build", "--board", BOARD, "--model", str(model), "--perturb-layer", str(PERTURBED_LAYER),
                 "-o", str(build)]) == 0
    report = tmp_path / "report"
    with Emulator(BOARD, build) as emu:
        emu.release()                              # compare connects over --port like to a real board
        code = main(["compare", "--model", str(model), "--port", emu.url, str(tmp_path / "x.npy"),
                     "--report", str(report), "--layers", "--no-litert", "--fail-on", "exact"])
    assert code == 9
    s = summary(report)
    assert s["mismatch_count"] >= 1 and not s["verdict"]["passed"]
    first = s["layers"]["first_divergent_layer"]
    assert (first["layer"], first["opcode"]) == (PERTURBED_LAYER, "AVERAGE_POOL_2D")
    assert first["inputs"] == s["layers"]["inputs_checked"] == s["mismatch_count"]
    for rec in store.load(report / "results.jsonl").records:
        if not rec.refs["tflm"].exact:
            assert rec.layers.first.layer == PERTURBED_LAYER and rec.layers.reproduced
            assert all(differing == 0 for layer, differing, _ in rec.layers.layers if layer < PERTURBED_LAYER)
    assert {"histogram", "layer-chart", "gallery"} <= check_report(report / "report.html")


def _qemu_children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and name.startswith("qemu-system"):
            out.append(int(stat.parent.name))
    return out


def test_resume_after_the_emulator_is_killed(tmp_path: Path) -> None:
    model, _ = shapes_int8()
    images = shapes_images(tmp_path / "images", per_class=6)
    report = tmp_path / "report"
    args = ["compare", "--model", str(model), "--emulate", BOARD, str(images), "--report", str(report), "--no-litert"]
    main(["compare", "--model", str(model), "--emulate", BOARD, str(images), "--report", str(tmp_path / "warm"),
          "--limit", "1", "--no-litert"])                                   # builds (or finds) the firmware
    env = {**os.environ, "EDGEIMPRO_CACHE": str(FIRMWARE_CACHE)}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from edgeimpro.cli.main import main; "
                             "sys.exit(main(sys.argv[1:]))", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(store.load(report / "results.jsonl").records) < 5:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        qemu = _qemu_children(proc.pid)
        assert len(qemu) == 1
        os.kill(qemu[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 7, err                 # LinkError: the emulator went away
    assert "--resume" in err
    before = store.load(report / "results.jsonl").records
    assert 5 <= len(before) < 18
    assert summary(report)["state"].startswith("stopped")
    assert main([*args, "--resume"]) == 0
    loaded = store.load(report / "results.jsonl")
    keys = [r.key for r in loaded.records]
    assert len(keys) == len(set(keys)) == 18
    assert {f"file:{p.resolve()}" for p in images.rglob("*.png")} == set(keys)
    assert [r.key for r in loaded.records[:len(before)]] == [r.key for r in before]
    s = summary(report)
    assert s["inputs"] == 18 and s["resumed_inputs"] == len(before) and s["sessions"] == 2
    assert s["references"]["tflm"]["exact_rate"] == 1.0


def test_person_detect_quirk_compares_with_default_options(tmp_path: Path) -> None:
    """TFLM's person_detect.tflite quirk (1-D biases quantized along "dimension 3"): compare with its default
    references, LiteRT included, runs and proves the device exact."""
    from tiny_models import bias_quantized_along_dimension_3

    model = tmp_path / "person_detect_like.tflite"
    model.write_bytes(bias_quantized_along_dimension_3(mlperf_model("vww").read_bytes()))
    np.save(tmp_path / "x.npy", np.random.default_rng(6).integers(-128, 128, (3, 96, 96, 3), dtype=np.int8))
    report = tmp_path / "report"
    assert main(["compare", "--model", str(model), "--emulate", BOARD, str(tmp_path / "x.npy"),
                 "--report", str(report)]) == 0
    s = summary(report)
    assert set(s["references"]) == {"tflm", "litert"}
    assert s["references"]["tflm"]["exact_inputs"] == 3
