"""The AOT runtime end to end on the host: generated C + reference kernels, bit-exact with tflite_micro."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from aot_harness import GOLDEN, assert_bit_exact, build, host_outputs, inputs_for
from conftest import mlperf_model
from tiny_models import tiny_model

from edgeimpro.cli.main import main
from edgeimpro.codegen.aot import export_aot, generate_aot, memory_plan
from edgeimpro.codegen.hostbuild import compile_host
from edgeimpro.codegen.planner import check_plan
from edgeimpro.errors import ModelError, UnsupportedOpError
from edgeimpro.graph import load_graph
from edgeimpro.graph.analysis import ram_lower_bound
from edgeimpro.references import TflmReference

pytestmark = pytest.mark.host

TFLM_M4_ARENA = {"vww": 100_660, "resnet8": 54_340}   # measured on a Cortex-M4 (DESIGN.md §7)


@pytest.mark.parametrize("name", ["resnet8", "kws", "vww"])
def test_mlperf_model_bit_exact_with_poisoned_dead_buffers(name):
    assert_bit_exact(mlperf_model(name), n=50, seed=zlib.crc32(name.encode()) % 1000)  # stable across processes


def test_tiny_model_bit_exact():
    assert_bit_exact(GOLDEN / "tiny.tflite", n=60, layers_for=4)


@pytest.mark.parametrize("name", ["resnet8", "kws"])
def test_sanitizer_build_bit_exact(name):
    assert_bit_exact(mlperf_model(name), n=6, layers_for=1, sanitize=True, opt="-O1")


@pytest.mark.parametrize("name", ["vww", "resnet8", "kws"])
def test_arena_below_the_op_order_bound_at_the_streamed_bound(name):
    """Streamed layers write their output over input rows they have read: the plan reaches the bound that
    counts each streamed pair as the bytes it spans, well below the op-order bound (every layer holding
    its whole input and output), which no plan without streaming can beat."""
    graph = load_graph(mlperf_model(name))
    result = generate_aot(graph)
    bound, _ = ram_lower_bound(graph)
    plan = result.plan
    assert plan.streamed_bound <= result.arena_bytes < 0.75 * plan.lower_bound
    if name != "kws":   # KWS's chain of streamed layers drifts downwards: its bound is out of reach
        assert result.arena_bytes == plan.streamed_bound
    assert plan.lower_bound >= bound
    assert [p.op for p in plan.streams if p.lag is not None], "no layer streams"
    assert all(p.lag >= p.min_lag and p.contract.clobbered_read(p.lag) is None for p in plan.streams if p.lag)
    if name in TFLM_M4_ARENA:
        assert result.arena_bytes < 0.7 * TFLM_M4_ARENA[name]


def test_poisoning_catches_a_broken_memory_plan():
    """Negative control: move a tensor onto bytes another live tensor uses; the poisoned build must differ."""
    model = mlperf_model("resnet8")
    graph = load_graph(model)
    plan = memory_plan(graph)
    # Two blocks live at the same time, placed apart: put the second on top of the first.
    a, b = next((a, b) for a in plan.blocks for b in plan.blocks
                if a is not b and a.overlaps(b) and a.first >= 0 and b.first > a.first and b.first < a.last)
    b.offset = a.offset
    for t in b.tensors:
        plan.offsets[t] = a.offset
    with pytest.raises(AssertionError, match="overlap"):
        check_plan(plan)
    result = generate_aot(graph, "model", plan=plan)
    d = Path(tempfile.mkdtemp(prefix="aot-broken-"))
    for name, text in result.files.items():
        (d / name).write_text(text)
    exe = compile_host(d, poison=True)
    x = inputs_for(graph, 8, 3)
    outs, _ = host_outputs(exe, graph, x)
    expected = TflmReference(model).run(x)
    assert not np.array_equal(outs[0].reshape(expected.shape), expected)


def test_golden_snapshot_of_generated_c():
    """The emitted C for a small model, compared as text: a change in the generator shows in review.
    Regenerate with UPDATE_GOLDEN=1 after an intended change."""
    from edgeimpro.codegen.package import names_header

    graph = load_graph(GOLDEN / "tiny.tflite")
    files = generate_aot(graph, "model", source="tiny.tflite").files
    # an exported folder (--name tiny): model.c, tiny.h, model.h with the generic names, eip_names.h; both
    # with eip_model_kernels.h, the kernel paths the layers take
    prefixed = generate_aot(graph, "tiny", source="tiny.tflite", prefix="tiny").files
    prefixed["eip_names.h"] = names_header("tiny")
    assert set(files) == {"model.c", "model.h", "eip_model_kernels.h"}
    assert set(prefixed) == {"model.c", "tiny.h", "model.h", "eip_names.h", "eip_model_kernels.h"}
    for folder, texts in ((GOLDEN, files), (GOLDEN / "prefixed", prefixed)):
        for name, text in texts.items():
            path = folder / name
            if os.environ.get("UPDATE_GOLDEN"):
                path.parent.mkdir(exist_ok=True)
                path.write_text(text)
            assert path.read_text() == text, f"{name} differs from {path}; UPDATE_GOLDEN=1 if intended"


def test_kernel_paths_state_what_the_layers_ask():
    """eip_model_kernels.h per model: the requantizations each MAC op's layers use (1 << EIP_REQUANT_*:
    general 1, no pre-shift 2, single multiply 4), whether any clamps, convs on the Arm DSP direct loop,
    depthwise layers off its planar path."""
    from edgeimpro.codegen.aot import kernel_paths
    from edgeimpro.ops import op_params

    want = {"vww": (6, 4, 4), "resnet8": (4, 0, 4), "kws": (4, 4, 4)}
    for name, (conv, depthwise, fc) in want.items():
        graph = load_graph(mlperf_model(name))
        facts = kernel_paths(graph, [op_params(graph, op) for op in graph.ops])
        assert (facts["EIP_MODEL_CONV_REQUANTS"], facts["EIP_MODEL_DEPTHWISE_REQUANTS"],
                facts["EIP_MODEL_FULLY_CONNECTED_REQUANTS"]) == (conv, depthwise, fc), name
        assert not any(facts[f"EIP_MODEL_{op}_CLAMPS"] for op in ("CONV", "DEPTHWISE", "FULLY_CONNECTED"))
        assert facts["EIP_MODEL_CONV_DIRECT"] == facts["EIP_MODEL_DEPTHWISE_GENERAL"] == 0   # all planar
        # a depthwise layer the planar path does not take (here without its strip) needs the general path
        params = [op_params(graph, op) for op in graph.ops]
        dw = [i for i, op in enumerate(graph.ops) if op.opcode == "DEPTHWISE_CONV_2D"]
        if dw:
            params[dw[-1]] = dataclasses.replace(params[dw[-1]], scratch=0, strip_blocks=0)
            assert kernel_paths(graph, params)["EIP_MODEL_DEPTHWISE_GENERAL"] == 1
    # the golden tiny model's depthwise clamps: its RELU6 caps codes at -121
    graph = load_graph(GOLDEN / "tiny.tflite")
    facts = kernel_paths(graph, [op_params(graph, op) for op in graph.ops])
    assert facts["EIP_MODEL_DEPTHWISE_CLAMPS"] == 1 and facts["EIP_MODEL_CONV_CLAMPS"] == 0


def test_unsupported_op_fails_export_naming_layer_and_op(tmp_path):
    with pytest.raises(UnsupportedOpError) as e:
        export_aot(tiny_model("gelu"), tmp_path / "out", measure_tflm=False)
    assert "GELU" in str(e.value) and "layer" in str(e.value)
    assert "--target tflm" in (e.value.hint or "")
    assert not (tmp_path / "out").exists()


def test_float_model_fails_export(tmp_path):
    with pytest.raises(ModelError) as e:
        export_aot(tiny_model("float"), tmp_path / "out", measure_tflm=False)
    assert "float" in str(e.value).lower()
    assert not (tmp_path / "out").exists()


def test_export_cli_writes_code_and_report(tmp_path, capsys):
    out = tmp_path / "aot"
    assert main(["export", str(mlperf_model("resnet8")), "--target", "aot", "-o", str(out)]) == 0
    assert {"model.c", "model.h", "aot_report.json", "edgeimpro_export.json"} <= {p.name for p in out.iterdir()}
    rep = json.loads((out / "aot_report.json").read_text())
    # the op-order bound: the activations live at once (49,152 B) plus that op's conv scratch (3x3x16 taps,
    # 4 B each: 576 B); streamed layers take the plan below it, to the streamed bound
    assert rep["activations_lower_bound"] == 49_152 and rep["scratch_bytes"] > 0
    assert rep["ram_lower_bound"] == 49_152 + 1_152   # the 3x3x16 convs' four int16 columns: 8 * 144 B
    assert rep["arena_bytes"] == rep["streamed_lower_bound"] < 0.7 * rep["ram_lower_bound"]
    assert rep["streamed_layers"] and "streams over" in (out / "model.c").read_text()
    assert rep["tflm_arena_bytes_64bit"] >= rep["tflm_arena_bytes_32bit"] > rep["arena_bytes"]
    assert rep["model_sha256"] in (out / "model.h").read_text()
    assert "arena / TFLM" in capsys.readouterr().out
    # A folder edgeimpro did not write is never overwritten.
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main(["export", str(mlperf_model("resnet8")), "--target", "aot", "-o", str(foreign)]) != 0
    assert (foreign / "notes.txt").read_text() == "keep"


def test_run_cli_on_host(tmp_path, capsys):
    model = mlperf_model("kws")
    graph = load_graph(model)
    x = inputs_for(graph, 12, 5)                # (N, 49, 10, 1): the shape without the batch dimension
    np.save(tmp_path / "x.npy", x)
    rc = main(["run", str(model), "--inputs", str(tmp_path / "x.npy"), "--on", "host",
               "-o", str(tmp_path / "y.npz"), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    # the planned arena, below the 16,000 B of activations live at once in op order (streamed layers)
    assert summary["samples"] == 12 and summary["arena_bytes"] == generate_aot(graph).arena_bytes < 16_000
    y = np.load(tmp_path / "y.npz")["output_0"]
    assert y.shape == (12, 12) and y.dtype == np.int8
    assert np.array_equal(y, TflmReference(model).run(x))


def test_run_cli_rejects_bad_inputs(tmp_path, capsys):
    model = str(mlperf_model("kws"))
    np.save(tmp_path / "f.npy", np.zeros((2, 49, 10, 1), np.float32))
    assert main(["run", model, "--inputs", str(tmp_path / "f.npy"), "-o", str(tmp_path / "y.npz")]) == 3
    err = capsys.readouterr().err
    assert "float32" in err and "zero point" in err
    np.save(tmp_path / "s.npy", np.zeros((2, 10, 49, 1), np.int8))
    assert main(["run", model, "--inputs", str(tmp_path / "s.npy"), "-o", str(tmp_path / "y.npz")]) == 3
    assert "(N, 49, 10, 1)" in capsys.readouterr().err
    assert main(["run", model, "--inputs", str(tmp_path / "nope.npy"), "-o", str(tmp_path / "y.npz")]) == 3
    assert not (tmp_path / "y.npz").exists()


def test_perturbed_layer_build_option_corrupts_exactly_that_layer():
    """-DEIP_TEST_PERTURB_LAYER=N (for testing `compare --layers`): layers before N stay exact, N differs."""
    model = mlperf_model("kws")
    graph = load_graph(model)
    _, exe = build(graph, layer_hook=True, defines=("EIP_TEST_PERTURB_LAYER=3",))
    x = inputs_for(graph, 5, 4)[4:]             # one random input
    _, layers = host_outputs(exe, graph, x, want_layers=True)
    inter = TflmReference(model).intermediates(x[0])
    same = [np.array_equal(layers[0][op.index], inter[op.outputs[0]].reshape(-1)) for op in graph.ops]
    assert same[:3] == [True, True, True] and same[3] is False
