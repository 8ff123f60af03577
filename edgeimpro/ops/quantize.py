"""QUANTIZE int8 -> int8 (INT8_SEMANTICS §3.19): a requantization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.base import ALWAYS, KernelParams, OpDef
from edgeimpro.ops.prepare import int8_activation, multiplier, tensor_at
from edgeimpro.ops.testspec import spec
from edgeimpro.ops.wrap import WrapWarning, codes_outside, elementwise_wrap, offset_range, safe_range


@dataclass(frozen=True)
class QuantizeParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_quantize_params_t"
    C_DOC: ClassVar[str] = 'QUANTIZE int8 -> int8 (requantize).'
    size: int
    in_zp: int
    out_zp: int
    multiplier: int
    shift: int


def prepare(graph: Graph, op: Op) -> QuantizeParams:
    """QUANTIZE int8 -> int8 (§3.19): QM(s_in / s_out)."""
    x, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 0, "output", True)
    s_in, z_in = int8_activation(op, x, "input")
    s_out, z_out = int8_activation(op, y, "output")
    m, s = multiplier(op, s_in / s_out, "output")
    return QuantizeParams(size=x.size, in_zp=z_in, out_zp=z_out, multiplier=m, shift=s)


def wrap(graph: Graph, op: Op, p: QuantizeParams) -> list[WrapWarning]:
    safe = safe_range(p.shift)
    found = elementwise_wrap(op, "x - z_in", offset_range(p.in_zp), safe, p.shift, codes_outside(p.in_zp, safe))
    return [found] if found is not None else []


# The converter requantizes (int8 -> int8 QUANTIZE) fixed-scale outputs (sigmoid, tanh, softmax) that feed
# a concatenation; concatenating plain inputs of different ranges does not produce one.
TESTS = (
    spec("concat_act", [[4, 5, 3], [4, 5, 2]], [[-1, 1], [-10, 3]], 171, acts=["sigmoid", "tanh"], axis=-1),
    spec("concat_act", [[3, 3], [3, 2]], [[-4, 4], [-10, 3]], 172, acts=["sigmoid", "none"], axis=-1),
    spec("concat_act", [[2, 4], [2, 4]], [[0, 0.05], [-2, 2]], 173, acts=["none", "tanh"], axis=1),
    spec("concat_act", [[6], [3]], [[-5, 5], [-300, 300]], 174, acts=["softmax", "none"], axis=-1),
    spec("concat_act", [[1, 1, 2], [1, 1, 3]], [[-8, 8], [0, 0.01]], 175, acts=["sigmoid", "none"], axis=-1),
)


OPS = (OpDef("QUANTIZE", "eip_quantize", QuantizeParams, prepare, in_place=ALWAYS, wrap=wrap, tests=TESTS,
              tested_with=frozenset({"CONCATENATION", "LOGISTIC", "TANH", "SOFTMAX"})),)
