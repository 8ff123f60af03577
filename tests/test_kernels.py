"""The int8 runtime kernels against TensorFlow Lite Micro, bit for bit.

- The C compiles cleanly (host gcc and arm-none-eabi-gcc, -Wall -Wextra -Werror -Wpedantic).
- The params dataclasses of quantparams mirror the structs of eip_kernels.h member by member.
- The fixed-point primitives give the values INT8_SEMANTICS §2 states, and match exact-integer
  definitions on random operands.
- Every op: single-op int8 models built with TensorFlow (cached), random and extreme inputs; each node's
  kernel output equals TFLM's (np.array_equal), in the plain and in the ASan+UBSan build of the driver.
- Whole MLPerf Tiny models node by node, each node fed TFLM's own intermediate tensors.
- quantparams rejects what TFLM rejects or aborts on.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import mlperf_model
from kernel_harness import (
    KernelCall,
    Tflm,
    build_driver,
    compare,
    input_sets,
    node_call,
    run_calls,
    runtime_sources,
)
from kernel_models import ALLOWED_EXTRA, SPECS, TESTED_AS, op_models

from edgeimpro.codegen import quantparams as qp
from edgeimpro.errors import UnsupportedOpError
from edgeimpro.firmware import runtime_dir
from edgeimpro.graph import load_graph
from edgeimpro.graph.model import Quantization

pytestmark = pytest.mark.host

HEADER = runtime_dir() / "include" / "eip_kernels.h"
ARM_GCC = "/usr/bin/arm-none-eabi-gcc"


@pytest.fixture(scope="session")
def drivers() -> dict[str, Path]:
    return {v: build_driver(v) for v in ("plain", "sanitize")}


def run_both(drivers: dict[str, Path], calls: list[KernelCall]) -> dict[str, list[tuple[int, bytes]]]:
    return {v: run_calls(exe, calls) for v, exe in drivers.items()}


# ---------------------------------------------------------------------------------------------------------
# Build hygiene and layout


def _compile_each(cc: str, extra: list[str], tmp_path: Path) -> None:
    inc = [f"-I{runtime_dir() / 'include'}", f"-I{runtime_dir() / 'kernels'}"]
    for src in runtime_sources():
        cmd = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wpedantic", "-O2", *extra, *inc, "-c", str(src),
               "-o", str(tmp_path / (src.stem + ".o"))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{src.name}:\n{proc.stderr}"


def test_runtime_compiles_cleanly_on_host(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("host gcc not found")
    _compile_each("gcc", [], tmp_path)


def test_runtime_compiles_cleanly_for_cortex_m4(tmp_path: Path) -> None:
    if not Path(ARM_GCC).exists():
        pytest.skip("arm-none-eabi-gcc not installed")
    _compile_each(ARM_GCC, ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"], tmp_path)


def _header_structs() -> dict[str, list[tuple[str, str]]]:
    text = HEADER.read_text()
    out = {}
    for body, name in re.findall(r"typedef struct \{(.*?)\}\s*(\w+);", text, re.S):
        members = []
        for line in body.splitlines():
            line = line.split("/*")[0].strip()
            if not line:
                continue
            m = re.fullmatch(r"(const int32_t \*|int32_t )(\w+)(\[EIP_MAX_DIMS\])?;", line)
            assert m, f"{name}: member '{line}' is not int32_t, int32_t[EIP_MAX_DIMS] or const int32_t *"
            kind = qp.POINTER if "*" in m.group(1) else qp.ARRAY if m.group(3) else qp.SCALAR
            members.append((m.group(2), kind))
        out[name] = members
    return out


def test_params_dataclasses_mirror_the_header_structs() -> None:
    structs = _header_structs()
    assert set(structs) == {cls.C_STRUCT for cls in qp.PARAMS_CLASSES}
    for cls in qp.PARAMS_CLASSES:
        assert structs[cls.C_STRUCT] == cls.c_fields(), cls.__name__
    text = HEADER.read_text() + (runtime_dir() / "include" / "eip_runtime.h").read_text()
    assert f"#define EIP_MAX_DIMS {qp.MAX_DIMS}" in text
    assert f"#define EIP_RUNTIME_ABI_VERSION {qp.RUNTIME_ABI_VERSION}" in text
    # every opcode's kernel is declared with its struct
    for opcode, (_, kernel) in qp.OPS.items():
        assert re.search(rf"eip_status_t {kernel}\(const eip_\w+_params_t \*p", text), opcode


def test_status_strings_cover_the_enum(drivers: dict[str, Path]) -> None:
    text = (runtime_dir() / "include" / "eip_runtime.h").read_text()
    names = re.findall(r"^\s*(EIP_(?:OK|ERR_\w+))", text, re.M)
    call = KernelCall("status_strings", None, [], 4096)
    for ((status, raw),) in run_both(drivers, [call]).values():
        assert status == 0
        strings = raw.split(b"\0")[:len(names) + 1]
        assert len(set(strings[:len(names)])) == len(names)  # one distinct text per code
        assert b"unknown status" not in strings[:len(names)]
        assert strings[len(names)] == b"unknown status"  # EIP_STATUS_COUNT itself


# ---------------------------------------------------------------------------------------------------------
# Primitives


def _prim(drivers: dict[str, Path], name: str, *args: list[int] | np.ndarray) -> np.ndarray:
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


def _ref_rdbpot(x: int, e: int) -> int:
    q, r = divmod(abs(x), 2**e)
    if 2 * r >= 2**e and e > 0:
        q += 1
    return q if x >= 0 else -q


def test_primitive_examples_of_int8_semantics(drivers: dict[str, Path]) -> None:
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


def test_primitives_match_exact_integer_definitions(drivers: dict[str, Path]) -> None:
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

    # saturating shift: exact product or the int32 limit
    r, sh = rng.integers(-(2**31), 2**31, n), rng.integers(0, 8, n)
    got = _prim(drivers, "saturating_shl", r, sh)
    assert list(got) == [max(-(2**31), min(2**31 - 1, int(v) * 2 ** int(k))) for v, k in zip(r, sh, strict=True)]


def test_fixed_point_functions_approximate_their_real_values(drivers: dict[str, Path]) -> None:
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
def test_op_matches_tflm_bit_for_bit(op: str, drivers: dict[str, Path]) -> None:
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
    for variant, results in run_both(drivers, calls).items():
        problems = compare(calls, expected, results)
        assert not problems, f"{variant} build, {len(problems)}/{len(calls)} cases differ:\n" + "\n".join(problems[:20])


def test_softmax_reports_the_sum_tflm_aborts_on(drivers: dict[str, Path]) -> None:
    """A row of 512 equal maxima makes TFLM abort; the kernel returns EIP_ERR_SOFTMAX_SUM. 511 is fine."""
    m, ls = qp.quantize_multiplier(1.0 * 0.05 * 2**26)
    calls = []
    for depth in (511, 512):
        p = qp.SoftmaxParams(rows=1, depth=depth, input_multiplier=m, input_left_shift=ls,
                             diff_min=-math.floor(31 * 2**26 / 2**ls))
        calls.append(KernelCall("eip_softmax", p, [np.zeros(depth, np.int8)], depth))
    for results in run_both(drivers, calls).values():
        assert results[0][0] == 0 and set(np.frombuffer(results[0][1], np.int8)) == {-127}
        assert results[1][0] == 4  # EIP_ERR_SOFTMAX_SUM


def test_kernels_reject_bad_params_with_a_status(drivers: dict[str, Path]) -> None:
    x = np.zeros(8, np.int8)
    good = qp.QuantizeParams(size=8, in_zp=0, out_zp=0, multiplier=2**30, shift=0)
    calls = [
        KernelCall("eip_quantize", good, [x], 8),
        KernelCall("eip_quantize", qp.QuantizeParams(8, 0, 0, 2**30, 31), [x], 8),
        KernelCall("eip_quantize", qp.QuantizeParams(0, 0, 0, 2**30, 0), [x], 8),
        KernelCall("eip_quantize", good, [None], 8),
        KernelCall("eip_relu6", qp.Relu6Params(size=8, lower=10, upper=5), [x], 8),
    ]
    for results in run_both(drivers, calls).values():
        assert [s for s, _ in results] == [0, 3, 2, 1, 3]


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
def test_quantparams_refuses_what_tflm_refuses(case: str) -> None:
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
    with pytest.raises(UnsupportedOpError, match=rf"op {op.index} \({op.opcode}\)"):
        qp.op_params(g, op)


def test_quantparams_names_unsupported_operators() -> None:
    g, op = _first("RELU", "relu")
    op.opcode = "GELU"
    with pytest.raises(UnsupportedOpError, match="GELU"):
        qp.op_params(g, op)


# ---------------------------------------------------------------------------------------------------------
# Whole models, node by node


@pytest.mark.parametrize("name", ["resnet8", "vww", "kws"])
def test_mlperf_model_node_by_node(name: str, drivers: dict[str, Path]) -> None:
    path = mlperf_model(name)
    model = path.read_bytes()
    graph = load_graph(model)
    activations = graph.activation_tensors()
    tflm = Tflm(model, arena_size=16 << 20)
    calls, expected = [], []
    for label, inputs in input_sets(graph, seed=3):
        if label not in ("random0", "ramp", "max"):
            continue
        values = tflm.run(inputs, activations)
        for op in graph.ops:
            calls.append(node_call(graph, op, values, f"{name} op {op.index} {op.opcode} input {label}"))
            expected.append(values[op.outputs[0]])
    for variant, results in run_both(drivers, calls).items():
        problems = compare(calls, expected, results)
        assert not problems, f"{variant} build:\n" + "\n".join(problems[:20])
