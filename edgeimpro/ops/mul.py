"""MUL (INT8_SEMANTICS §3.7) with numpy broadcasting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import options as opt
from edgeimpro.ops.base import IN2, SAME_SHAPES, KernelParams, OpDef, array_field
from edgeimpro.ops.prepare import binary_operands, fused_activation, multiplier
from edgeimpro.ops.testspec import spec
from edgeimpro.ops.wrap import WrapWarning, elementwise_wrap, offset_range, safe_range


@dataclass(frozen=True)
class MulParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_mul_params_t"
    C_DOC: ClassVar[str] = 'MUL with numpy broadcasting (dims and strides as for ADD).'
    broadcast: int
    dims: tuple[int, ...] = array_field()
    in1_strides: tuple[int, ...] = array_field()
    in2_strides: tuple[int, ...] = array_field()
    in1_zp: int
    in2_zp: int
    out_zp: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


def prepare(graph: Graph, op: Op) -> MulParams:
    """MUL (§3.7): QM(s1 * s2 / s_out)."""
    (s1, z1), (s2, z2), (s_out, z_out), shapes = binary_operands(graph, op)
    m, s = multiplier(op, s1 * s2 / s_out, "output")
    lo, hi = fused_activation(op, s_out, z_out)
    return MulParams(**shapes,
                     in1_zp=z1, in2_zp=z2, out_zp=z_out, multiplier=m, shift=s, act_min=lo, act_max=hi)


def wrap(graph: Graph, op: Op, p: MulParams) -> list[WrapWarning]:
    (a_lo, a_hi), (b_lo, b_hi) = offset_range(p.in1_zp), offset_range(p.in2_zp)
    corners = (a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi)
    found = elementwise_wrap(op, "the product (x1 - z1)(x2 - z2)", (min(corners), max(corners)),
                             safe_range(p.shift), p.shift)
    return [found] if found is not None else []


TESTS = (
    spec("mul", [[4, 5, 3], [4, 5, 3]], [[-1, 1], [-1, 1]], 61, act="none"),
    spec("mul", [[4, 5, 3], [1, 1, 3]], [[0, 6], [0, 1]], 62, act="none"),
    spec("mul", [[5, 1, 2], [5, 4, 2]], [[-2, 2], [-1, 0]], 63, act="relu"),
    spec("mul", [[3, 6, 4], [1, 6, 1]], [[-8, 8], [-0.1, 0.1]], 64, act="none"),
    spec("mul", [[1, 1, 1], [1, 1, 1]], [[-1, 1], [-50, 50]], 65, act="relu6"),
    spec("mul", [[6, 6, 2], [6, 6, 2]], [[0, 0.01], [-300, 0]], 66, act="none"),
)


OPS = (OpDef("MUL", "eip_mul", MulParams, prepare, IN2, in_place=SAME_SHAPES, wrap=wrap,
              options=("MulOptions", opt.fused_only), tests=TESTS, tested_with=frozenset({"RESHAPE"})),)
