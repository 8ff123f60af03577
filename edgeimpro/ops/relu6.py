"""RELU6 standalone (INT8_SEMANTICS §3.16): TFLM clamps raw codes, ignoring the output quantization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.arith import round_away
from edgeimpro.ops.base import ALWAYS, INT32_MAX, KernelParams, OpDef, scalar_field
from edgeimpro.ops.prepare import int8_activation, tensor_at, unsupported
from edgeimpro.ops.testspec import spec


@dataclass(frozen=True)
class Relu6Params(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_relu6_params_t"
    C_DOC: ClassVar[str] = 'RELU6 (standalone): TFLM clamps raw codes to [in_zp, six] and ignores the output quantization.'
    size: int
    lower: int = scalar_field('input zero point')
    upper: int = scalar_field('input code of 6.0, clamped to 127')


def prepare(graph: Graph, op: Op) -> Relu6Params:
    """RELU6 standalone (§3.16): TFLM clamps the raw input codes and ignores the output quantization."""
    x, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 0, "output", True)
    s_in, z_in = int8_activation(op, x, "input")
    int8_activation(op, y, "output")
    six = round_away(float(np.float32(6.0) / np.float32(s_in)))
    if six > INT32_MAX:
        raise unsupported(op, f"input scale {s_in:.6g} is degenerate: 6.0 does not fit int32 codes")
    return Relu6Params(size=x.size, lower=z_in, upper=max(-128, min(127, z_in + six)))


TESTS = (
    spec("relu6", [[8, 8, 4]], [[-10, 10]], 141),
    spec("relu6", [[16, 16]], [[0, 6]], 142),
    spec("relu6", [[3, 7]], [[-1, 1]], 143),
    spec("relu6", [[50]], [[-3, 8]], 144),
    spec("relu6", [[2, 2, 2]], [[-100, 100]], 145),
    spec("relu6", [[1, 1, 1]], [[0.5, 20]], 146),
)


OPS = (OpDef("RELU6", "eip_relu6", Relu6Params, prepare, in_place=ALWAYS, tests=TESTS),)
