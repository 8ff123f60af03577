"""Desktop runtimes: the exact TFLM reference, LiteRT, and the TFLM arena figures."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import mlperf_model
from tiny_models import bias_quantized_along_dimension_3, tiny_model

from edgeimpro.errors import DependencyError, ModelError, UsageError
from edgeimpro.references import (
    LiteRTReference,
    TflmReference,
    estimate_arena_32bit,
    get_reference,
    measure_tflm_arena,
    one_report,
    parse_allocations,
)

pytestmark = pytest.mark.unit

# x86-64 RecordingMicroAllocator figures of the pinned wheel: (total, head = planned activations)
ARENA_X86_64 = {"vww": (103_680, 73_728), "resnet8": (55_984, 49_152), "kws": (24_272, 16_000)}
# measured on a Cortex-M4 (DESIGN.md §7); the 32-bit estimate must not be below them
ARENA_CORTEX_M4 = {"vww": 100_660, "resnet8": 54_340}


@pytest.fixture(autouse=True)
def _needs_tflm() -> None:
    pytest.importorskip("tflite_micro")


@pytest.mark.parametrize("name", sorted(ARENA_X86_64))
def test_measured_arena(name: str) -> None:
    total, head = ARENA_X86_64[name]
    m = measure_tflm_arena(mlperf_model(name))
    assert m.head == head
    assert m.total == m.head + m.tail
    assert abs(m.total - total) < 16              # alignment of the arena start only
    est = m.estimate_32bit
    assert est % 16 == 0 and est < m.total
    if name in ARENA_CORTEX_M4:
        assert ARENA_CORTEX_M4[name] <= est <= ARENA_CORTEX_M4[name] + 1024


def test_measured_arena_is_enough_to_run() -> None:
    from tflite_micro.python.tflite_micro import runtime

    data = mlperf_model("resnet8").read_bytes()
    m = measure_tflm_arena(data)
    interp = runtime.Interpreter.from_bytes(data, arena_size=m.total + 16)
    interp.set_input(np.zeros((1, 32, 32, 3), np.int8), 0)
    interp.invoke()


def test_parse_allocations_and_32bit_adjustment() -> None:
    report = (
        "[RecordingMicroAllocator] Arena allocation total 1000 bytes\n"
        "[RecordingMicroAllocator] Arena allocation head 600 bytes\n"
        "[RecordingMicroAllocator] Arena allocation tail 400 bytes\n"
        "[RecordingMicroAllocator] 'TfLiteEvalTensor data' used 240 bytes with alignment overhead "
        "(requested 240 bytes for 10 allocations)\n"
        "[RecordingMicroAllocator] 'NodeAndRegistration struct' used 128 bytes with alignment overhead "
        "(requested 128 bytes for 2 NodeAndRegistration structs)\n"
    )
    m = parse_allocations(report)
    assert (m.total, m.head, m.tail) == (1000, 600, 400)
    assert m.sections["TfLiteEvalTensor data"].count == 10
    # eval tensors 240 -> 128 (10 x 12 = 120, aligned to 16), nodes 128 -> 64: 1000 - 112 - 64 = 824
    assert estimate_arena_32bit(m) == 832          # 824 rounded up to 16
    with pytest.raises(ModelError, match="no arena totals"):
        parse_allocations("nothing here")


def test_tflm_run_matches_intermediates_and_batches() -> None:
    ref = TflmReference(mlperf_model("resnet8"))
    assert ref.exact and ref.inputs[0].shape == (1, 32, 32, 3) and ref.inputs[0].zero_point == -128
    x = np.random.default_rng(1).integers(-128, 128, (3, 32, 32, 3), dtype=np.int8)
    out = ref.run(x)
    assert out.shape == (3, 10) and out.dtype == np.int8
    assert np.array_equal(ref.run(x[1:2])[0], out[1])             # no state between samples
    inter = ref.intermediates(x[1])
    assert set(inter) == set(ref.graph.activation_tensors())
    assert np.array_equal(inter[ref.graph.outputs[0]][0], out[1])
    assert np.array_equal(inter[ref.graph.inputs[0]][0], x[1])
    assert inter[22].shape == (1, 32, 32, 16)


def test_run_rejects_wrong_dtype_and_shape() -> None:
    ref = get_reference("tflm", mlperf_model("kws"))
    with pytest.raises(UsageError, match="input batch is float32; model input .* is int8"):
        ref.run(np.zeros((1, 49, 10, 1), np.float32))
    with pytest.raises(UsageError, match=r"needs \[N, 49, 10, 1\]"):
        ref.run(np.zeros((49, 10, 1), np.int8))


def test_litert_has_the_same_interface() -> None:
    pytest.importorskip("ai_edge_litert")
    x = np.random.default_rng(2).integers(-128, 128, (4, 49, 10, 1), dtype=np.int8)
    exact = TflmReference(mlperf_model("kws")).run(x)
    fast = LiteRTReference(mlperf_model("kws")).run(x)
    assert fast.shape == exact.shape and fast.dtype == exact.dtype
    assert get_reference("litert", mlperf_model("kws"), kernels="reference").exact is False
    # the same top-1 class; LiteRT's kernels may differ by a few LSB, so no equality here
    assert (fast.argmax(1) == exact.argmax(1)).mean() >= 0.75


def test_missing_runtime_names_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("tflite_micro", "tflite_micro.python.tflite_micro", "tflite_micro.python.tflite_micro.runtime"):
        monkeypatch.setitem(sys.modules, mod, None)      # what an uninstalled package looks like to import
    with pytest.raises(DependencyError, match="tflite_micro .* is not installed") as e:
        measure_tflm_arena(mlperf_model("kws"))
    assert "pip install --pre tflite-micro" in e.value.hint
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(DependencyError) as e:
        LiteRTReference(mlperf_model("kws"))
    assert "pip install ai-edge-litert" in e.value.hint
    with pytest.raises(UsageError, match="unknown reference runtime"):
        get_reference("onnx", mlperf_model("kws"))


def test_tflm_error_names_the_missing_kernel() -> None:
    """TFLM refuses a model it has no kernel for; we say which op, not just 'failed to allocate'."""
    with pytest.raises(ModelError, match="TFLite Micro cannot prepare the model") as e:
        TflmReference(tiny_model("gelu"))
    assert "GELU" in str(e.value)


def test_arena_measurement_survives_a_crashing_tflm(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """TFLM's parser can SIGSEGV on a corrupt file: the measurement runs in a child, so a crash there is a
    ModelError here, and `inspect` reports the arena as not measured instead of dying."""
    import edgeimpro.references as refs
    from edgeimpro.cli.main import main

    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    monkeypatch.setattr(refs, "_child_command", lambda task, path: crash)
    with pytest.raises(ModelError, match=r"TFLite Micro crashed \(SIGSEGV\) on the model"):
        measure_tflm_arena(mlperf_model("kws"))
    assert main(["inspect", str(mlperf_model("kws")), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ram"]["tflm_arena_x86_64"] is None
    assert "crashed (SIGSEGV)" in report["ram"]["tflm_arena_note"]


def test_arena_measurement_that_hangs_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeimpro.references as refs

    monkeypatch.setattr(refs, "_child_command", lambda task, path: [sys.executable, "-c", "import time; time.sleep(60)"])
    with pytest.raises(ModelError, match="did not finish with the model within 1 s"):
        measure_tflm_arena(mlperf_model("kws"), timeout=1)


def test_arena_measurement_error_from_the_child_is_one_clear_error() -> None:
    with pytest.raises(ModelError, match="TFLite Micro cannot prepare the model") as e:
        measure_tflm_arena(tiny_model("gelu"))
    assert "GELU" in e.value.hint and str(e.value).count("cannot prepare") == 1


def test_litert_runs_the_1d_bias_quirk_that_tflm_accepts() -> None:
    """TFLM's person_detect.tflite has 1-D biases quantized along "dimension 3"; LiteRT refuses that, so the
    quirk is normalised in memory for LiteRT, with the arithmetic unchanged."""
    pytest.importorskip("ai_edge_litert")
    original = mlperf_model("vww").read_bytes()
    quirk = bias_quantized_along_dimension_3(original)
    x = np.random.default_rng(3).integers(-128, 128, (3, 96, 96, 3), dtype=np.int8)
    fast = LiteRTReference(quirk)
    assert len(fast.notes) == 1 and fast.notes[0].startswith("28 1-D tensor(s)")
    np.testing.assert_array_equal(fast.run(x), LiteRTReference(original).run(x))
    np.testing.assert_array_equal(TflmReference(quirk).run(x), TflmReference(original).run(x))
    assert LiteRTReference(original).notes == []


def test_runtime_errors_are_reported_once() -> None:
    repeated = "".join(f"quantized_dimension must be in range [0, 1). Was 3.Tensor {i} has invalid quantization "
                       "parameters." for i in range(14))
    assert one_report(repeated) == ("quantized_dimension must be in range [0, 1). Was 3. Tensor 0 has invalid "
                                    "quantization parameters. (39 repeats of these folded)")
    assert one_report("Didn't find op for builtin opcode 'GELU' version '1'.") == \
        "Didn't find op for builtin opcode 'GELU' version '1'."
