"""`run --on BOARD`, `build --model` and `bench` on an emulated board."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from conftest import mlperf_model
from tiny_models import tiny_model

from edgeimpro.cli.main import main
from edgeimpro.references import TflmReference

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)"),
]


@pytest.mark.xdist_group("qemu-kws")
def test_run_on_emulated_board_is_bit_exact_and_counts_repeat(tmp_path, capsys):
    model = mlperf_model("kws")
    x = np.random.default_rng(8).integers(-128, 128, (6, 49, 10, 1), dtype=np.int8)
    x[1] = x[0]
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(model), "--inputs", str(tmp_path / "x.npy"), "--on", "qemu-m4",
                 "-o", str(tmp_path / "y.npz"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    y = np.load(tmp_path / "y.npz")["output_0"]
    assert np.array_equal(y, TflmReference(model).run(x))
    assert summary["count_kind"] == "instructions" and summary["board"] == "qemu-m4"
    counts = summary["per_inference"]
    assert len(counts) == 6 and counts[0] == counts[1] > 0     # the same input: the same count


def test_run_on_a_board_qemu_cannot_emulate_explains(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 49, 10, 1), np.int8))
    rc = main(["run", str(mlperf_model("kws")), "--inputs", str(tmp_path / "x.npy"), "--on", "nucleo-l4r5zi",
               "-o", str(tmp_path / "y.npz")])
    assert rc != 0
    err = capsys.readouterr().err
    assert "cannot be emulated" in err and "--port" in err
    assert not (tmp_path / "y.npz").exists()


def test_build_from_tflite_and_refusal_of_a_model_too_big_for_the_board(tmp_path, capsys):
    assert main(["build", "--board", "stm32f405", "--model", str(mlperf_model("kws")), "-o",
                 str(tmp_path / "ok")]) == 0
    size = json.loads((tmp_path / "ok" / "size.json").read_text())
    assert size["flash_used"] <= size["flash_total"] and (tmp_path / "ok" / "firmware.elf").exists()
    assert (tmp_path / "ok" / "model" / "model.c").exists()
    capsys.readouterr()
    rc = main(["build", "--board", "stm32f405", "--model", str(tiny_model("big")), "-o", str(tmp_path / "big")])
    err = capsys.readouterr().err
    assert rc == 5 and "stm32f405" in err and "RAM" in err


@pytest.mark.xdist_group("qemu-kws")
def test_bench_reports_consistent_figures(capsys):
    assert main(["bench", str(mlperf_model("kws")), "--board", "qemu-m4", "--inputs", "3", "--json"]) == 0
    f = json.loads(capsys.readouterr().out)
    assert f["count_kind"] == "instructions" and f["repeatable"] is True
    assert len(f["per_inference"]) == 3 and f["spread"][0] <= f["median_per_inference"] <= f["spread"][1]
    # the op-order bound: activations live at once and the conv's scratch; streamed layers go below it
    assert f["ram_lower_bound"] > 16_000 == f["activations_lower_bound"]
    assert f["streamed_lower_bound"] <= f["arena_bytes"] < 16_000 and f["streamed_layers"]
    assert f["firmware"]["code_bytes"] + f["firmware"]["constants_bytes"] <= f["firmware"]["flash_used"]
    # the code split by owner, from the link map: the runtime's part is most of it; alignment fill is unowned
    parts = f["firmware"]["code_parts"]
    assert set(parts) == {"runtime", "firmware", "libraries"} and parts["runtime"] > parts["firmware"] > 0
    assert 0 <= f["firmware"]["code_bytes"] - sum(parts.values()) < 64
    assert 0.9 < f["link"]["wire_efficiency"] <= 1.0


@pytest.mark.xdist_group("qemu-kws")
def test_trace_hexdumps_frames_only_when_asked(tmp_path, caplog):
    np.save(tmp_path / "x.npy", np.zeros((1, 49, 10, 1), np.int8))
    args = ["run", str(mlperf_model("kws")), "--inputs", str(tmp_path / "x.npy"), "--on", "qemu-m4",
            "-o", str(tmp_path / "y.npz")]
    trace = logging.getLogger("edgeimpro.link.trace")
    caplog.handler.setLevel(logging.INFO)          # capture records without enabling any logger
    try:
        assert main(args) == 0
        assert not [r for r in caplog.records if r.name == trace.name]
        assert main(["--trace", *args]) == 0
    finally:
        trace.setLevel(logging.NOTSET)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == trace.name)
    assert "-> HELLO" in text and "-> INVOKE" in text
    assert "  0000  " in text        # the hexdump
