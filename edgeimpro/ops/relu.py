"""RELU standalone (INT8_SEMANTICS §3.15): requantizes, clamps at the output zero point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.base import ALWAYS, KernelParams, OpDef
from edgeimpro.ops.prepare import int8_activation, multiplier, tensor_at
from edgeimpro.ops.testspec import spec
from edgeimpro.ops.wrap import WrapWarning, codes_outside, elementwise_wrap, offset_range, safe_range


@dataclass(frozen=True)
class ReluParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_relu_params_t"
    C_DOC: ClassVar[str] = 'RELU (standalone): requantizes, clamps at the output zero point.'
    size: int
    in_zp: int
    out_zp: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


def prepare(graph: Graph, op: Op) -> ReluParams:
    """RELU standalone (§3.15): requantizing, clamped at the output zero point."""
    x, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 0, "output", True)
    s_in, z_in = int8_activation(op, x, "input")
    s_out, z_out = int8_activation(op, y, "output")
    m, s = multiplier(op, s_in / s_out, "output")
    return ReluParams(size=x.size, in_zp=z_in, out_zp=z_out, multiplier=m, shift=s, act_min=max(-128, z_out),
                      act_max=127)


def wrap(graph: Graph, op: Op, p: ReluParams) -> list[WrapWarning]:
    safe = safe_range(p.shift)
    found = elementwise_wrap(op, "x - z_in", offset_range(p.in_zp), safe, p.shift, codes_outside(p.in_zp, safe))
    return [found] if found is not None else []


TESTS = (
    spec("relu", [[8, 8, 4]], [[-1, 1]], 131),
    spec("relu", [[16, 16]], [[0, 5]], 132),
    spec("relu", [[3, 7]], [[-100, 3]], 133),
    spec("relu", [[50]], [[-0.01, 0.02]], 134),
    spec("relu", [[2, 2, 2]], [[-5, 300]], 135),
    spec("relu", [[1, 1, 1]], [[-2, 2]], 136),
)


OPS = (OpDef("RELU", "eip_relu", ReluParams, prepare, in_place=ALWAYS, wrap=wrap, tests=TESTS),)
