"""CONCATENATION (INT8_SEMANTICS §3.18): a raw copy; every input shares the output's quantization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import options as opt
from edgeimpro.ops.base import INPUTS, RECALIBRATE, KernelParams, OpDef, Refusal, pointer_field
from edgeimpro.ops.prepare import int8_activation, tensor_at, unsupported
from edgeimpro.ops.testspec import spec


@dataclass(frozen=True)
class ConcatenationParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_concatenation_params_t"
    C_DOC: ClassVar[str] = 'CONCATENATION: raw copy. For each of `outer` steps, input i contributes inner_sizes[i] elements.'
    num_inputs: int
    outer: int
    inner_sizes: tuple[int, ...] = pointer_field('[num_inputs]')


def refusal(graph: Graph, op: Op) -> Refusal | None:
    y = graph.tensors[op.outputs[0]]
    if y.quantization is None:
        return None
    s_out, z_out = y.quantization.scalar
    for k, i in enumerate(op.inputs):
        t = graph.tensors[i] if i >= 0 else None
        if t is None or t.quantization is None:
            continue
        s, z = t.quantization.scalar
        if np.float32(s) != np.float32(s_out) or z != z_out:
            return Refusal(f"input {k + 1} '{t.name}' quantization ({s:.6g}, {z}) differs from the output's "
                           f"({s_out:.6g}, {z_out}); concatenation copies codes and needs them identical",
                           RECALIBRATE)
    return None


def prepare(graph: Graph, op: Op) -> ConcatenationParams:
    """CONCATENATION (§3.18): every input must share the output's scale (exactly) and zero point."""
    y = tensor_at(graph, op, 0, "output", True)
    s_out, z_out = int8_activation(op, y, "output")
    if op.options.get("activation", "NONE") != "NONE":
        raise unsupported(op, f"fused activation {op.options['activation']} is not allowed on int8 concatenation")
    rank = len(y.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise unsupported(op, f"axis {op.options.get('axis')} is outside rank {rank}")
    inner = []
    for k in range(len(op.inputs)):
        t = tensor_at(graph, op, k, f"input {k + 1}")
        int8_activation(op, t, f"input {k + 1}")
        if len(t.shape) != rank or any(t.shape[d] != y.shape[d] for d in range(rank) if d != axis):
            raise unsupported(op, f"input {k + 1} shape {list(t.shape)} does not fit output {list(y.shape)} on axis {axis}")
        inner.append(int(np.prod(t.shape[axis:])))
    if sum(inner) * int(np.prod(y.shape[:axis])) != y.size:
        raise unsupported(op, "input sizes do not add up to the output size")
    return ConcatenationParams(num_inputs=len(inner), outer=int(np.prod(y.shape[:axis])), inner_sizes=tuple(inner))


def describe(graph: Graph, op: Op) -> list[str]:
    return [f"axis {op.options.get('axis')}"]


TESTS = (
    spec("concat", [[4, 5, 3], [4, 5, 2]], [[-1, 1], [-1, 1]], 161, axis=-1),
    spec("concat", [[2, 5, 3], [4, 5, 3], [1, 5, 3]], [[0, 2], [0, 2], [0, 2]], 162, axis=1),
    spec("concat", [[3, 2, 2], [3, 4, 2]], [[-3, 0], [-3, 0]], 163, axis=2),
    spec("concat", [[6], [1]], [[-5, 5], [-5, 5]], 164, axis=-1),
    spec("concat", [[1, 1, 1], [1, 1, 4], [1, 1, 2]], [[-1, 1], [-2, 2], [-1, 1]], 165, axis=3),
)


OPS = (OpDef("CONCATENATION", "eip_concatenation", ConcatenationParams, prepare, INPUTS, refusal=refusal,
              describe=describe, options=("ConcatenationOptions", opt.concatenation), tests=TESTS,
              tested_with=frozenset({"QUANTIZE"})),)
