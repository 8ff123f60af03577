"""LEAKY_RELU (INT8_SEMANTICS §3.14): two requantizations, chosen by the sign of x - z_in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import options as opt
from edgeimpro.ops.base import ALWAYS, KernelParams, OpDef
from edgeimpro.ops.prepare import int8_activation, multiplier, tensor_at, unsupported
from edgeimpro.ops.testspec import spec
from edgeimpro.ops.wrap import WrapWarning, codes_outside, elementwise_wrap, offset_range, safe_range


@dataclass(frozen=True)
class LeakyReluParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_leaky_relu_params_t"
    C_DOC: ClassVar[str] = 'LEAKY_RELU. alpha_sign is -1 for a negative alpha (the multiplier is its magnitude).'
    size: int
    in_zp: int
    out_zp: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int
    alpha_sign: int


def prepare(graph: Graph, op: Op) -> LeakyReluParams:
    """LEAKY_RELU (§3.14): QM(s_in * alpha / s_out) and QM(s_in / s_out), in double."""
    x, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 0, "output", True)
    s_in, z_in = int8_activation(op, x, "input")
    s_out, z_out = int8_activation(op, y, "output")
    alpha = float(np.float32(op.options.get("alpha", 0.2)))
    ma, sa = multiplier(op, s_in * alpha / s_out, "alpha")
    mi, si = multiplier(op, s_in / s_out, "identity")
    if abs(ma) >= 2**31:
        raise unsupported(op, f"alpha multiplier of alpha={alpha} rounds to -2^31, which TFLM cannot negate")
    return LeakyReluParams(size=x.size, in_zp=z_in, out_zp=z_out, identity_multiplier=mi, identity_shift=si,
                           alpha_multiplier=abs(ma), alpha_shift=sa, alpha_sign=-1 if ma < 0 else 1)


def wrap(graph: Graph, op: Op, p: LeakyReluParams) -> list[WrapWarning]:
    # x >= z_in takes the identity multiplier, x < z_in the alpha one
    safe = (safe_range(p.alpha_shift)[0], safe_range(p.identity_shift)[1])
    found = elementwise_wrap(op, "x - z_in", offset_range(p.in_zp), safe, max(p.alpha_shift, p.identity_shift),
                             codes_outside(p.in_zp, safe))
    return [found] if found is not None else []


def describe(graph: Graph, op: Op) -> list[str]:
    return [f"alpha {op.options.get('alpha', 0.0):g}"]


TESTS = (
    spec("leaky_relu", [[8, 8, 4]], [[-3, 3]], 121, alpha=0.2),
    spec("leaky_relu", [[16, 16]], [[-0.1, 0.1]], 122, alpha=0.01),
    spec("leaky_relu", [[3, 7]], [[-50, 50]], 123, alpha=0.5),
    spec("leaky_relu", [[50]], [[0, 6]], 124, alpha=0.3),
    spec("leaky_relu", [[50]], [[-6, 0]], 125, alpha=0.95),
    spec("leaky_relu", [[2, 2, 2]], [[-20, 3]], 126, alpha=0.1),
)


OPS = (OpDef("LEAKY_RELU", "eip_leaky_relu", LeakyReluParams, prepare, in_place=ALWAYS, wrap=wrap,
              describe=describe, options=("LeakyReluOptions", opt.leaky_relu), tests=TESTS),)
