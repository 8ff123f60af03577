"""ADD (INT8_SEMANTICS §3.6) with numpy broadcasting."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import options as opt
from edgeimpro.ops.arith import ADD_LEFT_SHIFT, quantize_multiplier
from edgeimpro.ops.base import IN2, SAME_SHAPES, KernelParams, OpDef, Refusal, array_field, scalar_field
from edgeimpro.ops.prepare import binary_operands, fused_activation
from edgeimpro.ops.testspec import spec


@dataclass(frozen=True)
class AddParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_add_params_t"
    C_DOC: ClassVar[str] = 'ADD with numpy broadcasting. dims is the output shape padded to EIP_MAX_DIMS with leading 1s;\nin*_strides are element strides of each input over those dims (0 on broadcast dims).'
    broadcast: int = scalar_field('0: same shapes, flat loop; 1: walk dims with the strides')
    dims: tuple[int, ...] = array_field()
    in1_strides: tuple[int, ...] = array_field()
    in2_strides: tuple[int, ...] = array_field()
    in1_zp: int
    in2_zp: int
    out_zp: int
    left_shift: int = scalar_field('20')
    in1_multiplier: int
    in1_shift: int = scalar_field('<= 0')
    in2_multiplier: int
    in2_shift: int = scalar_field('<= 0')
    out_multiplier: int
    out_shift: int = scalar_field('<= 0')
    act_min: int
    act_max: int


def _rescales(s1: float, s2: float, s_out: float) -> dict[str, float]:
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    return {"input 1": s1 / twice_max, "input 2": s2 / twice_max,
            "output": twice_max / (2.0**ADD_LEFT_SHIFT * s_out) if s_out > 0 else math.inf}


def refusal(graph: Graph, op: Op) -> Refusal | None:
    """TFLM aborts the process when a rescale factor leaves (0, 1) (a degenerate output scale)."""
    ts = [graph.tensors[i] for i in (*op.inputs[:2], op.outputs[0]) if i >= 0]
    if len(ts) != 3 or any(t.quantization is None for t in ts):
        return None
    s1, s2, s_out = (float(np.float32(t.quantization.scale[0])) for t in ts)
    if not (s1 > 0 and s2 > 0):
        return None
    bad = next(((k, r) for k, r in _rescales(s1, s2, s_out).items() if not 0.0 < r < 1.0), None)
    if bad is None:
        return None
    return Refusal(f"{bad[0]} rescale factor {bad[1]:.3g} (output scale {s_out:.3g} for input scales {s1:.3g} "
                   f"and {s2:.3g}) is outside (0, 1)",
                   "the calibration saw this ADD produce (almost) nothing: calibrate with more representative "
                   "data (--calibration, --samples), or retrain", aborts=True)


def prepare(graph: Graph, op: Op) -> AddParams:
    """ADD (§3.6): both inputs on a 2^-20 grid relative to twice the larger scale; three multipliers."""
    (s1, z1), (s2, z2), (s_out, z_out), shapes = binary_operands(graph, op)
    (m1, e1), (m2, e2), (mo, eo) = (quantize_multiplier(r) for r in _rescales(s1, s2, s_out).values())
    lo, hi = fused_activation(op, s_out, z_out)
    return AddParams(**shapes, in1_zp=z1, in2_zp=z2, out_zp=z_out, left_shift=ADD_LEFT_SHIFT, in1_multiplier=m1, in1_shift=e1,
                     in2_multiplier=m2, in2_shift=e2, out_multiplier=mo, out_shift=eo, act_min=lo, act_max=hi)


TESTS = (
    spec("add", [[4, 5, 3], [4, 5, 3]], [[-1, 1], [-1, 1]], 51, act="none"),
    spec("add", [[4, 5, 3], [1, 1, 3]], [[-1, 1], [-3, 2]], 52, act="relu"),
    spec("add", [[5, 1, 2], [5, 4, 2]], [[0, 2], [-1, 0]], 53, act="none"),
    spec("add", [[3, 6, 4], [1, 6, 1]], [[-8, 8], [-0.1, 0.1]], 54, act="relu6"),
    spec("add", [[1, 1, 1], [1, 1, 1]], [[-1, 1], [-50, 50]], 55, act="none"),
    spec("add", [[6, 6, 2], [6, 6, 2]], [[0, 0.01], [-0.02, 0]], 56, act="none"),
    spec("add", [[2, 3, 5], [2, 3, 5]], [[-200, 100], [-1, 3]], 57, act="relu"),
)


OPS = (OpDef("ADD", "eip_add", AddParams, prepare, IN2, refusal=refusal, in_place=SAME_SHAPES,
              options=("AddOptions", opt.fused_only), tests=TESTS, tested_with=frozenset({"RESHAPE"})),)
