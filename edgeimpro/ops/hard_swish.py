"""HARD_SWISH (INT8_SEMANTICS §3.13): TFLM's int16 fixed-point pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.arith import quantize_multiplier
from edgeimpro.ops.base import ALWAYS, RECALIBRATE, KernelParams, OpDef, Refusal, scalar_field
from edgeimpro.ops.prepare import int8_activation, tensor_at, unsupported
from edgeimpro.ops.testspec import spec


@dataclass(frozen=True)
class HardSwishParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_hard_swish_params_t"
    C_DOC: ClassVar[str] = 'HARD_SWISH: int16 fixed-point pipeline; multipliers are int16 values.'
    size: int
    in_zp: int
    out_zp: int
    output_multiplier: int = scalar_field('int16')
    output_shift: int = scalar_field('<= 0')
    reluish_multiplier: int = scalar_field('int16')
    reluish_shift: int


def _int16_multiplier(m: int) -> int:
    return 32767 if m >= 2**31 - 1 - 2**15 else (m + 2**15) >> 16


def _hires(s_in: float) -> float:
    return float(np.float32(1.0 / 128.0) * np.float32(s_in))


def refusal(graph: Graph, op: Op) -> Refusal | None:
    """TFLM's Prepare needs the output multiplier's exponent <= 0 (an output scale not far below the input's)."""
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.quantization is None or y.quantization is None:
        return None
    s_in, s_out = float(x.quantization.scale[0]), float(y.quantization.scale[0])
    if s_out <= 0 or quantize_multiplier(_hires(s_in) / s_out)[1] <= 0:
        return None
    return Refusal(f"output scale {s_out:.6g} is too small for input scale {s_in:.6g} (output multiplier "
                   "exponent above 0)", RECALIBRATE)


def prepare(graph: Graph, op: Op) -> HardSwishParams:
    """HARD_SWISH (§3.13): int16 multipliers; the output exponent must be <= 0."""
    x, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 0, "output", True)
    s_in, z_in = int8_activation(op, x, "input")
    s_out, z_out = int8_activation(op, y, "output")
    hires = _hires(s_in)
    mo, eo = quantize_multiplier(hires / s_out)  # eo <= 0: refusal() checked it
    mr, er = quantize_multiplier(hires / (3.0 / 32768.0))
    if not -31 <= er <= 31 or eo < -31:
        raise unsupported(op, f"input scale {s_in:.6g} is outside what the fixed-point hard swish handles")
    return HardSwishParams(size=x.size, in_zp=z_in, out_zp=z_out, output_multiplier=_int16_multiplier(mo),
                           output_shift=eo, reluish_multiplier=_int16_multiplier(mr), reluish_shift=er)


TESTS = (
    spec("hard_swish", [[8, 8, 4]], [[-3, 3]], 111),
    spec("hard_swish", [[16, 16]], [[-0.1, 0.1]], 112),
    spec("hard_swish", [[3, 7]], [[-50, 50]], 113),
    spec("hard_swish", [[50]], [[0, 6]], 114),
    spec("hard_swish", [[50]], [[-6, 0]], 115),
    spec("hard_swish", [[2, 2, 2]], [[-20, 3]], 116),
)


OPS = (OpDef("HARD_SWISH", "eip_hard_swish", HardSwishParams, prepare, refusal=refusal, in_place=ALWAYS,
              tests=TESTS),)
