"""LOGISTIC and TANH (INT8_SEMANTICS §3.10, §3.11): one fixed-point pipeline, one params struct."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.arith import round_away
from edgeimpro.ops.base import ALWAYS, INT32_MAX, RECALIBRATE, KernelParams, OpDef, Refusal
from edgeimpro.ops.prepare import int8_activation, tensor_at, unsupported
from edgeimpro.ops.testspec import spec


@dataclass(frozen=True)
class LogisticParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_logistic_params_t"
    C_DOC: ClassVar[str] = 'LOGISTIC and TANH (same load-time parameters; TFLM fixes the output quantization).'
    size: int
    in_zp: int
    input_multiplier: int
    input_left_shift: int
    input_range_radius: int


def refusal(graph: Graph, op: Op) -> Refusal | None:
    y = graph.tensors[op.outputs[0]]
    if op.opcode == "LOGISTIC" and y.quantization is not None and y.quantization.scalar[1] != -128:
        return Refusal(f"output '{y.name}' zero point {y.quantization.scalar[1]} must be -128", RECALIBRATE)
    return None


def _logistic_like(op: Op, s_in: float, size: int, z_in: int) -> LogisticParams:
    mantissa, ls = math.frexp(s_in * 2.0**27)
    m = round_away(mantissa * 2.0**31)
    radius = math.floor(15 * 2.0**27 / 2.0**ls)
    if m >= 2**31 or ls < -31 or radius > INT32_MAX:
        raise unsupported(op, f"input scale {s_in:.6g} is outside what the fixed-point sigmoid handles")
    return LogisticParams(size=size, in_zp=z_in, input_multiplier=m, input_left_shift=ls,
                          input_range_radius=radius)


def prepare(graph: Graph, op: Op) -> LogisticParams:
    """TFLM ignores the output quantization (LOGISTIC: 1/256, -128; TANH: 1/128, 0)."""
    x, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 0, "output", True)
    s_in, z_in = int8_activation(op, x, "input")
    int8_activation(op, y, "output")
    return _logistic_like(op, s_in, x.size, z_in)


LOGISTIC_TESTS = (
    spec("sigmoid", [[8, 8, 4]], [[-4, 4]], 91),
    spec("sigmoid", [[16, 16]], [[-0.01, 0.01]], 92),
    spec("sigmoid", [[3, 7]], [[-100, 100]], 93),
    spec("sigmoid", [[50]], [[0, 8]], 94),
    spec("sigmoid", [[50]], [[-8, 0]], 95),
    spec("sigmoid", [[1, 1, 1]], [[-20, 3]], 96),
)


TANH_TESTS = (
    spec("tanh", [[8, 8, 4]], [[-4, 4]], 101),
    spec("tanh", [[16, 16]], [[-0.01, 0.01]], 102),
    spec("tanh", [[3, 7]], [[-100, 100]], 103),
    spec("tanh", [[50]], [[0, 8]], 104),
    spec("tanh", [[50]], [[-8, 0]], 105),
    spec("tanh", [[1, 1, 1]], [[-2, 0.5]], 106),
)


OPS = (
    OpDef("LOGISTIC", "eip_logistic", LogisticParams, prepare, refusal=refusal, in_place=ALWAYS, tests=LOGISTIC_TESTS,
          source="activation_lut.c"),
    OpDef("TANH", "eip_tanh", LogisticParams, prepare, in_place=ALWAYS, tests=TANH_TESTS, source="activation_lut.c"),
)
