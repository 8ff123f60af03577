"""The int8 runtime kernels against TensorFlow Lite Micro, bit for bit.

- The C compiles cleanly (host gcc and arm-none-eabi-gcc, -Wall -Wextra -Werror -Wpedantic).
- eip_kernels.h and eip_runtime.h are generated from the op registry and current.
- The fixed-point primitives give the values INT8_SEMANTICS §2 states, and match exact-integer
  definitions on random operands.
- Every op: single-op int8 models built with TensorFlow (cached), random and extreme inputs; each node's
  kernel output equals TFLM's (np.array_equal), in the plain and in the ASan+UBSan build of the driver.
- Whole MLPerf Tiny models node by node, each node fed TFLM's own intermediate tensors.
- the op registry refuses what TFLM rejects or aborts on (one rule, for the AOT and the TFLM export); where
  TFLM's int32 arithmetic overflows (degenerate scales, extreme biases) the kernels wrap around exactly as
  tflite_micro does, and the registry warns.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import mlperf_model
from kernel_harness import (
    IN_PLACE_KERNELS,
    STATUS_NAMES,
    Tflm,
    build_driver,
    compare,
    input_sets,
    node_call,
    run_calls,
)
from kernel_models import ALLOWED_EXTRA, SPECS, TESTED_AS, WRAP_EDITS, op_models, scale_for_shift
from kernel_suite import SANITIZER_ENV, KernelCall, KernelSet, runtime_sources
from tiny_models import edit_model

from edgeimpro import ops as qp
from edgeimpro.errors import UnsupportedOpError
from edgeimpro.firmware import runtime_dir
from edgeimpro.graph import load_graph
from edgeimpro.graph.model import Quantization
from edgeimpro.graph.validate import check_tflm_prepare
from edgeimpro.ops import header
from edgeimpro.ops.base import STATUS
from edgeimpro.ops.quantize import QuantizeParams
from edgeimpro.ops.relu6 import Relu6Params
from edgeimpro.ops.softmax import SoftmaxParams

pytestmark = pytest.mark.host

HEADER = runtime_dir() / "include" / "eip_kernels.h"
ARM_GCC = shutil.which("arm-none-eabi-gcc")


@pytest.fixture(scope="session")
def drivers() -> dict[str, KernelSet]:
    return {v: build_driver(v) for v in ("plain", "sanitize")}


def run_both(drivers: dict[str, KernelSet], calls: list[KernelCall]) -> dict[str, list[tuple[int, bytes]]]:
    return {v: run_calls(exe, calls) for v, exe in drivers.items()}


# ---------------------------------------------------------------------------------------------------------
# Build hygiene and layout


def _compile_all(cc: str, extra: list[str], tmp_path: Path, kernel_set: str = "reference") -> list[Path]:
    """Compile every runtime source of a kernel set to an object in tmp_path (one compiler process)."""
    inc = [f"-I{runtime_dir() / 'include'}", f"-I{runtime_dir() / 'kernels'}"]
    sources = runtime_sources(kernel_set)
    cmd = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-O2", *extra, *inc, "-c",
           *map(str, sources)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return [tmp_path / (src.stem + ".o") for src in sources]


def test_runtime_compiles_cleanly_on_host(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("host gcc not found")
    _compile_all("gcc", [], tmp_path)


@pytest.mark.parametrize("kernel_set", ["reference", "dsp"])
def test_runtime_holds_no_static_memory(kernel_set: str, tmp_path: Path) -> None:
    """Every byte a kernel works in is the arena's (its scratch is planned there) or its stack: no .bss or
    .data in any runtime object of either kernel set, so the arena figure hides nothing."""
    if ARM_GCC is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    objects = _compile_all(ARM_GCC, ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
                           tmp_path, kernel_set)
    size = subprocess.run([ARM_GCC.replace("-gcc", "-size"), *map(str, objects)], capture_output=True,
                          text=True, check=True)
    rows = [line.split() for line in size.stdout.splitlines()[1:]]
    assert len(rows) == len(objects)
    static = {Path(r[5]).name: int(r[1]) + int(r[2]) for r in rows if int(r[1]) + int(r[2])}
    assert not static, f"static memory beside the arena: {static}"


def test_runtime_compiles_cleanly_for_cortex_m4_under_16_kb(tmp_path: Path) -> None:
    if ARM_GCC is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    objects = _compile_all(ARM_GCC, ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
                           tmp_path)
    size = subprocess.run([ARM_GCC.replace("-gcc", "-size"), *map(str, objects)], capture_output=True,
                          text=True, check=True)
    text = sum(int(line.split()[0]) for line in size.stdout.splitlines()[1:])
    assert 0 < text < 16 * 1024, f"runtime kernels take {text} B of Cortex-M4 code (-O2)"


def test_generated_runtime_headers_are_current() -> None:
    """eip_kernels.h and eip_runtime.h are generated from the op registry; the checked-in copies match."""
    for path, text in header.outputs().items():
        assert path.read_text() == text, f"{path.name} is stale: run python -m edgeimpro.ops.header"
    assert header.main(["--check"]) == 0


def test_every_kernel_has_one_prototype_and_every_record_one_struct() -> None:
    text = HEADER.read_text()
    for op in qp.kernels():
        assert text.count(f"eip_status_t {op.kernel}(const {op.params.C_STRUCT} *p,") == 1, op.opcode
    for cls in qp.params_classes():
        assert text.count(f"}} {cls.C_STRUCT};") == 1, cls.__name__
    assert f"#define EIP_MAX_DIMS {qp.MAX_DIMS}" in text


def test_status_strings_cover_the_enum(drivers: dict[str, KernelSet]) -> None:
    names = STATUS_NAMES
    assert names[0] == "EIP_OK" and len(names) >= 5
    call = KernelCall("status_strings", None, [], 4096)
    for ((status, raw),) in run_both(drivers, [call]).values():
        assert status == 0
        strings = raw.split(b"\0")[:len(names) + 1]
        assert len(set(strings[:len(names)])) == len(names)  # one distinct text per code
        assert b"unknown status" not in strings[:len(names)]
        assert strings[len(names)] == b"unknown status"  # EIP_STATUS_COUNT itself


# ---------------------------------------------------------------------------------------------------------
# Primitives


def _prim(drivers: dict[str, KernelSet], name: str, *args: list[int] | np.ndarray) -> np.ndarray:
    arrays = [np.asarray(a, dtype=np.int32) for a in args]
    call = KernelCall(name, None, arrays, arrays[0].nbytes)
    results = run_both(drivers, [call])
    plain = np.frombuffer(results["plain"][0][1], dtype=np.int32)
    assert np.array_equal(plain, np.frombuffer(results["sanitize"][0][1], dtype=np.int32))
    return plain


def _ref_srdhm(a: int, b: int, bits: int = 31) -> int:
    if a == b == -(2**bits):
        return 2**bits - 1
    return (a * b + 2 ** (bits - 1)) // 2**bits


def _wrap32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def _ref_rdbpot(x: int, e: int) -> int:
    q, r = divmod(abs(x), 2**e)
    if 2 * r >= 2**e and e > 0:
        q += 1
    return q if x >= 0 else -q


def test_primitive_examples_of_int8_semantics(drivers: dict[str, KernelSet]) -> None:
    # RDBPOT §2.2
    assert list(_prim(drivers, "rdbpot", [3, -3, -5, 12345, -7], [1, 1, 2, 0, 0])) == [2, -2, -1, 12345, -7]
    # SRDHM §2.1: ties toward +inf, the one saturating case
    m = -(2**31)
    out = _prim(drivers, "srdhm", [2**30, -(2**30), m, 2**30, 3], [1, 1, m, 2**30, 2**31 - 1])
    assert list(out) == [1, 0, 2**31 - 1, 2**29, 3]
    assert list(_prim(drivers, "srdhm16", [16384, -16384, -32768], [1, 1, -32768])) == [1, 0, 32767]
    # MBQM §2.4: double rounding (single rounding would give 0)
    assert list(_prim(drivers, "mbqm", [-2, 100, 5], [2**30, 2**30, 2**30], [-1, 1, 0])) == [-1, 100, 3]
    # QuantizeMultiplier §2.3
    assert qp.quantize_multiplier(1.0) == (2**30, 1)
    assert qp.quantize_multiplier(0.5) == (2**30, 0)
    assert qp.quantize_multiplier(2**-33) == (0, 0)
    assert qp.quantize_multiplier(0.0) == (0, 0)
    assert qp.quantize_multiplier(1 - 2**-40) == (2**30, 1)  # mantissa rounds up to 2^31
    assert qp.quantize_multiplier(-0.3)[0] < 0
    # round_away is C round(): halves away from zero
    assert [qp.round_away(v) for v in (0.5, -0.5, 1.5, 2.5, -2.5, 2.4999)] == [1, -1, 2, 3, -3, 2]
    # §2.5 activation ranges, §2.6 padding
    assert qp.activation_range("RELU6", 0.05, -10) == (-10, 110)
    assert qp.activation_range("RELU", 0.05, -200 + 100) == (-100, 127)
    assert qp.compute_padding("SAME", 7, 3, 2) == (4, 1)
    assert qp.compute_padding("VALID", 10, 3, 1, 3) == (4, 0)
    assert qp.compute_padding("SAME", 8, 2, 3) == (3, 0)


def test_primitives_match_exact_integer_definitions(drivers: dict[str, KernelSet]) -> None:
    rng = np.random.default_rng(7)
    n = 4000
    edge = np.array([0, 1, -1, 2**31 - 1, -(2**31), 2**30, -(2**30), 2**15, -(2**15)], dtype=np.int64)
    a = np.concatenate([edge, rng.integers(-(2**31), 2**31, n)])
    b = np.concatenate([edge[::-1], rng.integers(-(2**31), 2**31, n)])
    got = _prim(drivers, "srdhm", a, b)
    assert list(got) == [_ref_srdhm(int(x), int(y)) for x, y in zip(a, b, strict=True)]

    a16, b16 = rng.integers(-32768, 32768, n), rng.integers(-32768, 32768, n)
    got = _prim(drivers, "srdhm16", a16, b16)
    assert list(got) == [_ref_srdhm(int(x), int(y), 15) for x, y in zip(a16, b16, strict=True)]

    e = rng.integers(0, 32, n + len(edge))
    got = _prim(drivers, "rdbpot", a, e)
    assert list(got) == [_ref_rdbpot(int(x), int(s)) for x, s in zip(a, e, strict=True)]

    # MBQM = RDBPOT(SRDHM(x * 2^max(s,0), M), max(-s,0)) on accumulator-sized inputs
    x = rng.integers(-(2**20), 2**20, n)
    mult = rng.integers(2**30, 2**31, n)
    shift = rng.integers(-31, 8, n)
    got = _prim(drivers, "mbqm", x, mult, shift)
    want = [_ref_rdbpot(_ref_srdhm(int(v) * 2 ** max(int(s), 0), int(m)), max(-int(s), 0))
            for v, m, s in zip(x, mult, shift, strict=True)]
    assert list(got) == want

    # ... and on any int32 with any shift up to 31: the pre-shift wraps around in two's complement (TFLM)
    x = np.concatenate([edge, rng.integers(-(2**31), 2**31, n)])
    shift = np.concatenate([np.full(edge.size, 31), rng.integers(-31, 32, n)])
    mult = np.concatenate([np.full(edge.size, 2**31 - 1), rng.integers(2**30, 2**31, n)])
    got = _prim(drivers, "mbqm", x, mult, shift)
    want = [_ref_rdbpot(_ref_srdhm(_wrap32(int(v) * 2 ** max(int(s), 0)), int(m)), max(-int(s), 0))
            for v, m, s in zip(x, mult, shift, strict=True)]
    assert list(got) == want
    assert sum(_wrap32(int(v) * 2 ** max(int(s), 0)) != int(v) * 2 ** max(int(s), 0)
               for v, s in zip(x, shift, strict=True)) > n // 3   # most of these do wrap

    # saturating shift: exact product or the int32 limit
    r, sh = rng.integers(-(2**31), 2**31, n), rng.integers(0, 8, n)
    got = _prim(drivers, "saturating_shl", r, sh)
    assert list(got) == [max(-(2**31), min(2**31 - 1, int(v) * 2 ** int(k))) for v, k in zip(r, sh, strict=True)]


def test_fixed_point_functions_approximate_their_real_values(drivers: dict[str, KernelSet]) -> None:
    """Sanity of EXP / RECIP / LOGISTIC / TANH (their bit-exactness is what the op tests show)."""
    q4 = np.linspace(-7.9, 7.9, 301)
    raw = np.round(q4 * 2**27).astype(np.int64)
    fours = np.full(raw.size, 4)
    logistic = _prim(drivers, "logistic_fp", raw, fours) / 2**31
    assert np.max(np.abs(logistic - 1 / (1 + np.exp(-q4)))) < 1e-6
    tanh = _prim(drivers, "tanh_fp", raw, fours) / 2**31
    assert np.max(np.abs(tanh - np.tanh(q4))) < 1e-6
    neg = -np.abs(raw)
    exp5 = _prim(drivers, "exp_on_negative", neg // 2, np.full(raw.size, 5)) / 2**31  # same values in Q5
    assert np.max(np.abs(exp5 - np.exp(-np.abs(q4)))) < 1e-6
    x = np.linspace(0, 0.999, 200)
    recip = _prim(drivers, "one_over_one_plus", np.round(x * 2**31).astype(np.int64), np.zeros(200)) / 2**31
    assert np.max(np.abs(recip - 1 / (1 + x))) < 1e-7
    assert math.isclose(_prim(drivers, "exp_on_interval", [-(2**29)], [0])[0] / 2**31, math.exp(-0.25),
                        abs_tol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# Per op, against TFLM


def _nodes_under_test(graph, op: str) -> list:  # noqa: ANN001
    tested = TESTED_AS.get(op, {op})
    found = {o.opcode for o in graph.ops}
    unexpected = found - tested - ALLOWED_EXTRA.get(op, set())
    assert not unexpected, f"converter produced {sorted(found)}; expected only {sorted(tested)}"
    nodes = [o for o in graph.ops if o.opcode in tested]
    assert nodes, f"no {op} node in the converted model ({sorted(found)})"
    return nodes


@pytest.mark.parametrize("op", sorted(SPECS))
def test_op_matches_tflm_bit_for_bit(op: str, drivers: dict[str, KernelSet]) -> None:
    calls: list[KernelCall] = []
    expected: list[np.ndarray] = []
    for m, (spec, model) in enumerate(op_models(op)):
        graph = load_graph(model)
        nodes = _nodes_under_test(graph, op)
        wanted = sorted({t for o in nodes for t in o.inputs + o.outputs if t >= 0
                         and not graph.tensors[t].is_constant})
        tflm = Tflm(model)
        for name, inputs in input_sets(graph, seed=m):
            values = tflm.run(inputs, wanted)
            for node in nodes:
                calls.append(node_call(graph, node, values, f"{op} model {m} {spec['layer']} node {node.index} "
                                                            f"input {name}"))
                expected.append(values[node.outputs[0]])
    assert len(calls) >= 24
    # kernels that promise in-place operation run again with the output over their first input
    in_place = [(dataclasses.replace(c, in_place=True, label=c.label + " in place"), e)
                for c, e in zip(calls, expected, strict=True)
                if c.kernel in IN_PLACE_KERNELS and c.inputs[0].nbytes == c.output_nbytes]
    if op in ("ADD", "MUL"):
        in_place = [(c, e) for c, e in in_place if c.params.broadcast == 0]
    calls += [c for c, _ in in_place]
    expected += [e for _, e in in_place]
    for variant, results in run_both(drivers, calls).items():
        problems = compare(calls, expected, results)
        assert not problems, f"{variant} build, {len(problems)}/{len(calls)} cases differ:\n" + "\n".join(problems[:20])


# Edits of converted models probe what the converter never emits (INT8_SEMANTICS §3, §4): each is run
# through TFLM and the kernels like the plain models. (op, spec index, edit)
def _quant(m, tensor: int, scale=None, zp=None) -> None:  # noqa: ANN001
    q = m.subgraphs[0].tensors[tensor].quantization
    if scale is not None:
        q.scale = np.asarray(scale, np.float32).reshape(-1)
    if zp is not None:
        q.zeroPoint = np.asarray(zp, np.int64).reshape(-1)


def _scaled(g, tensor: int, factor: float) -> np.ndarray:  # noqa: ANN001
    return g.tensors[tensor].quantization.scale * np.float32(factor)


def _channel_scales(g, tensor: int, values: dict[int, float]) -> np.ndarray:  # noqa: ANN001
    s = g.tensors[tensor].quantization.scale.copy()
    for c, v in values.items():
        s[c] = v
    return s


def _options(m, op_index: int, **kw: float) -> None:  # noqa: ANN001
    for k, v in kw.items():
        setattr(m.subgraphs[0].operators[op_index].builtinOptions, k, v)


EDITS = {
    "fc_per_tensor_weights_zp_3": ("FULLY_CONNECTED", 1, lambda m, g, op: _quant(m, op.inputs[1], zp=[3])),
    "fc_per_tensor_weights_zp_-2": ("FULLY_CONNECTED", 6, lambda m, g, op: _quant(m, op.inputs[1], zp=[-2])),
    "fc_channel_scale_0": ("FULLY_CONNECTED", 0, lambda m, g, op: _quant(
        m, op.inputs[1], scale=_channel_scales(g, op.inputs[1], {1: 0.0, 3: 1e-13}))),
    "conv_weights_zp_ignored": ("CONV_2D", 1, lambda m, g, op: _quant(m, op.inputs[1], zp=[3] * 6)),
    "conv_channel_scales_0_1e-13": ("CONV_2D", 0, lambda m, g, op: _quant(
        m, op.inputs[1], scale=_channel_scales(g, op.inputs[1], {0: 0.0, 2: 1e-13}))),
    "conv_fused_relu_n1_to_1": ("CONV_2D", 1, lambda m, g, op: _options(m, op.index, fusedActivationFunction=2)),
    "dwconv_channel_scale_0": ("DEPTHWISE_CONV_2D", 1, lambda m, g, op: _quant(
        m, op.inputs[1], scale=_channel_scales(g, op.inputs[1], {3: 0.0}))),
    "logistic_output_scale_ignored": ("LOGISTIC", 0, lambda m, g, op: _quant(m, op.outputs[0], scale=[1 / 128])),
    "tanh_output_quantization_ignored": ("TANH", 0, lambda m, g, op: _quant(m, op.outputs[0], scale=[0.05], zp=[10])),
    "add_input_scale_ratio_e5": ("ADD", 0, lambda m, g, op: _quant(m, op.inputs[1], scale=_scaled(g, op.inputs[1],
                                                                                                np.exp(5)))),
    "add_broadcast_input_scale_ratio_e-5": ("ADD", 1, lambda m, g, op: _quant(
        m, op.inputs[0], scale=_scaled(g, op.inputs[0], np.exp(-5)))),
    "mul_output_scale_x7": ("MUL", 0, lambda m, g, op: _quant(m, op.outputs[0], scale=_scaled(g, op.outputs[0], 7))),
    "leaky_relu_alpha_-0.4": ("LEAKY_RELU", 0, lambda m, g, op: _options(m, op.index, alpha=-0.4)),
    "leaky_relu_alpha_1.7": ("LEAKY_RELU", 2, lambda m, g, op: _options(m, op.index, alpha=1.7)),
    "softmax_beta_0.3": ("SOFTMAX", 0, lambda m, g, op: _options(m, op.index, beta=0.3)),
    "softmax_beta_3": ("SOFTMAX", 3, lambda m, g, op: _options(m, op.index, beta=3.0)),
    "pad_output_quantization_raw_copy": ("PAD", 0, lambda m, g, op: _quant(m, op.outputs[0], scale=[0.3], zp=[7])),
    "reshape_output_quantization_raw_copy": ("RESHAPE", 0, lambda m, g, op: _quant(m, op.outputs[0], scale=[0.3],
                                                                                   zp=[-7])),
    "mean_output_scale_x3": ("MEAN", 0, lambda m, g, op: _quant(m, op.outputs[0], scale=_scaled(g, op.outputs[0], 3))),
    "relu_output_scale_x0.37": ("RELU", 0, lambda m, g, op: _quant(m, op.outputs[0],
                                                                  scale=_scaled(g, op.outputs[0], 0.37))),
    "hard_swish_output_scale_x0.5": ("HARD_SWISH", 0, lambda m, g, op: _quant(
        m, op.outputs[0], scale=_scaled(g, op.outputs[0], 0.5))),
}


EDITS.update(WRAP_EDITS)


def _edited(edit: str):  # noqa: ANN202
    """(model bytes, graph, node under test) of one EDITS entry."""
    op_name, index, fn = EDITS[edit]
    spec, base = op_models(op_name)[index]
    graph = load_graph(base)
    node = _nodes_under_test(graph, op_name)[0]
    model = edit_model(base, lambda m: fn(m, graph, node))
    graph = load_graph(model)
    return model, graph, graph.ops[node.index]


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_model_matches_tflm_bit_for_bit(edit: str, drivers: dict[str, KernelSet]) -> None:
    model, graph, node = _edited(edit)
    wanted = sorted({t for t in node.inputs + node.outputs if t >= 0 and not graph.tensors[t].is_constant})
    tflm = Tflm(model)
    calls, expected = [], []
    for name, inputs in input_sets(graph, seed=11):
        values = tflm.run(inputs, wanted)
        calls.append(node_call(graph, node, values, f"{edit} input {name}"))
        expected.append(values[node.outputs[0]])
    for variant, results in run_both(drivers, calls).items():
        problems = compare(calls, expected, results)
        assert not problems, f"{variant} build:\n" + "\n".join(problems)


def test_softmax_reports_the_sum_tflm_aborts_on(drivers: dict[str, KernelSet]) -> None:
    """A row of 512 equal maxima makes TFLM abort; the kernel returns EIP_ERR_SOFTMAX_SUM. 511 is fine.
    Rows of 4096 and 8192 equal maxima would overflow an int32 sum (to exactly 2^31 and 2^32): still refused,
    and without undefined behaviour in the sanitized build."""
    m, ls = qp.quantize_multiplier(1.0 * 0.05 * 2**26)
    calls = []
    for depth in (511, 512, 4096, 8192):
        p = SoftmaxParams(rows=1, depth=depth, input_multiplier=m, input_left_shift=ls,
                             diff_min=-math.floor(31 * 2**26 / 2**ls))
        calls.append(KernelCall("eip_softmax", p, [np.zeros(depth, np.int8)], depth))
    for results in run_both(drivers, calls).values():
        assert results[0][0] == 0 and set(np.frombuffer(results[0][1], np.int8)) == {-127}
        assert [status for status, _ in results[1:]] == [STATUS["EIP_ERR_SOFTMAX_SUM"]] * 3


def test_kernels_reject_bad_params_with_a_status(drivers: dict[str, KernelSet]) -> None:
    x = np.zeros(8, np.int8)
    good = QuantizeParams(size=8, in_zp=0, out_zp=0, multiplier=2**30, shift=0)
    calls = [
        KernelCall("eip_quantize", good, [x], 8),
        KernelCall("eip_quantize", QuantizeParams(8, 0, 0, 2**30, 32), [x], 8),
        KernelCall("eip_quantize", QuantizeParams(0, 0, 0, 2**30, 0), [x], 8),
        KernelCall("eip_quantize", good, [None], 8),
        KernelCall("eip_relu6", Relu6Params(size=8, lower=10, upper=5), [x], 8),
    ]
    for results in run_both(drivers, calls).values():
        assert [STATUS_NAMES[s] for s, _ in results] == [
            "EIP_OK", "EIP_ERR_BAD_PARAM", "EIP_ERR_BAD_SHAPE", "EIP_ERR_NULL_POINTER", "EIP_ERR_BAD_PARAM"]


# ---------------------------------------------------------------------------------------------------------
# What TFLM rejects or aborts on is refused at load


def _edit(graph, tensor: int, scale: float | None = None, zp: int | None = None) -> None:  # noqa: ANN001
    t = graph.tensors[tensor]
    q = t.quantization
    t.quantization = Quantization(
        scale=np.array([q.scale[0] if scale is None else scale], np.float32),
        zero_point=np.array([q.zero_point[0] if zp is None else zp], np.int64),
        quantized_dimension=q.quantized_dimension)


def _first(op: str, kind: str):  # noqa: ANN202
    for spec, model in op_models(op):
        if spec["layer"] == kind:
            graph = load_graph(model)
            return graph, next(o for o in graph.ops if o.opcode == op)
    raise AssertionError(kind)


@pytest.mark.parametrize("case", ["add_degenerate_output", "softmax_scale", "softmax_zero_point", "concat_scale",
                                  "concat_zero_point", "avgpool_scale", "maxpool_zero_point", "logistic_zero_point",
                                  "hard_swish_output", "softmax_beta"])
def test_registry_refuses_what_tflm_refuses(case: str) -> None:
    if case == "add_degenerate_output":
        g, op = _first("ADD", "add")
        _edit(g, op.outputs[0], scale=7.8e-9)  # ro = 2 max(s) / (2^20 s_out) > 1: TFLM aborts
    elif case.startswith("softmax"):
        g, op = _first("SOFTMAX", "softmax")
        if case == "softmax_scale":
            _edit(g, op.outputs[0], scale=1 / 255)
        elif case == "softmax_zero_point":
            _edit(g, op.outputs[0], zp=-127)
        else:
            _edit(g, op.inputs[0], scale=1e-9)  # beta * s_in * 2^26 <= 1
    elif case.startswith("concat"):
        g, op = _first("CONCATENATION", "concat")
        _edit(g, op.inputs[0], **({"scale": 0.5} if case == "concat_scale" else {"zp": 3}))
    elif case == "avgpool_scale":
        g, op = _first("AVERAGE_POOL_2D", "avgpool")
        _edit(g, op.outputs[0], scale=float(g.tensors[op.outputs[0]].quantization.scale[0]) * 1.5)
    elif case == "maxpool_zero_point":
        g, op = _first("MAX_POOL_2D", "maxpool")
        zp = int(g.tensors[op.outputs[0]].quantization.zero_point[0])
        _edit(g, op.outputs[0], zp=zp + 1 if zp < 127 else zp - 1)
    elif case == "logistic_zero_point":
        g, op = _first("LOGISTIC", "sigmoid")
        _edit(g, op.outputs[0], zp=0)
    else:
        g, op = _first("HARD_SWISH", "hard_swish")
        _edit(g, op.outputs[0], scale=float(g.tensors[op.inputs[0]].quantization.scale[0]) / 1000)  # Eo > 0
    with pytest.raises(UnsupportedOpError, match=rf"op {op.index} \({op.opcode}\)") as generated:
        qp.op_params(g, op)
    # one copy of the rule: the TFLM export's validation refuses it with the same words
    with pytest.raises(UnsupportedOpError) as validated:
        check_tflm_prepare(g)
    assert str(validated.value) == str(generated.value)


def test_registry_refuses_fc_bias_scale_tflm_refuses() -> None:
    """Per-tensor FC: |s_in * s_w - s_bias| / s_out > 0.02 fails TFLM's Prepare (§5)."""
    spec, model = op_models("FULLY_CONNECTED")[1]
    assert spec.get("per_tensor") and spec.get("bias")
    g = load_graph(model)
    op = next(o for o in g.ops if o.opcode == "FULLY_CONNECTED")
    qp.op_params(g, op)                                   # as converted: accepted
    s_in = float(g.tensors[op.inputs[0]].quantization.scale[0])
    s_w = float(g.tensors[op.inputs[1]].quantization.scale[0])
    s_out = float(g.tensors[op.outputs[0]].quantization.scale[0])
    _edit(g, op.inputs[2], scale=s_in * s_w + 0.03 * s_out)
    with pytest.raises(UnsupportedOpError, match=r"bias .* scale .* by more than 2% of the output scale"):
        qp.op_params(g, op)


@pytest.mark.parametrize("edit", sorted(WRAP_EDITS))
def test_wrap_warnings_name_the_layer_and_the_range_that_wraps(edit: str) -> None:
    """Each wrapping edit is accepted (its bit-exactness is test_edited_model_matches_tflm_bit_for_bit) with one
    warning naming the op, the channel of a per-channel op, and the value range that wraps."""
    _, graph, node = _edited(edit)
    params = qp.op_params(graph, node)
    (warning,) = qp.wrap_warnings(graph, node, params)
    text = str(warning)
    assert text.startswith(f"op {node.index} ({node.opcode})") and "\n" not in text
    assert warning.reach[0] < warning.safe[0] or warning.reach[1] > warning.safe[1]
    assert f"[{warning.safe[0]:,}, {warning.safe[1]:,}]" in text
    if node.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        assert f"channel {warning.channel}" in text and warning.channels >= 1
    if node.opcode in ("RELU", "QUANTIZE", "LEAKY_RELU"):
        assert "input codes" in text


def test_unedited_models_have_no_wrap_warnings() -> None:
    for op in sorted(SPECS):
        for _, model in op_models(op):
            graph = load_graph(model)
            for node in graph.ops:
                assert qp.wrap_warnings(graph, node, qp.op_params(graph, node)) == [], (op, node.index)
    for name in ("resnet8", "vww", "kws"):
        graph = load_graph(mlperf_model(name))
        assert not [w for node in graph.ops for w in qp.wrap_warnings(graph, node, qp.op_params(graph, node))]


def test_wrap_warning_is_exact_at_the_boundary() -> None:
    """QUANTIZE with input zero point 0: v * 2^s fits int32 for v in [-2^(31-s), 2^(31-s) - 1] and the codes
    give v in [-128, 127], so a shift of 24 just fits and 25 wraps for codes below -64 or above 63."""
    g, op = _first("QUANTIZE", next(spec["layer"] for spec, _ in op_models("QUANTIZE")))
    s_out = float(g.tensors[op.outputs[0]].quantization.scale[0])
    for shift, wraps in ((24, []), (25, ["input codes below -64 or above 63"])):
        _edit(g, op.inputs[0], scale=s_out * 1.5 * 2.0 ** (shift - 1), zp=0)
        params = qp.op_params(g, op)
        assert params.shift == shift
        assert [w.codes for w in qp.wrap_warnings(g, op, params)] == wraps


def test_registry_refuses_pre_shifts_beyond_31() -> None:
    """TFLM's 1 << shift is undefined past 31, and x86 (shift mod 32, measured with the wheel) and Cortex-M
    (0) then compute different things: refused. A shift of exactly 31 is accepted (and wraps)."""
    g, op = _first("FULLY_CONNECTED", "dense")
    num = float(g.tensors[op.inputs[0]].quantization.scale[0]) * float(
        np.max(g.tensors[op.inputs[1]].quantization.scale))
    _edit(g, op.outputs[0], scale=float(scale_for_shift(num, 31)[0]))
    assert max(qp.op_params(g, op).shift) == 31
    _edit(g, op.outputs[0], scale=float(scale_for_shift(num, 32)[0]))
    with pytest.raises(UnsupportedOpError, match=r"pre-shift by 2\^32: .* differs between platforms"):
        qp.op_params(g, op)


def test_registry_refuses_channel_scales_on_another_dimension() -> None:
    g, op = _first("CONV_2D", "conv")
    w = g.tensors[op.inputs[1]]
    assert w.quantization.per_channel
    w.quantization = Quantization(w.quantization.scale, w.quantization.zero_point, quantized_dimension=3)
    with pytest.raises(UnsupportedOpError, match=r"quantized along dimension 3; .* along dimension 0"):
        qp.op_params(g, op)


@pytest.mark.unit
def test_op_registry_imports_without_tensorflow() -> None:
    code = "import sys, edgeimpro.ops; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_registry_names_unsupported_operators() -> None:
    g, op = _first("RELU", "relu")
    op.opcode = "GELU"
    with pytest.raises(UnsupportedOpError, match="GELU"):
        qp.op_params(g, op)


# ---------------------------------------------------------------------------------------------------------
# Whole models, node by node


@pytest.mark.parametrize("name", ["resnet8", "vww", "kws"])
def test_mlperf_model_node_by_node(name: str, drivers: dict[str, KernelSet]) -> None:
    path = mlperf_model(name)
    model = path.read_bytes()
    graph = load_graph(model)
    activations = graph.activation_tensors()
    tflm = Tflm(model, arena_size=16 << 20)
    calls, expected = [], []
    for label, inputs in input_sets(graph, seed=3):
        values = tflm.run(inputs, activations)
        for op in graph.ops:
            calls.append(node_call(graph, op, values, f"{name} op {op.index} {op.opcode} input {label}"))
            expected.append(values[op.outputs[0]])
    for variant, results in run_both(drivers, calls).items():
        problems = compare(calls, expected, results)
        assert not problems, f"{variant} build:\n" + "\n".join(problems[:20])


def test_the_suite_driver_refuses_malformed_vectors(tmp_path: Path) -> None:
    """The one driver reads its vectors defensively: too many buffers, an unknown buffer kind or a short file
    end the run as malformed (exit 3 / 2), a primitive given short inputs or no buffers answers
    STATUS_BAD_BUFFERS; never a crash, an out-of-bounds access or a leak (plain and ASan + UBSan builds)."""
    import struct as st

    from kernel_suite import BUF_INPUT, BUF_OUTPUT, MAGIC

    def u32(*v: int) -> bytes:
        return st.pack(f"<{len(v)}I", *v)

    name = b"srdhm\0\0\0"   # padded to a word
    too_many = MAGIC + u32(1, 5) + name + u32(0, 200)
    bad_kind = MAGIC + u32(1, 5) + name + u32(0, 1, 9, 4)
    short_input = MAGIC + u32(1, 5) + name + u32(0, 3, BUF_INPUT, 4) + u32(7) + u32(BUF_INPUT, 4) + u32(7) \
        + u32(BUF_OUTPUT, 64)
    no_buffers = MAGIC + u32(1, 14) + b"status_strings\0\0" + u32(0, 0)
    for variant in ("plain", "sanitize"):
        exe = build_driver(variant).build()
        for label, data, rc in (("too many buffers", too_many, 3), ("unknown kind", bad_kind, 3),
                                ("short file", MAGIC, 2)):
            (tmp_path / "in.bin").write_bytes(data)
            proc = subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")],
                                  capture_output=True, text=True, env={**os.environ, **SANITIZER_ENV})
            assert proc.returncode == rc, (variant, label, proc.returncode, proc.stderr[-2000:])
        for label, data in (("short inputs", short_input), ("no buffers", no_buffers)):
            (tmp_path / "in.bin").write_bytes(data)
            proc = subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")],
                                  capture_output=True, text=True, env={**os.environ, **SANITIZER_ENV})
            assert proc.returncode == 0, (variant, label, proc.stderr[-2000:])
            assert st.unpack_from("<i", (tmp_path / "out.bin").read_bytes())[0] == 1002, (variant, label)
