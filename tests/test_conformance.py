"""Random whole models: every model tflite_micro runs is exported to AOT C and runs bit-exactly on the host.

The models (tests/random_models.py) are seeded random small CNNs, a third of them with a degenerate output
scale on one layer so that its int32 arithmetic wraps around for extreme inputs. Each model: if export
refuses it, tflite_micro must refuse it too; otherwise tflite_micro must run it and the host build (poisoned
dead buffers; ASan+UBSan for the wrapping models) must equal it exactly on 10 inputs, the first two all -128
and all 127 (which drive accumulators to their extremes), every layer of those two included.

EIP_CONFORMANCE_SEED (default 0) and EIP_CONFORMANCE_COUNT (default 24) pick the models; any seed must pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest
from aot_harness import assert_bit_exact, build, host_outputs, inputs_for
from kernel_models import WRAP_EDITS, op_models
from random_models import random_models
from tiny_models import edit_model

from edgeimpro.cli.main import main
from edgeimpro.codegen.aot import generate_aot
from edgeimpro.errors import EdgeImproError
from edgeimpro.graph import load_graph
from edgeimpro.references import TflmReference

pytestmark = pytest.mark.host

SEED = int(os.environ.get("EIP_CONFORMANCE_SEED", "0"))
COUNT = int(os.environ.get("EIP_CONFORMANCE_COUNT", "24"))
SAMPLES = 10
WRAP_SURE_SHIFT = 18   # a pre-shift of 2^18 leaves [-8192, 8191]; any int8 channel (|w| up to 127) passes it
TFLM_PROBE = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
interp = runtime.Interpreter.from_bytes(open(sys.argv[1], "rb").read(), arena_size=16 << 20)
d = interp.get_input_details(0)
interp.set_input(np.zeros(d["shape"], d["dtype"]), 0)
interp.invoke()
"""


@pytest.fixture(scope="module")
def models() -> list:
    return random_models(SEED, COUNT)


def _tflm_runs(path) -> tuple[bool, str]:  # noqa: ANN001
    """Whether tflite_micro prepares and invokes the model, in a subprocess (TFLM aborts on some models)."""
    proc = subprocess.run([sys.executable, "-c", TFLM_PROBE, str(path)], capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, proc.stderr.strip()[-500:]


@pytest.mark.parametrize("index", range(COUNT))
def test_random_model_runs_bit_exact_or_both_refuse(index: int, models: list) -> None:
    name, path, edit = models[index]
    graph = load_graph(path)
    try:
        result = generate_aot(graph, "model")
    except EdgeImproError as e:
        runs, _ = _tflm_runs(path)
        assert not runs, f"{name}: tflite_micro runs it, but export refuses: {e}"
        return
    try:
        ref = TflmReference(path)
    except Exception as e:  # noqa: BLE001 - whatever TFLM raises, the export should have refused the model
        pytest.fail(f"{name}: exported, but tflite_micro refuses it: {e}")
    if edit is not None and edit["shift"] >= WRAP_SURE_SHIFT:
        assert any(w.startswith(f"op {edit['op']} ({edit['opcode']})") for w in result.warnings), (edit, result.warnings)
    wraps = bool(result.warnings)
    _, exe = build(graph, layer_hook=True, poison=True, sanitize=wraps, opt="-O1")
    x = inputs_for(graph, SAMPLES, zlib.crc32(name.encode()))
    outs, layers = host_outputs(exe, graph, x, want_layers=True)
    expected = ref.run(x)
    got = outs[0].reshape(expected.shape)
    bad = [i for i in range(SAMPLES) if not np.array_equal(got[i], expected[i])]
    assert not bad, f"{name}: {len(bad)}/{SAMPLES} outputs differ from tflite_micro (first: sample {bad[0]})"
    inner = {k for chain in result.plan.pipelines for k in chain[:-1]}   # fused: no output of their own
    for s in range(2):                      # all -128, all 127: every layer
        inter = ref.intermediates(x[s])
        for op in graph.ops:
            if op.index not in inner:
                assert np.array_equal(layers[s][op.index], inter[op.outputs[0]].reshape(-1)), \
                    f"{name}: sample {s} layer {op.index} {op.opcode} differs"


@pytest.mark.parametrize("index", range(COUNT))
def test_random_model_bit_exact_with_every_pipeline(index: int, models: list) -> None:
    """The same models with every conv + pool pair fused and the first stage in 3 patches, where they have
    them: bit-exact with tflite_micro (poisoned dead buffers), every layer outside a pipeline too."""
    name, path, _ = models[index]
    graph = load_graph(path)
    try:
        result = generate_aot(graph, "model", fuse="all", patches=3)
    except EdgeImproError:
        return   # refused: the test above holds tflite_micro to refusing it too
    if not result.plan.pipelines:
        return
    assert_bit_exact(path, n=4, seed=zlib.crc32(name.encode()), layers_for=1, fuse="all", patches=3)


def test_the_suite_exports_most_models_and_exercises_wrapping(models: list) -> None:
    """Not a vacuous pass: most models export, the degenerate ones do wrap (with a warning), and some take a
    pipeline (test_random_model_bit_exact_with_every_pipeline)."""
    exported = wrapping = piped = 0
    for _, path, _ in models:
        graph = load_graph(path)
        try:
            result = generate_aot(graph, "model")
        except EdgeImproError:
            continue
        exported += 1
        wrapping += bool(result.warnings)
        piped += bool(generate_aot(graph, "model", fuse="all", patches=3).plan.pipelines)
    assert exported >= 0.75 * COUNT, f"only {exported}/{COUNT} models exported"
    if COUNT >= 12:
        assert wrapping >= 1, "no model with a wrapping layer: the degenerate edits did not take"
        assert piped >= 3, f"only {piped} models take a pipeline"


def test_export_cli_warns_about_the_wrapping_layer_and_runs_bit_exact(tmp_path, capsys) -> None:  # noqa: ANN001
    """A conv whose output scale gives it a 2^20 pre-shift: exported (not refused), one warning line on stderr
    naming op, channel and range, the same text in aot_report.json; the export equals tflite_micro."""
    op_name, index, fn = WRAP_EDITS["conv_preshift_2^20_wraps"]
    base = op_models(op_name)[index][1]
    graph = load_graph(base)
    node = next(o for o in graph.ops if o.opcode == op_name)
    model = tmp_path / "wraps.tflite"
    model.write_bytes(edit_model(base, lambda m: fn(m, graph, node)))
    assert main(["export", str(model), "--target", "aot", "-o", str(tmp_path / "out"), "--no-tflm-arena"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: op {node.index} (CONV_2D) channel "), captured.err
    assert "pre-shift by 2^20" in lines[0] and "wraps around outside [-2,048, 2,047]" in lines[0]
    report = json.loads((tmp_path / "out" / "aot_report.json").read_text())
    assert report["warnings"] == [lines[0].removeprefix("warning: ")]
    assert_bit_exact(model, n=12, layers_for=2, sanitize=True, opt="-O1")
