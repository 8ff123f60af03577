"""Issue 13's goal end to end: the workshop's CNN (`--arch seed-cnn`) at its full 150x150 RGB input is trained
with `--board stm32f405` (not refused: the fit is recorded with its margin), converted to int8, fits the
board's 128 KiB of RAM once linked, and runs on the emulated STM32F405 (QEMU netduinoplus2) bit-exact with
tflite_micro through `compare`; the firmware runs the convs fused with their pools (their outputs never exist
whole: the layer hook gets no bytes for them) and the pools' outputs equal tflite_micro's.

A few images and one epoch: this proves the path, not the accuracy."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from test_compare import check_report
from test_compare_qemu import summary

from edgeimpro.cli.main import main

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.xdist_group("qemu-stm32f405"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)"),
]

BOARD = "stm32f405"
BOARD_RAM = 128 * 1024
SIZE = 150                 # the workshop's cats-vs-dogs input, RGB
TRAIN_PER_CLASS = 10       # 30 images: 24 to train, 6 to validate
TEST_PER_CLASS = 1         # 3 unseen images through compare
SEED = zlib.crc32(b"workshop-cnn")


def _shapes(folder: Path, per_class: int, split: str) -> Path:
    from edgeimpro.datasets.demo import write_demo

    return write_demo("shapes", folder, count=per_class, seed=SEED, size=SIZE, split=split).path


def _inspect_json(model: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["inspect", str(model), "--board", BOARD, "--json", "--no-arena"]) == 0
    return json.loads(capsys.readouterr().out)


def test_seed_cnn_150_trains_fits_stm32f405_and_runs_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_micro")
    from edgeimpro.graph import load_graph
    from edgeimpro.link.emulator import Emulator
    from edgeimpro.references import TflmReference

    cache = tmp_path / "cache"                     # this model's firmware, built by compare --emulate
    monkeypatch.setenv("EDGEIMPRO_CACHE", str(cache))
    data = _shapes(tmp_path / "data", TRAIN_PER_CLASS, "train")
    test = _shapes(tmp_path / "test", TEST_PER_CLASS, "test")
    run = tmp_path / "run"

    # train: the 150x150 seed-cnn is accepted for the board, and the card records the fit and its margin
    assert main(["train", str(data), "-o", str(run), "--input-size", f"{SIZE}x{SIZE}", "--board", BOARD,
                 "--epochs", "1", "--seed", "0", "-q"]) == 0
    training = json.loads((run / "model.json").read_text())["training"]
    assert (training["arch"], training["input"]["size"], training["input"]["color"]) == ("seed-cnn", "150x150", "rgb")
    fit = training["board"]
    assert (fit["board"], fit["fits"], fit["ram_available"]) == (BOARD, True, BOARD_RAM)
    assert 0 < fit["ram_needed"] < fit["ram_available"]
    assert training["estimate"]["planned_ram_bytes"] < BOARD_RAM < training["estimate"]["peak_ram_bytes"]

    assert main(["convert", str(run / "model.keras"), "--samples", "16"]) == 0
    model = run / "model.tflite"
    graph = load_graph(model)

    # inspect: the planned arena fits with a margin; the convs run fused with the max-pools after them
    report = _inspect_json(model, capsys)
    plan, board = report["aot_plan"], report["board"]
    assert board["fits"] and board["ram_margin"] == board["ram_available"] - board["ram_needed"] > 0
    assert plan["arena"] < BOARD_RAM < plan["op_order_bound"]
    pipelines = plan["fused_layers"]              # runs of layers executed band by band, [conv, pool] pairs
    assert pipelines[0][:2] == [0, 1]              # conv1's 150x150x16 output alone is 351 KiB
    for chain in pipelines:
        assert chain == list(range(chain[0], chain[-1] + 1)) and graph.ops[chain[0]].opcode == "CONV_2D"
        assert "MAX_POOL_2D" in {graph.ops[k].opcode for k in chain[1:]}
    never_whole = {k for chain in pipelines for k in chain[:-1]}

    # compare on the emulated board: every image bit-exact with tflite_micro
    out = tmp_path / "compare"
    assert main(["compare", "--model", str(model), "--emulate", BOARD, str(test), "--report", str(out),
                 "--no-litert", "--fail-on", "exact"]) == 0
    s = summary(out)
    n = 3 * TEST_PER_CLASS
    assert s["state"] == "complete" and s["inputs"] == n and s["mismatch_count"] == 0 and s["verdict"]["passed"]
    tflm = s["references"]["tflm"]
    assert tflm["exact_inputs"] == n and tflm["differing_elements"] == 0 and tflm["max_abs_diff_steps"] == 0
    assert (s["device"]["board"], s["device"]["arena_bytes"]) == (BOARD, plan["arena"])
    assert s["labels"]["accuracy"]["device"] == s["labels"]["accuracy"]["tflm"]
    assert s["device_performance"]["per_inference"]["min"] > 84_000_000     # 84.8 M MACs
    check_report(out / "report.html")

    # the firmware compare ran: linked within the board's RAM, arena as planned
    builds = sorted(cache.glob(f"firmware/{BOARD}-*/build"))
    assert len(builds) == 1
    size = json.loads((builds[0] / "size.json").read_text())
    assert (size["board"], size["ram_total"]) == (BOARD, BOARD_RAM)
    assert plan["arena"] < size["ram_used"] <= BOARD_RAM
    export = json.loads((builds[0].parent / "model" / "aot_report.json").read_text())
    assert export["arena_bytes"] == plan["arena"] and export["streamed_layers"] == plan["streamed_layers"]

    # on the device the fused convs' outputs never exist (empty dumps); every pool's output is tflite_micro's
    x = np.random.default_rng(SEED).integers(-128, 128, (1, SIZE, SIZE, 3), dtype=np.int8)
    want = TflmReference(model).intermediates(x)
    with Emulator(BOARD, builds[0]) as emu:
        dump = emu.device.layers(x)
    assert sorted(dump.layers) == list(range(len(graph.ops)))
    assert {k for k, layer in dump.layers.items() if layer.data.size == 0} == never_whole
    for k, layer in dump.layers.items():
        if k not in never_whole:
            np.testing.assert_array_equal(layer.data, want[graph.ops[k].outputs[0]].reshape(-1), err_msg=f"layer {k}")
