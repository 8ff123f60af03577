"""FULLY_CONNECTED (INT8_SEMANTICS §3.3): per-channel or per-tensor weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import options as opt
from edgeimpro.ops.base import KernelParams, OpDef, Refusal, in_w_b, pointer_field, scalar_field
from edgeimpro.ops.prepare import (
    accumulator_range,
    bias_values,
    channel_matrix,
    channel_multipliers,
    check_bias,
    fused_activation,
    int8_activation,
    optional_input,
    requant_path,
    tensor_at,
    unsupported,
    weight_scales,
)
from edgeimpro.ops.testspec import spec
from edgeimpro.ops.wrap import WrapWarning, mac_wrap


@dataclass(frozen=True)
class FullyConnectedParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_fully_connected_params_t"
    C_DOC: ClassVar[str] = 'FULLY_CONNECTED. Input [batches, depth], weights [units, depth], bias int32 [units] or NULL.\nPer-tensor weights repeat their one multiplier for every unit.'
    batches: int
    depth: int
    units: int
    in_zp: int
    weights_zp: int = scalar_field('applied by TFLM for per-tensor weights only; 0 for per-channel')
    out_zp: int
    act_min: int
    act_max: int
    requant: int = scalar_field('EIP_REQUANT_*: the requantization proven exact for this layer')
    multiplier: tuple[int, ...] = pointer_field('[units]')
    shift: tuple[int, ...] = pointer_field('[units]')


def refusal(graph: Graph, op: Op) -> Refusal | None:
    """TFLM's Prepare refuses per-tensor weights whose bias scale is not input scale x weight scale."""
    ins = [graph.tensors[i] if i >= 0 else None for i in op.inputs]
    x, y = ins[0], graph.tensors[op.outputs[0]]
    if len(ins) < 3 or ins[1] is None or ins[2] is None or x is None:
        return None
    w, b = ins[1], ins[2]
    if any(t.quantization is None for t in (x, w, b, y)) or w.quantization.per_channel:
        return None
    s_in, s_w, s_bias, s_out = (float(t.quantization.scale[0]) for t in (x, w, b, y))
    if abs(s_in * s_w - s_bias) / s_out <= 0.02:
        return None
    return Refusal(f"bias '{b.name}' scale {s_bias:.6g} differs from input x weights scale {s_in * s_w:.6g} by "
                   "more than 2% of the output scale",
                   "TFLM needs the bias quantized at input scale x weight scale: convert again with `edgeimpro "
                   "convert` (a hand-edited model must keep the int8 spec)")


def prepare(graph: Graph, op: Op) -> FullyConnectedParams:
    """FULLY_CONNECTED (§3.3): per-channel ignores the weight zero point, per-tensor applies it."""
    x, w, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 1, "weights"), tensor_at(graph, op, 0, "output", True)
    s_in, z_in = int8_activation(op, x, "input")
    s_out, z_out = int8_activation(op, y, "output")
    if op.options.get("weights_format", 0) != 0:
        raise unsupported(op, "shuffled weights format is not supported")
    if len(w.shape) != 2:
        raise unsupported(op, f"weights shape {list(w.shape)} is not 2-D")
    units, depth = w.shape
    if x.size % depth != 0 or y.size % units != 0 or x.size // depth != y.size // units:
        raise unsupported(op, f"input {list(x.shape)} and output {list(y.shape)} do not fit weights {list(w.shape)}")
    per_channel = w.quantization is not None and w.quantization.per_channel
    scales, zps = weight_scales(op, w, "weights", units, 0)
    bias = optional_input(graph, op, 2)
    check_bias(op, bias, units)
    weights_zp = 0
    if not per_channel:
        weights_zp = zps[0]
        if not -128 <= weights_zp <= 127:
            raise unsupported(op, f"weights zero point {weights_zp} is outside int8")
    requant = channel_multipliers(op, s_in, scales, s_out, "unit")
    lo, hi = fused_activation(op, s_out, z_out)
    reach = accumulator_range(channel_matrix(w, 0), weights_zp, z_in, bias_values(graph, op))
    return FullyConnectedParams(
        batches=x.size // depth, depth=depth, units=units, in_zp=z_in, weights_zp=weights_zp, out_zp=z_out,
        act_min=lo, act_max=hi, requant=requant_path(*reach, requant), **requant)


def wrap(graph: Graph, op: Op, p: FullyConnectedParams) -> list[WrapWarning]:
    weights = np.asarray(graph.tensors[op.inputs[1]].data).reshape(p.units, p.depth)
    found = mac_wrap(graph, op, weights, p.weights_zp, p.in_zp, p.shift)
    return [found] if found is not None else []


def describe(graph: Graph, op: Op) -> list[str]:
    w = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    return [f"{w.shape[1]}->{w.shape[0]}"] if w is not None and len(w.shape) == 2 else []


TESTS = (
    spec("dense", [[16]], [[-1, 1]], 21, units=5, act="none", bias=True),
    spec("dense", [[16]], [[-1, 1]], 22, units=5, act="relu", bias=True, per_tensor=True),
    spec("dense", [[4, 12]], [[0, 3]], 23, units=3, act="relu6", bias=True),
    spec("dense", [[1]], [[-2, 0]], 24, units=7, act="none", bias=True),
    spec("dense", [[33]], [[-0.001, 0.002]], 25, units=1, act="none", bias=False),
    spec("dense", [[20]], [[-300, 300]], 26, units=8, act="relu", bias=True, per_tensor=True,
         zero_channel=True),
    spec("dense", [[3, 9]], [[-1, 4]], 27, units=6, act="none", bias=False, per_tensor=True),
    spec("dense", [[64]], [[-1, 1]], 28, units=10, act="none", bias=True, zero_channel=True),
)


OPS = (OpDef("FULLY_CONNECTED", "eip_fully_connected", FullyConnectedParams, prepare, in_w_b("weights"),
              refusal=refusal, wrap=wrap, describe=describe, tests=TESTS,
              options=("FullyConnectedOptions", opt.fully_connected)),)
