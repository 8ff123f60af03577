"""Kernel calls from graph nodes, TFLM's tensors node by node as the reference, and comparison. The calls run
through the one kernel test suite (kernel_suite.py) on any kernel set."""

from __future__ import annotations

import numpy as np
import pytest
from kernel_suite import KernelCall, KernelSet, host_set

from edgeimpro import ops as qp
from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.base import STATUSES

# eip_status_t codes in enum order (the registry generates the enum)
STATUS_NAMES = [name for name, _, _ in STATUSES]
# Kernels whose output may take the first input's buffer (the registry's in-place promise).
IN_PLACE_KERNELS = {op.kernel for op in qp.kernels() if op.in_place != "never"}


def build_driver(variant: str) -> KernelSet:
    """The reference kernels on the host, plain or under ASan + UBSan."""
    return host_set(variant)


def run_calls(kernel_set: KernelSet, calls: list[KernelCall]) -> list[tuple[int, bytes]]:
    """Run every call through the suite driver of `kernel_set`; [(status, output bytes)]."""
    return kernel_set.run(calls)


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

    convention = qp.REGISTRY[op.opcode].convention.kind
    if convention == "in_w_b":
        inputs = [value(op.inputs[0]), value(op.inputs[1]), value(op.inputs[2]) if len(op.inputs) > 2 else None]
    elif convention in ("in2", "inputs"):
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
