"""`edgeimpro inspect`: JSON report, board fit with exit codes, messages for bad models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import mlperf_model
from tiny_models import tiny_model

from edgeimpro.cli.main import main
from edgeimpro.graph.analysis import RUNTIME_RAM_ALLOWANCE
from edgeimpro.units import size_text

pytestmark = pytest.mark.unit

KNOWN = {  # name -> (MACs, RAM lower bound, ops, op names)
    "vww": (7_489_664, 55_296, 31,
            {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}),
    "resnet8": (12_501_632, 49_152, 16,
                {"CONV_2D", "ADD", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}),
    "kws": (2_656_768, 16_000, 13,
            {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}),
}


def inspect_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    rc = main(["inspect", *args, "--json"])
    out, err = capsys.readouterr()
    return rc, json.loads(out), err


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_inspect_json_shared_models(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    macs, ram, n_ops, op_names = KNOWN[name]
    rc, r, _ = inspect_json(capsys, str(mlperf_model(name)))
    assert rc == 0
    assert r["totals"]["macs"] == macs
    assert round(r["totals"]["macs"] / 1e6, 2) == {"vww": 7.49, "resnet8": 12.50, "kws": 2.66}[name]
    assert r["ram"]["lower_bound"] == ram
    assert r["totals"]["ops"] == len(r["layers"]) == n_ops
    assert {layer["op"] for layer in r["layers"]} == op_names
    assert sum(layer["macs"] for layer in r["layers"]) == macs
    assert r["flash"]["estimate"] == r["model"]["bytes"] + r["flash"]["runtime_code_allowance"]
    assert r["int8"] == {"ok": True, "error": None}
    assert r["board"] is None
    if _has("tflite_micro"):
        assert r["ram"]["tflm_arena_x86_64"] >= r["ram"]["tflm_arena_32bit"] >= ram
    layer0 = r["layers"][0]
    assert set(layer0) == {"index", "op", "input_shapes", "output_shapes", "params", "macs", "weight_bytes",
                           "live_bytes"}


def test_inspect_board_fits(capsys: pytest.CaptureFixture[str]) -> None:
    rc, r, _ = inspect_json(capsys, str(mlperf_model("vww")), "--board", "stm32f405")
    assert rc == 0
    b = r["board"]
    assert b["board"] == "stm32f405" and b["fits"] is True
    assert b["ram_available"] == 128 * 1024 and b["flash_available"] == 1024 * 1024
    assert b["ram_margin"] == b["ram_available"] - b["ram_needed"] > 0
    assert b["flash_margin"] == b["flash_available"] - b["flash_needed"] > 0


def test_inspect_decides_fit_on_the_planned_aot_arena(capsys: pytest.CaptureFixture[str]) -> None:
    """The board fit counts the AOT plan (streamed layers), well below the op-order bound and TFLM's arena: on
    a board with 64 KB of RAM VWW fits (37,936 B + the runtime), where TFLM's ~100 KB arena would not."""
    import dataclasses

    from edgeimpro.boards.registry import get_board
    from edgeimpro.inspect import inspect_model, require_fit

    small = dataclasses.replace(get_board("stm32f405"), name="small-m4", ram_bytes=64 * 1024)
    report = inspect_model(mlperf_model("vww"), board=small, measure_arena=_has("tflite_micro"))
    plan = report.plan
    assert plan is not None and plan.arena == 37_936 and plan.op_order_bound == 55_360
    assert plan.streamed_bound == plan.arena and len(plan.streamed_layers) > 5 and plan.fused_layers == []
    assert report.board.fits and report.board.ram_needed == plan.arena + RUNTIME_RAM_ALLOWANCE
    assert "edgeimpro AOT arena 37,936 B" in report.board.ram_basis
    assert require_fit(report, small).fits
    if report.arena_32bit:
        assert report.arena_32bit + RUNTIME_RAM_ALLOWANCE > small.ram_bytes   # TFLM's arena alone would not fit
    rc, r, _ = inspect_json(capsys, str(mlperf_model("vww")), "--no-arena")
    assert rc == 0 and r["aot_plan"]["arena"] == 37_936 and r["aot_plan"]["op_order_bound"] == 55_360
    assert main(["inspect", str(mlperf_model("vww")), "--no-arena"]) == 0
    assert "AOT arena         37,936 B planned = 0.685 x the op-order bound" in capsys.readouterr().out


def test_inspect_board_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    rc, r, err = inspect_json(capsys, str(tiny_model("big")), "--board", "stm32f405")
    assert rc == 5                                          # BoardFitError
    assert r["board"]["fits"] is False and r["board"]["ram_margin"] < 0
    assert err.startswith(f"error: model needs {size_text(r['board']['ram_needed'])} of RAM")
    assert f"{size_text(-r['board']['ram_margin'])} short" in err
    assert "hint:" in err and "nucleo-l4r5zi" in err


def test_inspect_text_table_has_a_row_per_op(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(mlperf_model("kws")), "--no-arena"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(out) if line.lstrip().startswith("#  op"))
    rows = out[header + 2: header + 2 + 13]
    assert [row.split()[1] for row in rows][:3] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]
    assert rows[0].split()[0] == "0" and rows[-1].split()[1] == "SOFTMAX"


def test_inspect_float_model_reports_why(capsys: pytest.CaptureFixture[str]) -> None:
    rc, r, _ = inspect_json(capsys, str(tiny_model("float")))
    assert rc == 0                                          # inspect describes; export refuses
    assert r["int8"]["ok"] is False and r["int8"]["error"].startswith("float model: op 0 CONV_2D")
    assert r["ram"]["tflm_arena_x86_64"] is None and "cannot run" in r["ram"]["tflm_arena_note"]
    assert r["totals"]["macs"] == 8 * 8 * 4 * 27 + 256 * 3


def test_inspect_without_tflite_micro(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("tflite_micro", "tflite_micro.python.tflite_micro", "tflite_micro.python.tflite_micro.runtime"):
        monkeypatch.setitem(sys.modules, mod, None)
    rc, r, _ = inspect_json(capsys, str(mlperf_model("kws")))
    assert rc == 0
    assert r["ram"]["tflm_arena_x86_64"] is None
    assert "tflite_micro is not installed" in r["ram"]["tflm_arena_note"]
    assert r["totals"]["macs"] == 2_656_768


def test_inspect_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "notes.tflite"
    p.write_text("not a model")
    assert main(["inspect", str(p)]) == 4
    assert "notes.tflite is not a TFLite flatbuffer" in capsys.readouterr().err
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(mlperf_model("kws").read_bytes()[:20_000])
    assert main(["inspect", str(cut)]) == 4
    assert "cut.tflite is corrupt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:                    # argparse lists the registry's boards
        main(["inspect", str(mlperf_model("kws")), "--board", "esp32"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'esp32'" in err and "stm32f405" in err


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def ethos_u_model(path: Path) -> Path:
    """tiny.tflite rewritten the way Vela writes a model for an Arm Ethos-U NPU: one CUSTOM op 'ethos-u'
    taking the command stream, the weights (flash), two uint8 scratch tensors and the input."""
    from aot_harness import GOLDEN
    from tiny_models import edit_model

    schema = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated")

    def to_vela(m) -> None:
        sg = m.subgraphs[0]
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
        code.customCode, code.version = "ethos-u", 1
        m.operatorCodes.append(code)

        def tensor(name: str, size: int, data: bytes | None) -> int:
            t = schema.TensorT()
            t.name, t.shape, t.type = name, [size], schema.TensorType.UINT8
            buf = schema.BufferT()
            if data is not None:
                buf.data = list(data)
            m.buffers.append(buf)
            t.buffer = len(m.buffers) - 1
            sg.tensors.append(t)
            return len(sg.tensors) - 1

        cms = tensor("_split_1_command_stream", 64, bytes(range(64)))
        flash = tensor("_split_1_flash", 256, bytes(256))
        scratch = tensor("_split_1_scratch", 1024, None)
        fast = tensor("_split_1_scratch_fast", 512, None)
        op = schema.OperatorT()
        op.opcodeIndex = len(m.operatorCodes) - 1
        op.inputs = [cms, flash, scratch, fast, *sg.inputs]
        op.outputs = list(sg.outputs)
        sg.operators = [op]

    path.write_bytes(edit_model((GOLDEN / "tiny.tflite").read_bytes(), to_vela))
    return path


def test_inspect_recognises_an_ethos_u_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = ethos_u_model(tmp_path / "tiny_vela.tflite")
    rc, r, _ = inspect_json(capsys, str(model))
    assert rc == 0
    npu = r["npu"]
    assert npu["kind"] == "ethos-u" and npu["ops"] == [0]
    assert npu["command_stream_bytes"] == 64 and npu["flash_bytes"] == 256
    assert npu["scratch_bytes"] == 1024 + 512
    assert "Ethos-U" in npu["runs_on"] and "ethos-u kernel" in npu["runs_on"]
    assert "AOT runtime" in npu["runs_on"]
    # not the int8 CPU diagnosis: no "TF1-style uint8", no advice to train or convert differently
    text = json.dumps(r)
    assert "TF1" not in text and "convert" not in (r["int8"]["error"] or "")
    assert r["ram"]["tflm_arena_x86_64"] is None and "ethos-u" in r["ram"]["tflm_arena_note"]
    assert main(["inspect", str(model), "--no-arena"]) == 0
    out = capsys.readouterr().out
    assert "Arm Ethos-U NPU" in out and "TF1" not in out
