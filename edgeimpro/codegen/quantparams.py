"""Load-time integer parameters of the int8 kernels, computed the way TensorFlow Lite Micro's Prepare does.

Written from `INT8_SEMANTICS.md` (the project's statement of TFLM's int8 arithmetic). Every kernel of
`firmware/runtime` receives one params struct; each dataclass here mirrors one struct of `eip_kernels.h`
field by field (same names, same order; `int` -> `int32_t`, `array_field()` -> `int32_t x[EIP_MAX_DIMS]`,
`pointer_field()` -> `const int32_t *x`). `op_params(graph, op)` is the entry point; it raises
`UnsupportedOpError` for whatever TFLM rejects, aborts on, or computes differently from one platform to the
next. Where TFLM's int32 arithmetic overflows for some inputs (an accumulator, or its pre-shift before the
fixed-point multiply, under a degenerate quantization) TFLM's compiled code wraps around in two's complement
and the runtime reproduces that bit for bit; `wrap_warnings(graph, op, params)` names those layers.

Pure Python + numpy: no TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
import tflite

from edgeimpro.errors import UnsupportedOpError
from edgeimpro.graph.model import Graph, Op, Tensor

RUNTIME_ABI_VERSION = 1  # EIP_RUNTIME_ABI_VERSION in eip_runtime.h: bump both when a params struct changes
MAX_DIMS = 6            # EIP_MAX_DIMS
ADD_LEFT_SHIFT = 20     # TFLM's int8 ADD pre-shift
SOFTMAX_OUTPUT_SCALE = np.float32(1.0 / 256.0)
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# ---------------------------------------------------------------------------------------------------------
# Field kinds, so the C struct layout can be derived (and checked) from the dataclasses.

SCALAR, ARRAY, POINTER = "int32_t", "int32_t[EIP_MAX_DIMS]", "const int32_t *"


def array_field() -> Any:
    """A fixed `int32_t name[EIP_MAX_DIMS]` member (a tuple of MAX_DIMS ints)."""
    return field(metadata={"c_kind": ARRAY})


def pointer_field() -> Any:
    """A `const int32_t *name` member (a tuple of ints stored in a separate const array)."""
    return field(metadata={"c_kind": POINTER})


@dataclass(frozen=True)
class KernelParams:
    """Base of the params dataclasses: C_STRUCT names the mirrored struct."""

    C_STRUCT: ClassVar[str] = ""

    @classmethod
    def c_fields(cls) -> list[tuple[str, str]]:
        """[(member name, c kind)] in struct order; c kind is SCALAR, ARRAY or POINTER."""
        return [(f.name, f.metadata.get("c_kind", SCALAR)) for f in fields(cls)]

    def out_of_range_field(self) -> str | None:
        """Name of the first field holding a value outside int32 (or an array of the wrong length)."""
        for name, kind in self.c_fields():
            value = getattr(self, name)
            values = value if kind != SCALAR else (value,)
            if kind == ARRAY and len(values) != MAX_DIMS:
                return name
            if any(not INT32_MIN <= int(v) <= INT32_MAX for v in values):
                return name
        return None


@dataclass(frozen=True)
class Conv2DParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_conv2d_params_t"
    batches: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    filter_h: int
    filter_w: int
    filter_c: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_top: int
    pad_left: int
    in_zp: int
    out_zp: int
    act_min: int
    act_max: int
    multiplier: tuple[int, ...] = pointer_field()
    shift: tuple[int, ...] = pointer_field()


@dataclass(frozen=True)
class DepthwiseConv2DParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_depthwise_conv2d_params_t"
    batches: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    depth_multiplier: int
    filter_h: int
    filter_w: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_top: int
    pad_left: int
    in_zp: int
    out_zp: int
    act_min: int
    act_max: int
    multiplier: tuple[int, ...] = pointer_field()
    shift: tuple[int, ...] = pointer_field()


@dataclass(frozen=True)
class FullyConnectedParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_fully_connected_params_t"
    batches: int
    depth: int
    units: int
    in_zp: int
    weights_zp: int
    out_zp: int
    act_min: int
    act_max: int
    multiplier: tuple[int, ...] = pointer_field()
    shift: tuple[int, ...] = pointer_field()


@dataclass(frozen=True)
class Pool2DParams(KernelParams):
    """MAX_POOL_2D and AVERAGE_POOL_2D."""

    C_STRUCT: ClassVar[str] = "eip_pool2d_params_t"
    batches: int
    in_h: int
    in_w: int
    channels: int
    out_h: int
    out_w: int
    filter_h: int
    filter_w: int
    stride_h: int
    stride_w: int
    pad_top: int
    pad_left: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class AddParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_add_params_t"
    broadcast: int
    dims: tuple[int, ...] = array_field()
    in1_strides: tuple[int, ...] = array_field()
    in2_strides: tuple[int, ...] = array_field()
    in1_zp: int
    in2_zp: int
    out_zp: int
    left_shift: int
    in1_multiplier: int
    in1_shift: int
    in2_multiplier: int
    in2_shift: int
    out_multiplier: int
    out_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MulParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_mul_params_t"
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


@dataclass(frozen=True)
class MeanParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_mean_params_t"
    out_dims: tuple[int, ...] = array_field()
    out_strides: tuple[int, ...] = array_field()
    reduce_dims: tuple[int, ...] = array_field()
    reduce_strides: tuple[int, ...] = array_field()
    count: int
    in_zp: int
    out_zp: int
    multiplier: int
    shift: int


@dataclass(frozen=True)
class SoftmaxParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_softmax_params_t"
    rows: int
    depth: int
    input_multiplier: int
    input_left_shift: int
    diff_min: int


@dataclass(frozen=True)
class LogisticParams(KernelParams):
    """LOGISTIC and TANH."""

    C_STRUCT: ClassVar[str] = "eip_logistic_params_t"
    size: int
    in_zp: int
    input_multiplier: int
    input_left_shift: int
    input_range_radius: int


@dataclass(frozen=True)
class HardSwishParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_hard_swish_params_t"
    size: int
    in_zp: int
    out_zp: int
    output_multiplier: int
    output_shift: int
    reluish_multiplier: int
    reluish_shift: int


@dataclass(frozen=True)
class LeakyReluParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_leaky_relu_params_t"
    size: int
    in_zp: int
    out_zp: int
    identity_multiplier: int
    identity_shift: int
    alpha_multiplier: int
    alpha_shift: int
    alpha_sign: int


@dataclass(frozen=True)
class ReluParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_relu_params_t"
    size: int
    in_zp: int
    out_zp: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class Relu6Params(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_relu6_params_t"
    size: int
    lower: int
    upper: int


@dataclass(frozen=True)
class PadParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_pad_params_t"
    in_dims: tuple[int, ...] = array_field()
    pad_before: tuple[int, ...] = array_field()
    pad_after: tuple[int, ...] = array_field()
    pad_value: int


@dataclass(frozen=True)
class ConcatenationParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_concatenation_params_t"
    num_inputs: int
    outer: int
    inner_sizes: tuple[int, ...] = pointer_field()


@dataclass(frozen=True)
class QuantizeParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_quantize_params_t"
    size: int
    in_zp: int
    out_zp: int
    multiplier: int
    shift: int


@dataclass(frozen=True)
class ReshapeParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_reshape_params_t"
    size: int


PARAMS_CLASSES: tuple[type[KernelParams], ...] = (
    Conv2DParams, DepthwiseConv2DParams, FullyConnectedParams, Pool2DParams, AddParams, MulParams,
    MeanParams, SoftmaxParams, LogisticParams, HardSwishParams, LeakyReluParams, ReluParams, Relu6Params,
    PadParams, ConcatenationParams, QuantizeParams, ReshapeParams,
)

# ---------------------------------------------------------------------------------------------------------
# Primitives (INT8_SEMANTICS §2)


def round_away(x: float) -> int:
    """C `round`/`roundf`: nearest integer, halves away from zero (exact on the binary value)."""
    t = math.trunc(x)
    frac = x - t      # exact for binary floating point
    if abs(frac) >= 0.5:
        t += 1 if x > 0 else -1
    return int(t)


def quantize_multiplier(d: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier (§2.3): d ~= M * 2^(s - 31), M a Q0.31 mantissa. No clamp of s at +30."""
    if d == 0:
        return 0, 0
    m, e = math.frexp(d)
    q = round_away(m * 2.0**31)
    if q == 2**31:
        q, e = 2**30, e + 1
    if e < -31:
        return 0, 0
    return q, e


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """Fused activation clamp on int8 codes (CalculateActivationRangeQuantized, §2.5)."""

    def q(f: float) -> int:
        with np.errstate(over="ignore"):
            ratio = float(np.float32(f) / np.float32(scale))  # float32 division, as TFLM
        if not (math.isfinite(ratio) and INT32_MIN <= round_away(ratio) <= INT32_MAX):
            raise ValueError(f"{activation} bound {f} / output scale {scale:.6g} overflows int32")
        return zero_point + round_away(ratio)

    if activation == "NONE":
        return -128, 127
    if activation == "RELU":
        return max(-128, zero_point), 127
    if activation == "RELU6":
        return max(-128, zero_point), min(127, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(-128, q(-1.0)), min(127, q(1.0))
    raise ValueError(f"fused activation {activation}")


def compute_padding(padding: str, in_size: int, filter_size: int, stride: int, dilation: int = 1
                    ) -> tuple[int, int]:
    """(output size, padding before) along one axis (§2.6); the odd remainder goes after implicitly."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
    elif padding == "VALID":
        out = (in_size - effective) // stride + 1
    else:
        raise ValueError(f"padding {padding}")
    total = max(0, (out - 1) * stride + effective - in_size)
    return out, total // 2


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by the op functions


def _error(op: Op, message: str, hint: str | None = None) -> UnsupportedOpError:
    return UnsupportedOpError(f"op {op.index} ({op.opcode}): {message}",
                              hint=hint or "this model cannot run on the int8 runtime as it is")


def _tensor(graph: Graph, op: Op, position: int, role: str, output: bool = False) -> Tensor:
    indices = op.outputs if output else op.inputs
    if position >= len(indices) or indices[position] < 0:
        raise _error(op, f"missing {role} tensor")
    return graph.tensors[indices[position]]


def _optional(graph: Graph, op: Op, position: int) -> Tensor | None:
    if position >= len(op.inputs) or op.inputs[position] < 0:
        return None
    return graph.tensors[op.inputs[position]]


def _int8(op: Op, t: Tensor, role: str) -> tuple[float, int]:
    """(scale as a Python float = f64 of the float32, zero point) of a per-tensor int8 activation."""
    if t.dtype != "int8":
        raise _error(op, f"{role} tensor '{t.name}' is {t.dtype}, only int8 is supported",
                     hint="convert the model with full int8 quantization (`edgeimpro convert`)")
    q = t.quantization
    if q is None:
        raise _error(op, f"{role} tensor '{t.name}' has no quantization parameters")
    if q.per_channel:
        raise _error(op, f"{role} tensor '{t.name}' is per-channel quantized; activations must be per-tensor")
    scale, zp = float(q.scale[0]), int(q.zero_point[0])
    if not (math.isfinite(scale) and scale > 0):
        raise _error(op, f"{role} tensor '{t.name}' has scale {scale}; it must be positive and finite")
    if not -128 <= zp <= 127:
        raise _error(op, f"{role} tensor '{t.name}' has zero point {zp} outside int8")
    return scale, zp


def _weights(op: Op, t: Tensor, role: str, channels: int, channel_dim: int) -> tuple[list[float], list[int]]:
    """Per-channel (or repeated per-tensor) weight scales and zero points; per-channel scales must run
    along `channel_dim` (the output-channel dimension the kernel indexes them by)."""
    if t.dtype != "int8":
        raise _error(op, f"{role} tensor '{t.name}' is {t.dtype}, only int8 weights are supported")
    if t.data is None:
        raise _error(op, f"{role} tensor '{t.name}' is not a constant", hint="weights must be in the model file")
    q = t.quantization
    if q is None:
        raise _error(op, f"{role} tensor '{t.name}' has no quantization parameters")
    if q.per_channel and q.quantized_dimension != channel_dim:
        raise _error(op, f"{role} tensor '{t.name}' is quantized along dimension {q.quantized_dimension}; "
                         f"the kernel needs per-channel scales along dimension {channel_dim}")
    scales = [float(s) for s in q.scale]
    zps = [int(z) for z in q.zero_point]
    if len(scales) == 1:
        scales, zps = scales * channels, zps * channels
    if len(scales) != channels:
        raise _error(op, f"{role} tensor '{t.name}' has {len(scales)} scales for {channels} channels")
    if any(not (math.isfinite(s) and s >= 0) for s in scales):
        raise _error(op, f"{role} tensor '{t.name}' has a negative or non-finite scale")
    return scales, zps


def _bias(op: Op, t: Tensor | None, channels: int) -> None:
    if t is None:
        return
    if t.dtype != "int32":
        raise _error(op, f"bias tensor '{t.name}' is {t.dtype}, only int32 is supported")
    if t.data is None or t.size != channels:
        raise _error(op, f"bias tensor '{t.name}' must be a constant of {channels} values, has shape {list(t.shape)}")


MAX_PRE_SHIFT = 31  # TFLM's `x * (1 << shift)`: undefined beyond 31, and x86 and Cortex-M then disagree


def _multiplier(op: Op, d: float, what: str) -> tuple[int, int]:
    m, s = quantize_multiplier(d)
    if s > MAX_PRE_SHIFT:
        raise _error(op, f"{what} multiplier {d:.6g} needs a pre-shift by 2^{s}: TFLM computes 1 << {s}, which "
                         f"is undefined in C++ and differs between platforms (x86 shifts by {s % 32}, Cortex-M "
                         "gives 0)",
                     hint="the output scale is degenerate (tiny) for this layer; recalibrate the quantization")
    return m, s


def _activation(op: Op, scale: float, zp: int) -> tuple[int, int]:
    act = op.options.get("activation", "NONE")
    try:
        return activation_range(act, scale, zp)
    except ValueError as e:
        raise _error(op, f"unsupported fused activation: {e}") from None


def _shape4(op: Op, t: Tensor, role: str) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        raise _error(op, f"{role} tensor '{t.name}' has shape {list(t.shape)}, expected 4-D NHWC")
    n, h, w, c = t.shape
    return n, h, w, c


def _check_spatial(op: Op, padding: str, in_hw: tuple[int, int], filt: tuple[int, int], strides: tuple[int, int],
                   dilations: tuple[int, int], out_hw: tuple[int, int]) -> tuple[int, int]:
    """Padding (top, left); checks the output size TFLM would compute."""
    if padding not in ("SAME", "VALID"):
        raise _error(op, f"padding {padding} is not supported")
    if min(strides) < 1 or min(dilations) < 1:
        raise _error(op, f"strides {strides} and dilations {dilations} must be >= 1")
    (oh, top), (ow, left) = (compute_padding(padding, i, f, s, d)
                             for i, f, s, d in zip(in_hw, filt, strides, dilations, strict=True))
    if (oh, ow) != tuple(out_hw):
        raise _error(op, f"output is {list(out_hw)} but {padding} padding gives {[oh, ow]}")
    return top, left


def _padded_shape(shape: tuple[int, ...]) -> list[int]:
    if len(shape) > MAX_DIMS:
        raise ValueError(f"rank {len(shape)} > {MAX_DIMS}")
    return [1] * (MAX_DIMS - len(shape)) + [int(d) for d in shape]


def _strides(dims: list[int]) -> list[int]:
    out, stride = [0] * len(dims), 1
    for d in range(len(dims) - 1, -1, -1):
        out[d] = stride
        stride *= dims[d]
    return out


def _broadcast(op: Op, a: Tensor, b: Tensor, out: Tensor) -> tuple[int, list[int], list[int], list[int]]:
    """(broadcast flag, output dims, strides of a, strides of b) over MAX_DIMS dims (numpy rules)."""
    try:
        da, db, do = _padded_shape(a.shape), _padded_shape(b.shape), _padded_shape(out.shape)
    except ValueError as e:
        raise _error(op, str(e)) from None
    dims = []
    for x, y in zip(da, db, strict=True):
        if x != y and 1 not in (x, y):
            raise _error(op, f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
        dims.append(max(x, y))
    if dims != do:
        raise _error(op, f"output shape {list(out.shape)} is not the broadcast of {list(a.shape)} and {list(b.shape)}")
    sa = [s if d != 1 else 0 for s, d in zip(_strides(da), da, strict=True)]
    sb = [s if d != 1 else 0 for s, d in zip(_strides(db), db, strict=True)]
    flag = 0 if a.size == out.size and b.size == out.size else 1
    return flag, dims, sa, sb


# ---------------------------------------------------------------------------------------------------------
# One function per op


def conv2d_params(graph: Graph, op: Op) -> Conv2DParams:
    """CONV_2D (§3.1): per-channel QM(s_in * s_w[c] / s_out) in double; weight zero point ignored."""
    x, w, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 1, "filter"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    n, h, wd, c = _shape4(op, x, "input")
    on, oh, ow, oc = _shape4(op, y, "output")
    if len(w.shape) != 4:
        raise _error(op, f"filter shape {list(w.shape)} is not 4-D")
    fo, fh, fw, fc = w.shape
    if fo != oc or on != n or fc <= 0 or c % fc != 0 or oc % (c // fc) != 0:
        raise _error(op, f"filter {list(w.shape)} does not fit input {list(x.shape)} and output {list(y.shape)}")
    scales, _ = _weights(op, w, "filter", oc, 0)
    bias = _optional(graph, op, 2)
    _bias(op, bias, oc)
    o = op.options
    top, left = _check_spatial(op, o["padding"], (h, wd), (fh, fw), (o["stride_h"], o["stride_w"]),
                               (o["dilation_h"], o["dilation_w"]), (oh, ow))
    mults = [_multiplier(op, s_in * sw / s_out, f"channel {i}") for i, sw in enumerate(scales)]
    lo, hi = _activation(op, s_out, z_out)
    return Conv2DParams(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=oh, out_w=ow, out_c=oc, filter_h=fh, filter_w=fw, filter_c=fc,
        stride_h=o["stride_h"], stride_w=o["stride_w"], dilation_h=o["dilation_h"], dilation_w=o["dilation_w"],
        pad_top=top, pad_left=left, in_zp=z_in, out_zp=z_out, act_min=lo, act_max=hi,
        multiplier=tuple(m for m, _ in mults), shift=tuple(s for _, s in mults))


def depthwise_conv2d_params(graph: Graph, op: Op) -> DepthwiseConv2DParams:
    """DEPTHWISE_CONV_2D (§3.2): as CONV, one multiplier per output channel."""
    x, w, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 1, "filter"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    n, h, wd, c = _shape4(op, x, "input")
    on, oh, ow, oc = _shape4(op, y, "output")
    if len(w.shape) != 4 or w.shape[0] != 1 or w.shape[3] != oc:
        raise _error(op, f"filter shape {list(w.shape)} does not fit output channels {oc}")
    _, fh, fw, _ = w.shape
    o = op.options
    if oc % c != 0 or on != n:
        raise _error(op, f"output channels {oc} are not a multiple of input channels {c}")
    mult = oc // c
    if o.get("depth_multiplier", mult) not in (mult, 0):
        raise _error(op, f"depth_multiplier option {o['depth_multiplier']} disagrees with the shapes ({mult})")
    scales, _ = _weights(op, w, "filter", oc, 3)
    bias = _optional(graph, op, 2)
    _bias(op, bias, oc)
    top, left = _check_spatial(op, o["padding"], (h, wd), (fh, fw), (o["stride_h"], o["stride_w"]),
                               (o["dilation_h"], o["dilation_w"]), (oh, ow))
    mults = [_multiplier(op, s_in * sw / s_out, f"channel {i}") for i, sw in enumerate(scales)]
    lo, hi = _activation(op, s_out, z_out)
    return DepthwiseConv2DParams(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=oh, out_w=ow, out_c=oc, depth_multiplier=mult,
        filter_h=fh, filter_w=fw, stride_h=o["stride_h"], stride_w=o["stride_w"], dilation_h=o["dilation_h"],
        dilation_w=o["dilation_w"], pad_top=top, pad_left=left, in_zp=z_in, out_zp=z_out, act_min=lo, act_max=hi,
        multiplier=tuple(m for m, _ in mults), shift=tuple(s for _, s in mults))


def fully_connected_params(graph: Graph, op: Op) -> FullyConnectedParams:
    """FULLY_CONNECTED (§3.3): per-channel ignores the weight zero point, per-tensor applies it."""
    x, w, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 1, "weights"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    if op.options.get("weights_format", 0) != 0:
        raise _error(op, "shuffled weights format is not supported")
    if len(w.shape) != 2:
        raise _error(op, f"weights shape {list(w.shape)} is not 2-D")
    units, depth = w.shape
    if x.size % depth != 0 or y.size % units != 0 or x.size // depth != y.size // units:
        raise _error(op, f"input {list(x.shape)} and output {list(y.shape)} do not fit weights {list(w.shape)}")
    per_channel = w.quantization is not None and w.quantization.per_channel
    scales, zps = _weights(op, w, "weights", units, 0)
    bias = _optional(graph, op, 2)
    _bias(op, bias, units)
    weights_zp = 0
    if not per_channel:
        weights_zp = zps[0]
        if not -128 <= weights_zp <= 127:
            raise _error(op, f"weights zero point {weights_zp} is outside int8")
        if bias is not None and bias.quantization is not None:
            s_bias = float(bias.quantization.scale[0])
            if abs(s_in * scales[0] - s_bias) / s_out > 0.02:
                raise _error(op, f"bias scale {s_bias:.6g} differs from input*weights scale {s_in * scales[0]:.6g} "
                                 "by more than 2% of the output scale (TFLM rejects this)")
    mults = [_multiplier(op, s_in * sw / s_out, f"unit {i}") for i, sw in enumerate(scales)]
    lo, hi = _activation(op, s_out, z_out)
    return FullyConnectedParams(
        batches=x.size // depth, depth=depth, units=units, in_zp=z_in, weights_zp=weights_zp, out_zp=z_out,
        act_min=lo, act_max=hi, multiplier=tuple(m for m, _ in mults), shift=tuple(s for _, s in mults))


def pool2d_params(graph: Graph, op: Op) -> Pool2DParams:
    """MAX_POOL_2D / AVERAGE_POOL_2D (§3.4, §3.5): raw codes; in and out quantization must match."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    if abs(s_in - s_out) > 1e-6 or z_in != z_out:
        raise _error(op, f"input quantization ({s_in:.6g}, {z_in}) differs from output ({s_out:.6g}, {z_out}); "
                         "TFLM requires them equal for pooling")
    n, h, wd, c = _shape4(op, x, "input")
    on, oh, ow, oc = _shape4(op, y, "output")
    if on != n or oc != c:
        raise _error(op, f"output {list(y.shape)} does not fit input {list(x.shape)}")
    o = op.options
    if o["filter_h"] < 1 or o["filter_w"] < 1:
        raise _error(op, f"filter {o['filter_h']}x{o['filter_w']} is empty")
    top, left = _check_spatial(op, o["padding"], (h, wd), (o["filter_h"], o["filter_w"]),
                               (o["stride_h"], o["stride_w"]), (1, 1), (oh, ow))
    lo, hi = _activation(op, s_out, z_out)
    return Pool2DParams(batches=n, in_h=h, in_w=wd, channels=c, out_h=oh, out_w=ow, filter_h=o["filter_h"],
                        filter_w=o["filter_w"], stride_h=o["stride_h"], stride_w=o["stride_w"], pad_top=top,
                        pad_left=left, act_min=lo, act_max=hi)


def add_params(graph: Graph, op: Op) -> AddParams:
    """ADD (§3.6): both inputs on a 2^-20 grid relative to twice the larger scale; three multipliers."""
    a, b, y = _tensor(graph, op, 0, "input 1"), _tensor(graph, op, 1, "input 2"), _tensor(graph, op, 0, "output", True)
    s1, z1 = _int8(op, a, "input 1")
    s2, z2 = _int8(op, b, "input 2")
    s_out, z_out = _int8(op, y, "output")
    flag, dims, st1, st2 = _broadcast(op, a, b, y)
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    reals = {"input 1": s1 / twice_max, "input 2": s2 / twice_max,
             "output": twice_max / (2.0**ADD_LEFT_SHIFT * s_out)}
    for name, r in reals.items():
        if not 0.0 < r < 1.0:
            raise _error(op, f"{name} rescale factor {r:.6g} is outside (0, 1): TFLite Micro aborts the process here",
                         hint=f"the output scale {s_out:.6g} is degenerate (an ADD whose result is constant); "
                              "retrain or recalibrate with data that exercises this layer")
    (m1, e1), (m2, e2), (mo, eo) = (quantize_multiplier(r) for r in reals.values())
    lo, hi = _activation(op, s_out, z_out)
    return AddParams(broadcast=flag, dims=tuple(dims), in1_strides=tuple(st1), in2_strides=tuple(st2),
                     in1_zp=z1, in2_zp=z2, out_zp=z_out, left_shift=ADD_LEFT_SHIFT, in1_multiplier=m1, in1_shift=e1,
                     in2_multiplier=m2, in2_shift=e2, out_multiplier=mo, out_shift=eo, act_min=lo, act_max=hi)


def mul_params(graph: Graph, op: Op) -> MulParams:
    """MUL (§3.7): QM(s1 * s2 / s_out)."""
    a, b, y = _tensor(graph, op, 0, "input 1"), _tensor(graph, op, 1, "input 2"), _tensor(graph, op, 0, "output", True)
    s1, z1 = _int8(op, a, "input 1")
    s2, z2 = _int8(op, b, "input 2")
    s_out, z_out = _int8(op, y, "output")
    flag, dims, st1, st2 = _broadcast(op, a, b, y)
    m, s = _multiplier(op, s1 * s2 / s_out, "output")
    lo, hi = _activation(op, s_out, z_out)
    return MulParams(broadcast=flag, dims=tuple(dims), in1_strides=tuple(st1), in2_strides=tuple(st2),
                     in1_zp=z1, in2_zp=z2, out_zp=z_out, multiplier=m, shift=s, act_min=lo, act_max=hi)


def mean_params(graph: Graph, op: Op) -> MeanParams:
    """MEAN (§3.8): QM(s_in / s_out) with TFLM's eval-time division by the count folded in here."""
    x, axes_t, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 1, "axes"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    if axes_t.data is None:
        raise _error(op, "the axes tensor is not a constant")
    rank = len(x.shape)
    if rank > MAX_DIMS:
        raise _error(op, f"input rank {rank} > {MAX_DIMS}")
    axes = sorted({int(a) % rank for a in np.asarray(axes_t.data).reshape(-1)})
    dims = _padded_shape(x.shape)
    strides = _strides(dims)
    reduced = {a + MAX_DIMS - rank for a in axes}
    out_dims = [1 if d in reduced else dims[d] for d in range(MAX_DIMS)]
    reduce_dims = [dims[d] if d in reduced else 1 for d in range(MAX_DIMS)]
    count = int(np.prod(reduce_dims))
    if int(np.prod(out_dims)) != y.size:
        raise _error(op, f"output {list(y.shape)} does not match input {list(x.shape)} reduced over {axes}")
    m, s = quantize_multiplier(s_in / s_out)
    shift_bits = min(count.bit_length() - 1, 32, 31 + s)   # floor(log2 count), bounded as TFLM does
    multiplier = (m << shift_bits) // count
    shift = s - shift_bits
    if shift > MAX_PRE_SHIFT:
        raise _error(op, f"output multiplier {s_in / s_out:.6g} needs a pre-shift by 2^{shift}: TFLM's 1 << {shift} "
                         "is undefined in C++ and differs between platforms",
                     hint="the output scale is degenerate (tiny) for this layer; recalibrate the quantization")
    return MeanParams(out_dims=tuple(out_dims), out_strides=tuple(strides), reduce_dims=tuple(reduce_dims),
                      reduce_strides=tuple(strides), count=count, in_zp=z_in, out_zp=z_out, multiplier=multiplier,
                      shift=shift)


def softmax_params(graph: Graph, op: Op) -> SoftmaxParams:
    """SOFTMAX (§3.9). Output must be (1/256, -128). A row whose exponent sum reaches 512 (possible only with
    512 or more elements near the row maximum) makes the kernel return EIP_ERR_SOFTMAX_SUM, where TFLM aborts."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    s_in, _ = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    if z_out != -128 or np.float32(s_out) != SOFTMAX_OUTPUT_SCALE:
        raise _error(op, f"output quantization ({s_out:.6g}, {z_out}) must be (1/256, -128) for int8 softmax")
    if not x.shape or x.size != y.size:
        raise _error(op, f"input {list(x.shape)} and output {list(y.shape)} differ")
    beta = float(np.float32(op.options.get("beta", 1.0)))
    d = min(beta * s_in * 2.0**26, 2.0**31 - 1.0)
    if d <= 1.0:
        raise _error(op, f"beta * input scale * 2^26 = {d:.6g} must exceed 1 (TFLM aborts otherwise)")
    m, ls = quantize_multiplier(d)
    diff_min = -math.floor(31 * 2.0**26 / 2.0**ls)
    depth = int(x.shape[-1])
    return SoftmaxParams(rows=x.size // depth, depth=depth, input_multiplier=m, input_left_shift=ls,
                         diff_min=diff_min)


def _logistic_like(op: Op, s_in: float, size: int, z_in: int) -> LogisticParams:
    mantissa, ls = math.frexp(s_in * 2.0**27)
    m = round_away(mantissa * 2.0**31)
    radius = math.floor(15 * 2.0**27 / 2.0**ls)
    if m >= 2**31 or ls < -31 or radius > INT32_MAX:
        raise _error(op, f"input scale {s_in:.6g} is outside what the fixed-point sigmoid handles")
    return LogisticParams(size=size, in_zp=z_in, input_multiplier=m, input_left_shift=ls,
                          input_range_radius=radius)


def logistic_params(graph: Graph, op: Op) -> LogisticParams:
    """LOGISTIC (§3.10): output zero point must be -128; TFLM ignores the output scale (always 1/256)."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    _, z_out = _int8(op, y, "output")
    if z_out != -128:
        raise _error(op, f"output zero point {z_out} must be -128 for int8 logistic")
    return _logistic_like(op, s_in, x.size, z_in)


def tanh_params(graph: Graph, op: Op) -> LogisticParams:
    """TANH (§3.11): as LOGISTIC; TFLM ignores the output quantization (always 1/128, 0)."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    _int8(op, y, "output")
    return _logistic_like(op, s_in, x.size, z_in)


def _int16_multiplier(m: int) -> int:
    return 32767 if m >= 2**31 - 1 - 2**15 else (m + 2**15) >> 16


def hard_swish_params(graph: Graph, op: Op) -> HardSwishParams:
    """HARD_SWISH (§3.13): int16 multipliers; the output exponent must be <= 0."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    hires = float(np.float32(1.0 / 128.0) * np.float32(s_in))
    mo, eo = quantize_multiplier(hires / s_out)
    if eo > 0:
        raise _error(op, f"output scale {s_out:.6g} is too small for input scale {s_in:.6g} (TFLM rejects this)")
    mr, er = quantize_multiplier(hires / (3.0 / 32768.0))
    if not -31 <= er <= 31 or eo < -31:
        raise _error(op, f"input scale {s_in:.6g} is outside what the fixed-point hard swish handles")
    return HardSwishParams(size=x.size, in_zp=z_in, out_zp=z_out, output_multiplier=_int16_multiplier(mo),
                           output_shift=eo, reluish_multiplier=_int16_multiplier(mr), reluish_shift=er)


def leaky_relu_params(graph: Graph, op: Op) -> LeakyReluParams:
    """LEAKY_RELU (§3.14): QM(s_in * alpha / s_out) and QM(s_in / s_out), in double."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    alpha = float(np.float32(op.options.get("alpha", 0.2)))
    ma, sa = _multiplier(op, s_in * alpha / s_out, "alpha")
    mi, si = _multiplier(op, s_in / s_out, "identity")
    if abs(ma) >= 2**31:
        raise _error(op, f"alpha multiplier of alpha={alpha} rounds to -2^31, which TFLM cannot negate")
    return LeakyReluParams(size=x.size, in_zp=z_in, out_zp=z_out, identity_multiplier=mi, identity_shift=si,
                           alpha_multiplier=abs(ma), alpha_shift=sa, alpha_sign=-1 if ma < 0 else 1)


def relu_params(graph: Graph, op: Op) -> ReluParams:
    """RELU standalone (§3.15): requantizing, clamped at the output zero point."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    m, s = _multiplier(op, s_in / s_out, "output")
    return ReluParams(size=x.size, in_zp=z_in, out_zp=z_out, multiplier=m, shift=s, act_min=max(-128, z_out),
                      act_max=127)


def relu6_params(graph: Graph, op: Op) -> Relu6Params:
    """RELU6 standalone (§3.16): TFLM clamps the raw input codes and ignores the output quantization."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    _int8(op, y, "output")
    six = round_away(float(np.float32(6.0) / np.float32(s_in)))
    if six > INT32_MAX:
        raise _error(op, f"input scale {s_in:.6g} is degenerate: 6.0 does not fit int32 codes")
    return Relu6Params(size=x.size, lower=z_in, upper=max(-128, min(127, z_in + six)))


def pad_params(graph: Graph, op: Op) -> PadParams:
    """PAD / PADV2 (§3.17): raw copy; padded cells get the output zero point (PAD) or the constant (PADV2)."""
    x, p, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 1, "paddings"), _tensor(graph, op, 0, "output", True)
    _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    if p.data is None:
        raise _error(op, "the paddings tensor is not a constant")
    rank = len(x.shape)
    pads = np.asarray(p.data).reshape(-1, 2)
    if pads.shape[0] != rank or rank > MAX_DIMS or (pads < 0).any():
        raise _error(op, f"paddings {pads.tolist()} do not fit input rank {rank} (or are negative)")
    out_shape = [int(d + a + b) for d, (a, b) in zip(x.shape, pads.tolist(), strict=True)]
    if out_shape != list(y.shape):
        raise _error(op, f"output {list(y.shape)} is not the padded input {out_shape}")
    value = z_out
    constant = _optional(graph, op, 2) if op.opcode == "PADV2" else None
    if constant is not None:
        if constant.data is None or constant.dtype != "int8" or constant.size != 1:
            raise _error(op, "the constant_values tensor must be a constant int8 scalar")
        s_c, z_c = _int8(op, constant, "constant_values")
        if np.float32(s_c) != np.float32(s_out) or z_c != z_out:
            raise _error(op, "constant_values quantization differs from the output's")
        value = int(np.asarray(constant.data).reshape(-1)[0])
    lead = [0] * (MAX_DIMS - rank)
    return PadParams(in_dims=tuple(_padded_shape(x.shape)), pad_before=tuple(lead + [int(a) for a in pads[:, 0]]),
                     pad_after=tuple(lead + [int(b) for b in pads[:, 1]]), pad_value=value)


def concatenation_params(graph: Graph, op: Op) -> ConcatenationParams:
    """CONCATENATION (§3.18): every input must share the output's scale (exactly) and zero point."""
    y = _tensor(graph, op, 0, "output", True)
    s_out, z_out = _int8(op, y, "output")
    if op.options.get("activation", "NONE") != "NONE":
        raise _error(op, f"fused activation {op.options['activation']} is not allowed on int8 concatenation")
    rank = len(y.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise _error(op, f"axis {op.options.get('axis')} is outside rank {rank}")
    inner = []
    for k in range(len(op.inputs)):
        t = _tensor(graph, op, k, f"input {k + 1}")
        s, z = _int8(op, t, f"input {k + 1}")
        if np.float32(s) != np.float32(s_out) or z != z_out:
            raise _error(op, f"input {k + 1} quantization ({s:.6g}, {z}) differs from the output's "
                             f"({s_out:.6g}, {z_out}); TFLM requires them equal")
        if len(t.shape) != rank or any(t.shape[d] != y.shape[d] for d in range(rank) if d != axis):
            raise _error(op, f"input {k + 1} shape {list(t.shape)} does not fit output {list(y.shape)} on axis {axis}")
        inner.append(int(np.prod(t.shape[axis:])))
    if sum(inner) * int(np.prod(y.shape[:axis])) != y.size:
        raise _error(op, "input sizes do not add up to the output size")
    return ConcatenationParams(num_inputs=len(inner), outer=int(np.prod(y.shape[:axis])), inner_sizes=tuple(inner))


def quantize_params(graph: Graph, op: Op) -> QuantizeParams:
    """QUANTIZE int8 -> int8 (§3.19): QM(s_in / s_out)."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    s_in, z_in = _int8(op, x, "input")
    s_out, z_out = _int8(op, y, "output")
    m, s = _multiplier(op, s_in / s_out, "output")
    return QuantizeParams(size=x.size, in_zp=z_in, out_zp=z_out, multiplier=m, shift=s)


def reshape_params(graph: Graph, op: Op) -> ReshapeParams:
    """RESHAPE (§3.20): a byte copy (or an alias, decided by the planner)."""
    x, y = _tensor(graph, op, 0, "input"), _tensor(graph, op, 0, "output", True)
    if x.nbytes != y.nbytes:
        raise _error(op, f"input {list(x.shape)} and output {list(y.shape)} hold different byte counts")
    return ReshapeParams(size=x.nbytes)


# ---------------------------------------------------------------------------------------------------------
# Int32 wrap-around: where TFLM's arithmetic overflows int32 for some inputs


@dataclass(frozen=True)
class WrapWarning:
    """One layer whose int32 value (an accumulator, an input offset, a product) leaves the range that survives
    its pre-shift by 2^shift for some int8 inputs. TFLM's compiled code then wraps around in two's complement,
    and so does the runtime, bit for bit; the layer's outputs for those inputs carry no meaning."""

    op_index: int
    opcode: str
    value: str                  # what wraps: "the accumulator", "x - z_in", ...
    reach: tuple[int, int]      # the range `value` covers over all int8 inputs
    safe: tuple[int, int]       # the range that does not wrap
    shift: int                  # the multiplier pre-shift (0: the int32 arithmetic itself overflows)
    channel: int | None = None  # per-channel ops: the channel reaching furthest beyond `safe`
    channels: int = 0           # per-channel ops: how many channels can wrap
    codes: str = ""             # elementwise ops: the input codes that wrap

    def __str__(self) -> str:
        where = f"op {self.op_index} ({self.opcode})"
        if self.channel is not None:
            where += f" channel {self.channel}" + (f" (and {self.channels - 1} more)" if self.channels > 1 else "")
        step = f"the int32 pre-shift by 2^{self.shift}" if self.shift > 0 else "int32"
        codes = f" ({self.codes})" if self.codes else ""
        return (f"{where}: {self.value} reaches [{self.reach[0]:,}, {self.reach[1]:,}]{codes} but wraps around "
                f"outside [{self.safe[0]:,}, {self.safe[1]:,}] in {step}; TFLM wraps the same way and the export "
                "matches it bit for bit, but outputs for such inputs are meaningless: recalibrate the quantization")


def _safe_range(shift: int) -> tuple[int, int]:
    """Values v whose v * 2^max(shift, 0) fits int32."""
    s = max(shift, 0)
    return -(2 ** (31 - s)), 2 ** (31 - s) - 1


def _offset_range(zero_point: int) -> tuple[int, int]:
    """x - zero_point over the int8 codes x."""
    return -128 - zero_point, 127 - zero_point


def _codes_outside(zero_point: int, safe: tuple[int, int]) -> str:
    """The int8 codes x whose x - zero_point falls outside `safe`, in words."""
    lo, hi = zero_point + safe[0], zero_point + safe[1]
    parts = ([f"below {lo}"] if lo > -128 else []) + ([f"above {hi}"] if hi < 127 else [])
    return "input codes " + " or ".join(parts) if parts else ""


def _mac_wrap(graph: Graph, op: Op, weights: np.ndarray, weights_zp: int, in_zp: int, shifts: tuple[int, ...]
              ) -> WrapWarning | None:
    """CONV / DEPTHWISE / FC, `weights` as [channels, taps]: the exact range of every channel's accumulator
    (bias included) against what its pre-shift leaves; one warning naming the worst channel."""
    w = weights.astype(np.int64) - weights_zp
    x_lo, x_hi = _offset_range(in_zp)
    lo = np.minimum(w * x_lo, w * x_hi).sum(axis=1)
    hi = np.maximum(w * x_lo, w * x_hi).sum(axis=1)
    bias = _optional(graph, op, 2)
    if bias is not None and bias.data is not None:
        b = np.asarray(bias.data, np.int64).reshape(-1)
        lo, hi = lo + b, hi + b
    safe = [_safe_range(shift) for shift in shifts]
    wrapping = [c for c, (s_lo, s_hi) in enumerate(safe) if lo[c] < s_lo or hi[c] > s_hi]
    if not wrapping:
        return None
    c = max(wrapping, key=lambda k: max(int(lo[k]) / safe[k][0], int(hi[k]) / (safe[k][1] + 1)))
    return WrapWarning(op.index, op.opcode, "the accumulator", (int(lo[c]), int(hi[c])), safe[c],
                       max(shifts[c], 0), channel=c, channels=len(wrapping))


def _elementwise_wrap(op: Op, value: str, reach: tuple[int, int], safe: tuple[int, int], shift: int,
                      codes: str = "") -> WrapWarning | None:
    if safe[0] <= reach[0] and reach[1] <= safe[1]:
        return None
    return WrapWarning(op.index, op.opcode, value, reach, safe, max(shift, 0), codes=codes)


def wrap_warnings(graph: Graph, op: Op, params: KernelParams) -> list[WrapWarning]:
    """The int32 wrap-arounds `op` (with its `op_params`) can hit for some inputs: none for ordinary models."""
    p: Any = params
    found: WrapWarning | None = None
    if isinstance(params, Conv2DParams | DepthwiseConv2DParams | FullyConnectedParams):
        data = np.asarray(graph.tensors[op.inputs[1]].data)
        if isinstance(params, Conv2DParams):
            weights, weights_zp = data.reshape(p.out_c, -1), 0
        elif isinstance(params, DepthwiseConv2DParams):
            weights, weights_zp = data.reshape(-1, p.out_c).T, 0
        else:
            weights, weights_zp = data.reshape(p.units, p.depth), p.weights_zp
        found = _mac_wrap(graph, op, weights, weights_zp, p.in_zp, p.shift)
    elif isinstance(params, MulParams):
        (a_lo, a_hi), (b_lo, b_hi) = _offset_range(p.in1_zp), _offset_range(p.in2_zp)
        corners = (a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi)
        found = _elementwise_wrap(op, "the product (x1 - z1)(x2 - z2)", (min(corners), max(corners)),
                                  _safe_range(p.shift), p.shift)
    elif isinstance(params, MeanParams):
        lo, hi = _offset_range(p.in_zp)
        found = _elementwise_wrap(op, f"the sum of x - z_in over {p.count} elements", (lo * p.count, hi * p.count),
                                  _safe_range(p.shift), p.shift)
    elif isinstance(params, QuantizeParams | ReluParams):
        safe = _safe_range(p.shift)
        found = _elementwise_wrap(op, "x - z_in", _offset_range(p.in_zp), safe, p.shift,
                                  _codes_outside(p.in_zp, safe))
    elif isinstance(params, LeakyReluParams):
        # x >= z_in takes the identity multiplier, x < z_in the alpha one
        safe = (_safe_range(p.alpha_shift)[0], _safe_range(p.identity_shift)[1])
        found = _elementwise_wrap(op, "x - z_in", _offset_range(p.in_zp), safe,
                                  max(p.alpha_shift, p.identity_shift), _codes_outside(p.in_zp, safe))
    return [found] if found is not None else []


# opcode -> (params function, C kernel)
OPS: dict[str, tuple[Callable[[Graph, Op], KernelParams], str]] = {
    "CONV_2D": (conv2d_params, "eip_conv2d"),
    "DEPTHWISE_CONV_2D": (depthwise_conv2d_params, "eip_depthwise_conv2d"),
    "FULLY_CONNECTED": (fully_connected_params, "eip_fully_connected"),
    "MAX_POOL_2D": (pool2d_params, "eip_max_pool2d"),
    "AVERAGE_POOL_2D": (pool2d_params, "eip_average_pool2d"),
    "ADD": (add_params, "eip_add"),
    "MUL": (mul_params, "eip_mul"),
    "MEAN": (mean_params, "eip_mean"),
    "SOFTMAX": (softmax_params, "eip_softmax"),
    "LOGISTIC": (logistic_params, "eip_logistic"),
    "TANH": (tanh_params, "eip_tanh"),
    "HARD_SWISH": (hard_swish_params, "eip_hard_swish"),
    "LEAKY_RELU": (leaky_relu_params, "eip_leaky_relu"),
    "RELU": (relu_params, "eip_relu"),
    "RELU6": (relu6_params, "eip_relu6"),
    "PAD": (pad_params, "eip_pad"),
    "PADV2": (pad_params, "eip_pad"),
    "CONCATENATION": (concatenation_params, "eip_concatenation"),
    "QUANTIZE": (quantize_params, "eip_quantize"),
    "RESHAPE": (reshape_params, "eip_reshape"),
}


def builtin_code(opcode: str) -> int:
    """TFLite BuiltinOperator number of an opcode name (what the layer hook reports)."""
    code = getattr(tflite.BuiltinOperator, opcode, None)
    if not isinstance(code, int):
        raise UnsupportedOpError(f"operator {opcode} is not a TFLite builtin")
    return code


def kernel_name(opcode: str) -> str:
    """C entry point of an opcode, e.g. "CONV_2D" -> "eip_conv2d"."""
    if opcode not in OPS:
        raise UnsupportedOpError(f"operator {opcode} is not supported by the int8 runtime",
                                 hint=f"supported operators: {', '.join(sorted(OPS))}")
    return OPS[opcode][1]


def op_params(graph: Graph, op: Op) -> KernelParams:
    """The integer params struct of one op, as TFLM's Prepare would derive it. Raises UnsupportedOpError."""
    if op.opcode not in OPS:
        raise _error(op, "operator not supported by the int8 runtime",
                     hint=f"supported operators: {', '.join(sorted(OPS))}")
    params = OPS[op.opcode][0](graph, op)
    bad = params.out_of_range_field()
    if bad is not None:
        raise _error(op, f"parameter {bad} = {getattr(params, bad)} does not fit the int32 params struct")
    return params
