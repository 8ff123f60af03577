"""Host harness for the runtime kernels: build the C test driver (plain and sanitized, cached by source
hash), pack kernel calls (params structs laid out with ctypes from the op registry's params records), run them,
and capture TFLM's tensors node by node as the reference."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, cached

from edgeimpro import ops as qp
from edgeimpro.firmware import runtime_dir
from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.base import STATUSES

DRIVER_SOURCE = ROOT / "tests" / "c" / "kernel_driver.c"
WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
VARIANTS = {
    "plain": ["-O1"],
    "sanitize": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
}
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86", "UBSAN_OPTIONS": "print_stacktrace=1"}
# eip_status_t codes in enum order (the registry generates the enum)
STATUS_NAMES = [name for name, _, _ in STATUSES]
BUF_INPUT, BUF_OUTPUT, BUF_NULL, BUF_IN_PLACE = 0, 1, 2, 3
# Kernels documented (eip_kernels.h) to run with the output in place of the first input.
IN_PLACE_KERNELS = {"eip_logistic", "eip_tanh", "eip_hard_swish", "eip_leaky_relu", "eip_relu", "eip_relu6",
                    "eip_quantize", "eip_softmax", "eip_reshape", "eip_add", "eip_mul"}


def runtime_sources() -> list[Path]:
    """The reference kernels and runtime (the Arm variants in kernels/arm_dsp/ are tested on QEMU)."""
    return sorted(p for p in runtime_dir().rglob("*.c") if "arm_dsp" not in p.relative_to(runtime_dir()).parts)


def build_driver(variant: str) -> Path:
    """The kernel test driver compiled with host gcc, cached by the hash of sources, headers and flags."""
    if shutil.which("gcc") is None:
        pytest.skip("host gcc not found")
    flags = WARNINGS + VARIANTS[variant]
    sources = [DRIVER_SOURCE, *runtime_sources()]
    h = hashlib.sha256(" ".join(flags).encode())
    for p in sources + sorted(runtime_dir().rglob("*.h")):
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())

    def build(out: Path) -> None:
        cmd = ["gcc", *flags, f"-I{runtime_dir() / 'include'}", f"-I{runtime_dir() / 'kernels'}",
               *map(str, sources), "-o", str(out / "kernel_driver")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"kernel driver build failed ({variant}):\n{proc.stderr}")

    return cached(f"kernel-driver-{variant}-{h.hexdigest()[:16]}", build) / "kernel_driver"


# ---------------------------------------------------------------------------------------------------------
# Calls


@dataclass
class KernelCall:
    kernel: str                        # "eip_conv2d", or a primitive name ("srdhm")
    params: qp.KernelParams | None
    inputs: list[np.ndarray | None]    # in kernel argument order; None is passed as NULL
    output_nbytes: int
    label: str = ""
    in_place: bool = False             # the output buffer is the first input's buffer


_STRUCT_TYPES: dict[type, type[ctypes.Structure]] = {}


def struct_type(cls: type[qp.KernelParams]) -> type[ctypes.Structure]:
    """ctypes mirror of a params struct, derived from the dataclass (a test checks it against the header)."""
    if cls not in _STRUCT_TYPES:
        kinds = {qp.SCALAR: ctypes.c_int32, qp.ARRAY: ctypes.c_int32 * qp.MAX_DIMS, qp.POINTER: ctypes.c_void_p}
        _STRUCT_TYPES[cls] = type(f"{cls.__name__}C", (ctypes.Structure,),
                                  {"_fields_": [(n, kinds[k]) for n, k in cls.c_fields()]})
    return _STRUCT_TYPES[cls]


def pack_params(params: qp.KernelParams) -> tuple[bytes, list[tuple[int, bytes]]]:
    """(struct bytes with pointers zeroed, [(pointer member offset, int32 array bytes)])."""
    t = struct_type(type(params))
    s = t()
    arrays = []
    for name, kind in params.c_fields():
        v = getattr(params, name)
        if kind == qp.SCALAR:
            setattr(s, name, int(v))
        elif kind == qp.ARRAY:
            setattr(s, name, (ctypes.c_int32 * qp.MAX_DIMS)(*[int(x) for x in v]))
        else:
            arrays.append((getattr(t, name).offset, np.asarray(v, dtype="<i4").tobytes()))
    return bytes(s), arrays


def _u32(v: int) -> bytes:
    return struct.pack("<I", v)


def encode_calls(calls: list[KernelCall]) -> bytes:
    out = [b"EIPK", _u32(len(calls))]
    for c in calls:
        name = c.kernel.encode()
        out += [_u32(len(name)), name]
        raw, arrays = pack_params(c.params) if c.params is not None else (b"", [])
        out += [_u32(len(raw)), raw, _u32(len(arrays))]
        for offset, data in arrays:
            out += [_u32(offset), _u32(len(data)), data]
        out.append(_u32(len(c.inputs) + 1))
        for arr in c.inputs:
            if arr is None:
                out += [_u32(BUF_NULL), _u32(0)]
            else:
                data = np.ascontiguousarray(arr).tobytes()
                out += [_u32(BUF_INPUT), _u32(len(data)), data]
        out += [_u32(BUF_IN_PLACE if c.in_place else BUF_OUTPUT), _u32(c.output_nbytes)]
    return b"".join(out)


def run_calls(exe: Path, calls: list[KernelCall]) -> list[tuple[int, bytes]]:
    """Run every call in one driver process; [(status, output bytes)]."""
    with tempfile.TemporaryDirectory(prefix="eip-kernels-") as tmp:
        cases, results = Path(tmp) / "cases.bin", Path(tmp) / "results.bin"
        cases.write_bytes(encode_calls(calls))
        env = {**os.environ, **SANITIZER_ENV}
        proc = subprocess.run([str(exe), str(cases), str(results)], capture_output=True, text=True, env=env,
                              timeout=300)
        if proc.returncode != 0:
            raise AssertionError(f"{exe.parent.name} exited with {proc.returncode}:\n{proc.stderr[-6000:]}")
        data = results.read_bytes()
    out, pos = [], 0
    for c in calls:
        status = struct.unpack_from("<i", data, pos)[0]
        pos += 4
        out.append((status, data[pos:pos + c.output_nbytes]))
        pos += c.output_nbytes
    assert pos == len(data), "driver output size mismatch"
    return out


# ---------------------------------------------------------------------------------------------------------
# Graph nodes as kernel calls, and TFLM's tensors as the reference


def node_call(graph: Graph, op: Op, values: dict[int, np.ndarray], label: str = "") -> KernelCall:
    """The kernel call computing `op` from the tensor `values` (activations; constants come from the graph)."""
    params = qp.op_params(graph, op)
    kernel = qp.kernel_name(op.opcode)

    def value(i: int) -> np.ndarray | None:
        if i < 0:
            return None
        t = graph.tensors[i]
        return t.data if t.is_constant else values[i]

    if kernel in ("eip_conv2d", "eip_depthwise_conv2d", "eip_fully_connected"):
        inputs = [value(op.inputs[0]), value(op.inputs[1]), value(op.inputs[2]) if len(op.inputs) > 2 else None]
    elif kernel in ("eip_add", "eip_mul", "eip_concatenation"):
        inputs = [value(i) for i in op.inputs]
    else:
        inputs = [value(op.inputs[0])]
    return KernelCall(kernel, params, inputs, graph.tensors[op.outputs[0]].nbytes,
                      label or f"op {op.index} {op.opcode}")


class Tflm:
    """The tflite_micro interpreter with every tensor preserved, for node-by-node references."""

    def __init__(self, model: bytes, arena_size: int = 4 << 20) -> None:
        pytest.importorskip("tflite_micro")
        from tflite_micro.python.tflite_micro import runtime

        self.interp = runtime.Interpreter.from_bytes(
            model, arena_size=arena_size, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)

    def run(self, inputs: list[np.ndarray], tensors: list[int]) -> dict[int, np.ndarray]:
        """Invoke once; the values of `tensors` after the run."""
        for i, arr in enumerate(inputs):
            self.interp.set_input(arr, i)
        self.interp.invoke()
        return {t: np.array(self.interp.GetTensor(t, 0)["tensor_data"]) for t in tensors}


def input_sets(graph: Graph, seed: int) -> list[tuple[str, list[np.ndarray]]]:
    """Random (2), all -128, all 127, all zero point, ramp: one array per model input each."""
    rng = np.random.default_rng(seed)
    sets: dict[str, list[np.ndarray]] = {k: [] for k in ("random0", "random1", "min", "max", "zero_point", "ramp")}
    for t in graph.input_tensors:
        shape = t.shape
        zp = t.quantization.scalar[1] if t.quantization is not None else 0
        sets["random0"].append(rng.integers(-128, 128, shape, dtype=np.int8))
        sets["random1"].append(rng.integers(-128, 128, shape, dtype=np.int8))
        sets["min"].append(np.full(shape, -128, np.int8))
        sets["max"].append(np.full(shape, 127, np.int8))
        sets["zero_point"].append(np.full(shape, zp, np.int8))
        sets["ramp"].append(((np.arange(int(np.prod(shape))) * 7) % 256 - 128).astype(np.int8).reshape(shape))
    return list(sets.items())


def compare(calls: list[KernelCall], expected: list[np.ndarray], results: list[tuple[int, bytes]]) -> list[str]:
    """Human-readable mismatches (status or any differing element); empty when bit-exact."""
    problems = []
    for call, want, (status, got) in zip(calls, expected, results, strict=True):
        if status != 0:
            name = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else str(status)
            problems.append(f"{call.label}: status {name}")
            continue
        want_bytes = np.ascontiguousarray(want).view(np.int8).reshape(-1)
        got_arr = np.frombuffer(got, dtype=np.int8)
        if not np.array_equal(got_arr, want_bytes):
            diff = np.flatnonzero(got_arr != want_bytes)
            i = int(diff[0])
            problems.append(f"{call.label}: {diff.size}/{want_bytes.size} elements differ, first at {i}: "
                            f"kernel {int(got_arr[i])} vs TFLM {int(want_bytes[i])}")
    return problems
