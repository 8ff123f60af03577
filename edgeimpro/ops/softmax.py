"""SOFTMAX (INT8_SEMANTICS §3.9) over the last dimension."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import options as opt
from edgeimpro.ops.arith import SOFTMAX_OUTPUT_SCALE, quantize_multiplier
from edgeimpro.ops.base import ALWAYS, RECALIBRATE, KernelParams, OpDef, Refusal
from edgeimpro.ops.prepare import int8_activation, tensor_at, unsupported
from edgeimpro.ops.testspec import spec


@dataclass(frozen=True)
class SoftmaxParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_softmax_params_t"
    C_DOC: ClassVar[str] = 'SOFTMAX over the last dimension; output quantization is (1/256, -128).'
    rows: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    diff_min: int


def refusal(graph: Graph, op: Op) -> Refusal | None:
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if y.quantization is not None:
        s_out, z_out = y.quantization.scalar
        if np.float32(s_out) != SOFTMAX_OUTPUT_SCALE or z_out != -128:
            return Refusal(f"output '{y.name}' quantization ({s_out:.6g}, {z_out}) must be (1/256, -128)", RECALIBRATE)
    if x.quantization is not None:
        s_in = float(x.quantization.scale[0])
        d = min(_beta(op) * s_in * 2.0**26, 2.0**31 - 1.0)
        if d <= 1.0:
            return Refusal(f"input scale {s_in:.3g} is too small (beta*scale*2^26 = {d:.3g} <= 1)",
                           "calibrate with more representative data so the logits span a useful range",
                           aborts=True)
    return None


def _beta(op: Op) -> float:
    return float(np.float32(op.options.get("beta", 1.0)))


def prepare(graph: Graph, op: Op) -> SoftmaxParams:
    """SOFTMAX (§3.9). Output must be (1/256, -128). A row whose exponent sum reaches 512 (possible only with
    512 or more elements near the row maximum) makes the kernel return EIP_ERR_SOFTMAX_SUM, where TFLM aborts."""
    x, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 0, "output", True)
    s_in, _ = int8_activation(op, x, "input")
    int8_activation(op, y, "output")
    if not x.shape or x.size != y.size:
        raise unsupported(op, f"input {list(x.shape)} and output {list(y.shape)} differ")
    m, ls = quantize_multiplier(min(_beta(op) * s_in * 2.0**26, 2.0**31 - 1.0))  # > 1: refusal() checked it
    diff_min = -math.floor(31 * 2.0**26 / 2.0**ls)
    depth = int(x.shape[-1])
    return SoftmaxParams(rows=x.size // depth, depth=depth, input_multiplier=m, input_left_shift=ls,
                         diff_min=diff_min)


def describe(graph: Graph, op: Op) -> list[str]:
    beta = op.options.get("beta", 1.0)
    return [f"beta {beta:g}"] if beta != 1.0 else []


TESTS = (
    spec("softmax", [[10]], [[-5, 5]], 81),
    spec("softmax", [[1]], [[-1, 1]], 82),
    spec("softmax", [[4, 3, 7]], [[-2, 8]], 83),
    spec("softmax", [[100]], [[-0.05, 0.05]], 84),
    spec("softmax", [[511]], [[-10, 10]], 85),
    spec("softmax", [[37]], [[-5000, 5000]], 86),
    spec("softmax", [[2, 64]], [[0, 30]], 87),
)


OPS = (OpDef("SOFTMAX", "eip_softmax", SoftmaxParams, prepare, refusal=refusal, in_place=ALWAYS, describe=describe,
              options=("SoftmaxOptions", opt.softmax), tests=TESTS),)
