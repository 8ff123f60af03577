"""Checks and derivations every op's prepare shares: tensors by role, int8 activations, weight scales,
multipliers with their pre-shift limit, fused activations, spatial padding, broadcasting. Every refusal is
an UnsupportedOpError naming the op, the tensor and the number."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgeimpro.errors import UnsupportedOpError
from edgeimpro.graph.model import Graph, Op, Tensor
from edgeimpro.ops.arith import MAX_PRE_SHIFT, activation_range, compute_padding, quantize_multiplier
from edgeimpro.ops.base import MAX_DIMS


def unsupported(op: Op, message: str, hint: str | None = None) -> UnsupportedOpError:
    return UnsupportedOpError(f"op {op.index} ({op.opcode}): {message}",
                              hint=hint or "this model cannot run on the int8 runtime as it is")


def tensor_at(graph: Graph, op: Op, position: int, role: str, output: bool = False) -> Tensor:
    indices = op.outputs if output else op.inputs
    if position >= len(indices) or indices[position] < 0:
        raise unsupported(op, f"missing {role} tensor")
    return graph.tensors[indices[position]]


def optional_input(graph: Graph, op: Op, position: int) -> Tensor | None:
    if position >= len(op.inputs) or op.inputs[position] < 0:
        return None
    return graph.tensors[op.inputs[position]]


def int8_activation(op: Op, t: Tensor, role: str) -> tuple[float, int]:
    """(scale as a Python float = f64 of the float32, zero point) of a per-tensor int8 activation."""
    if t.dtype != "int8":
        raise unsupported(op, f"{role} tensor '{t.name}' is {t.dtype}, only int8 is supported",
                     hint="convert the model with full int8 quantization (`edgeimpro convert`)")
    q = t.quantization
    if q is None:
        raise unsupported(op, f"{role} tensor '{t.name}' has no quantization parameters")
    if q.per_channel:
        raise unsupported(op, f"{role} tensor '{t.name}' is per-channel quantized; activations must be per-tensor")
    scale, zp = float(q.scale[0]), int(q.zero_point[0])
    if not (math.isfinite(scale) and scale > 0):
        raise unsupported(op, f"{role} tensor '{t.name}' has scale {scale}; it must be positive and finite")
    if not -128 <= zp <= 127:
        raise unsupported(op, f"{role} tensor '{t.name}' has zero point {zp} outside int8")
    return scale, zp


def weight_scales(op: Op, t: Tensor, role: str, channels: int, channel_dim: int) -> tuple[list[float], list[int]]:
    """Per-channel (or repeated per-tensor) weight scales and zero points; per-channel scales must run
    along `channel_dim` (the output-channel dimension the kernel indexes them by)."""
    if t.dtype != "int8":
        raise unsupported(op, f"{role} tensor '{t.name}' is {t.dtype}, only int8 weights are supported")
    if t.data is None:
        raise unsupported(op, f"{role} tensor '{t.name}' is not a constant", hint="weights must be in the model file")
    q = t.quantization
    if q is None:
        raise unsupported(op, f"{role} tensor '{t.name}' has no quantization parameters")
    if q.per_channel and q.quantized_dimension != channel_dim:
        raise unsupported(op, f"{role} tensor '{t.name}' is quantized along dimension {q.quantized_dimension}; "
                         f"the kernel needs per-channel scales along dimension {channel_dim}")
    scales = [float(s) for s in q.scale]
    zps = [int(z) for z in q.zero_point]
    if len(scales) == 1:
        scales, zps = scales * channels, zps * channels
    if len(scales) != channels:
        raise unsupported(op, f"{role} tensor '{t.name}' has {len(scales)} scales for {channels} channels")
    if any(not (math.isfinite(s) and s >= 0) for s in scales):
        raise unsupported(op, f"{role} tensor '{t.name}' has a negative or non-finite scale")
    return scales, zps


def check_bias(op: Op, t: Tensor | None, channels: int) -> None:
    if t is None:
        return
    if t.dtype != "int32":
        raise unsupported(op, f"bias tensor '{t.name}' is {t.dtype}, only int32 is supported")
    if t.data is None or t.size != channels:
        raise unsupported(op, f"bias tensor '{t.name}' must be a constant of {channels} values, has shape {list(t.shape)}")


def multiplier(op: Op, d: float, what: str) -> tuple[int, int]:
    m, s = quantize_multiplier(d)
    if s > MAX_PRE_SHIFT:
        raise unsupported(op, f"{what} multiplier {d:.6g} needs a pre-shift by 2^{s}: TFLM computes 1 << {s}, which "
                         f"is undefined in C++ and differs between platforms (x86 shifts by {s % 32}, Cortex-M "
                         "gives 0)",
                     hint="the output scale is degenerate (tiny) for this layer; recalibrate the quantization")
    return m, s


def fused_activation(op: Op, scale: float, zp: int) -> tuple[int, int]:
    act = op.options.get("activation", "NONE")
    try:
        return activation_range(act, scale, zp)
    except ValueError as e:
        raise unsupported(op, f"unsupported fused activation: {e}") from None


def shape4(op: Op, t: Tensor, role: str) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        raise unsupported(op, f"{role} tensor '{t.name}' has shape {list(t.shape)}, expected 4-D NHWC")
    n, h, w, c = t.shape
    return n, h, w, c


def spatial_padding(op: Op, padding: str, in_hw: tuple[int, int], filt: tuple[int, int], strides: tuple[int, int],
                   dilations: tuple[int, int], out_hw: tuple[int, int]) -> tuple[int, int]:
    """Padding (top, left); checks the output size TFLM would compute."""
    if padding not in ("SAME", "VALID"):
        raise unsupported(op, f"padding {padding} is not supported")
    if min(strides) < 1 or min(dilations) < 1:
        raise unsupported(op, f"strides {strides} and dilations {dilations} must be >= 1")
    (oh, top), (ow, left) = (compute_padding(padding, i, f, s, d)
                             for i, f, s, d in zip(in_hw, filt, strides, dilations, strict=True))
    if (oh, ow) != tuple(out_hw):
        raise unsupported(op, f"output is {list(out_hw)} but {padding} padding gives {[oh, ow]}")
    return top, left


def padded_shape(shape: tuple[int, ...]) -> list[int]:
    if len(shape) > MAX_DIMS:
        raise ValueError(f"rank {len(shape)} > {MAX_DIMS}")
    return [1] * (MAX_DIMS - len(shape)) + [int(d) for d in shape]


def row_major_strides(dims: list[int]) -> list[int]:
    out, stride = [0] * len(dims), 1
    for d in range(len(dims) - 1, -1, -1):
        out[d] = stride
        stride *= dims[d]
    return out


def broadcast(op: Op, a: Tensor, b: Tensor, out: Tensor) -> tuple[int, list[int], list[int], list[int]]:
    """(broadcast flag, output dims, strides of a, strides of b) over MAX_DIMS dims (numpy rules)."""
    try:
        da, db, do = padded_shape(a.shape), padded_shape(b.shape), padded_shape(out.shape)
    except ValueError as e:
        raise unsupported(op, str(e)) from None
    dims = []
    for x, y in zip(da, db, strict=True):
        if x != y and 1 not in (x, y):
            raise unsupported(op, f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
        dims.append(max(x, y))
    if dims != do:
        raise unsupported(op, f"output shape {list(out.shape)} is not the broadcast of {list(a.shape)} and {list(b.shape)}")
    sa = [s if d != 1 else 0 for s, d in zip(row_major_strides(da), da, strict=True)]
    sb = [s if d != 1 else 0 for s, d in zip(row_major_strides(db), db, strict=True)]
    flag = 0 if a.size == out.size and b.size == out.size else 1
    return flag, dims, sa, sb


def channel_multipliers(op: Op, s_in: float, scales: list[float], s_out: float, what: str = "channel"
                        ) -> dict[str, tuple[int, ...]]:
    """The per-channel requantization of a MAC op, QM(s_in * s_w[c] / s_out) in double, as the params
    record's `multiplier` and `shift` fields."""
    pairs = [multiplier(op, s_in * sw / s_out, f"{what} {i}") for i, sw in enumerate(scales)]
    return {"multiplier": tuple(m for m, _ in pairs), "shift": tuple(e for _, e in pairs)}


def window(op: Op, in_hw: tuple[int, int], filt: tuple[int, int], out_hw: tuple[int, int], dilated: bool = True
           ) -> dict[str, int]:
    """Strides, dilations (convs) and padding of a windowed op from its options, checked against the output
    size TFLM computes, as params record fields."""
    o = op.options
    strides = (o["stride_h"], o["stride_w"])
    dilations = (o["dilation_h"], o["dilation_w"]) if dilated else (1, 1)
    top, left = spatial_padding(op, o["padding"], in_hw, filt, strides, dilations, out_hw)
    fields = {"stride_h": strides[0], "stride_w": strides[1], "pad_top": top, "pad_left": left}
    if dilated:
        fields.update(dilation_h=dilations[0], dilation_w=dilations[1])
    return fields


def binary_operands(graph: Graph, op: Op) -> tuple[tuple[float, int], tuple[float, int], tuple[float, int],
                                                   dict[str, Any]]:
    """ADD / MUL: the (scale, zero point) of both inputs and the output, and the broadcast as params fields."""
    a, b, y = tensor_at(graph, op, 0, "input 1"), tensor_at(graph, op, 1, "input 2"), tensor_at(graph, op, 0, "output", True)
    q1, q2, qo = int8_activation(op, a, "input 1"), int8_activation(op, b, "input 2"), int8_activation(op, y, "output")
    flag, dims, st1, st2 = broadcast(op, a, b, y)
    return q1, q2, qo, {"broadcast": flag, "dims": tuple(dims), "in1_strides": tuple(st1), "in2_strides": tuple(st2)}


def conv_operands(graph: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, tuple[float, int], tuple[float, int],
                                                 tuple[int, int, int, int], tuple[int, int, int, int]]:
    """CONV_2D / DEPTHWISE_CONV_2D: input, filter and output tensors, the input's and the output's
    (scale, zero point), and the NHWC shapes of input and output."""
    x, w, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 1, "filter"), tensor_at(graph, op, 0, "output", True)
    q_in, q_out = int8_activation(op, x, "input"), int8_activation(op, y, "output")
    return x, w, y, q_in, q_out, shape4(op, x, "input"), shape4(op, y, "output")


def conv_fields(graph: Graph, op: Op, w: Tensor, channel_dim: int, q_in: tuple[float, int], q_out: tuple[float, int],
                in_hw: tuple[int, int], out_hw: tuple[int, int], channels: int) -> dict[str, Any]:
    """What CONV_2D and DEPTHWISE_CONV_2D derive alike: filter scales along `channel_dim` and the bias
    checked, the window (strides, dilations, padding), the per-channel requantization and the clamp."""
    scales, _ = weight_scales(op, w, "filter", channels, channel_dim)
    check_bias(op, optional_input(graph, op, 2), channels)
    fields = window(op, in_hw, (int(w.shape[1]), int(w.shape[2])), out_hw)
    fields.update(channel_multipliers(op, q_in[0], scales, q_out[0]))
    lo, hi = fused_activation(op, *q_out)
    reach = accumulator_range(channel_matrix(w, channel_dim), 0, q_in[1], bias_values(graph, op))
    return {**fields, "in_zp": q_in[1], "out_zp": q_out[1], "act_min": lo, "act_max": hi,
            "requant": requant_path(*reach, fields)}


def accumulator_range(weights: np.ndarray, weights_zp: int, in_zp: int, bias: np.ndarray | None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The exact range [lo, hi] of every channel's accumulator sum_k w[c, k] (x_k - in_zp) + bias[c] over all
    int8 inputs, `weights` as [channels, taps] (int64 arrays). Every term's range holds 0, so partial sums
    stay inside it too."""
    w = weights.astype(np.int64) - weights_zp
    x_lo, x_hi = -128 - in_zp, 127 - in_zp
    lo = np.minimum(w * x_lo, w * x_hi).sum(axis=1)
    hi = np.maximum(w * x_lo, w * x_hi).sum(axis=1)
    if bias is not None:
        b = np.asarray(bias, np.int64).reshape(-1)
        lo, hi = lo + b, hi + b
    return lo, hi


SINGLE_MULTIPLY_BOUND = 2**30


REQUANT_GENERAL, REQUANT_NO_PRESHIFT, REQUANT_SMMULR = 0, 1, 2
REQUANT_KINDS = {"REQUANT_GENERAL": REQUANT_GENERAL, "REQUANT_NO_PRESHIFT": REQUANT_NO_PRESHIFT,
                 "REQUANT_SMMULR": REQUANT_SMMULR}   # EIP_REQUANT_* in eip_kernels.h


def requant_path(lo: np.ndarray, hi: np.ndarray, requant: dict[str, tuple[int, ...]]) -> int:
    """The requantization a MAC layer's kernels may use, proven equal to TFLM's for every int8 input:
    REQUANT_SMMULR when no channel pre-shifts (shift <= 0) and every accumulator (bias included) stays within
    [-2^30, 2^30), where TFLM's SRDHM(acc, M) is SMMULR(2 acc, M), one rounding multiply; REQUANT_NO_PRESHIFT
    when no channel pre-shifts (a 64-bit product, no shift-and-wrap step); REQUANT_GENERAL otherwise. A
    channel whose multiplier is 0 (a flushed, all-zero channel) gives 0 on every path whatever its sum."""
    if not all(s <= 0 for s in requant["shift"]) or not all(0 <= m < 2**31 for m in requant["multiplier"]):
        return REQUANT_GENERAL
    live = [c for c, m in enumerate(requant["multiplier"]) if m != 0]
    fits = all(-SINGLE_MULTIPLY_BOUND <= int(lo[c]) and int(hi[c]) < SINGLE_MULTIPLY_BOUND for c in live)
    return REQUANT_SMMULR if fits else REQUANT_NO_PRESHIFT


def channel_matrix(w: Tensor, channel_dim: int) -> np.ndarray:
    """A weight tensor as [channels, taps], channels along `channel_dim`."""
    data = np.asarray(w.data)
    return np.moveaxis(data, channel_dim, 0).reshape(data.shape[channel_dim], -1)


def folded_bias(weights: np.ndarray, bias: np.ndarray | None, in_zp: int) -> tuple[int, ...]:
    """Per output channel bias - in_zp * (the sum of its weights), wrapped to int32 like the kernels' int32
    sums: Sum w (x - in_zp) + bias = Sum w x + this, so a kernel may multiply the raw input codes. `weights`
    is [channels, taps]."""
    sums = np.asarray(weights, np.int64).reshape(len(weights), -1).sum(axis=1)
    folded = (np.zeros(len(weights), np.int64) if bias is None else np.asarray(bias, np.int64)) - int(in_zp) * sums
    return tuple(int(v) for v in ((folded + 2**31) % 2**32) - 2**31)


def bias_values(graph: Graph, op: Op) -> np.ndarray | None:
    bias = optional_input(graph, op, 2)
    return None if bias is None or bias.data is None else np.asarray(bias.data)
