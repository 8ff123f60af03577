"""CONV_2D (INT8_SEMANTICS §3.1), grouped convs included: per-channel weights, bias, fused clamp."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import describe as d
from edgeimpro.ops import options as opt
from edgeimpro.ops.base import KernelParams, OpDef, in_w_b, pointer_field, scalar_field, scratch_field
from edgeimpro.ops.prepare import bias_values, conv_fields, conv_operands, folded_bias, unsupported
from edgeimpro.ops.stream import Stream, window_stream
from edgeimpro.ops.testspec import random_specs, spec
from edgeimpro.ops.wrap import WrapWarning, mac_wrap


@dataclass(frozen=True)
class Conv2DParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_conv2d_params_t"
    C_DOC: ClassVar[str] = 'CONV_2D. Filter [out_c, filter_h, filter_w, filter_c], bias int32 [out_c] or NULL.'
    batches: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    filter_h: int
    filter_w: int
    filter_c: int = scalar_field('in_c / groups; output channel c reads group c / (out_c / groups)')
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
    requant: int = scalar_field('EIP_REQUANT_*: the requantization proven exact for this layer')
    scratch: int = scratch_field('the Arm DSP columns (and a first layer\'s padded rows): ops/conv2d.py, or NULL')
    multiplier: tuple[int, ...] = pointer_field('[out_c]')
    shift: tuple[int, ...] = pointer_field('[out_c]')
    folded_bias: tuple[int, ...] = pointer_field('[out_c] bias - in_zp * filter row sum (ops/prepare.py '
                                                 'folded_bias): the Helium kernels; NULL: they sum the rows',
                                                 only_if="defined(__ARM_FEATURE_MVE)")


def prepare(graph: Graph, op: Op) -> Conv2DParams:
    """CONV_2D (§3.1): per-channel QM(s_in * s_w[c] / s_out) in double; weight zero point ignored."""
    x, w, y, q_in, q_out, (n, h, wd, c), (on, oh, ow, oc) = conv_operands(graph, op)
    if len(w.shape) != 4:
        raise unsupported(op, f"filter shape {list(w.shape)} is not 4-D")
    fo, fh, fw, fc = w.shape
    if fo != oc or on != n or fc <= 0 or c % fc != 0 or oc % (c // fc) != 0:
        raise unsupported(op, f"filter {list(w.shape)} does not fit input {list(x.shape)} and output {list(y.shape)}")
    fields = conv_fields(graph, op, w, 0, q_in, q_out, (h, wd), (oh, ow), oc)
    folded = folded_bias(np.asarray(w.data).reshape(oc, -1), bias_values(graph, op), fields["in_zp"])
    return Conv2DParams(batches=n, in_h=h, in_w=wd, in_c=c, out_h=oh, out_w=ow, out_c=oc, filter_h=fh, filter_w=fw,
                        filter_c=fc, **fields, scratch=column_scratch(fh * fw, fc, c, oc), folded_bias=folded)


DSP_CONV_COLUMN_MAX = 768   # EIP_DSP_CONV_COLUMN_MAX


def column_scratch(taps: int, filter_c: int, in_c: int, out_c: int) -> int:
    """Arena bytes the Arm conv kernels need: four int16 columns of the receptive field (k = taps * filter_c) for
    the Arm DSP set, four int8 columns interleaved by 16-byte chunks (4 * ceil16(k), k > 16) for the Helium set, or
    none when the field is too long to unroll (the direct loop); a first layer of one to three channels packs
    its taps into k4 = k rounded up to four lanes, gathered through a k4-byte buffer, and keeps its filter rows
    padded to k4 after the columns where k4 > k (arm_dsp/conv2d.c, packed_len). Planned for every build, so
    the arena figure is the same whichever kernel set links the model (the reference kernels leave it unused)."""
    k = taps * filter_c
    helium = 4 * (-(-k // 16) * 16) if k > 16 else 0   # four columns interleaved by 16-byte chunks (arm_mve/conv2d.c)
    k4 = -(-k // 4) * 4
    if filter_c <= 3 and in_c == filter_c and taps > 1 and k4 <= DSP_CONV_COLUMN_MAX:
        return max(8 * k4 + k4 + (out_c * k4 if k4 > k else 0), helium)
    return max(8 * k, helium) if k <= DSP_CONV_COLUMN_MAX else 0


def dsp_direct(p: Conv2DParams) -> bool:
    """Whether the Arm DSP kernel runs the layer on its direct loop (arm_dsp/conv2d.c, eip_conv2d's `direct`,
    which this mirrors: the generator leaves that loop out of a model none of whose convs take it,
    codegen/aot.py kernel_paths): a grouped conv, a layer without its columns, or one whose column row (a
    first layer's packed taps: k rounded up to four) is longer than DSP_CONV_COLUMN_MAX."""
    k = p.filter_h * p.filter_w * p.filter_c
    first = p.filter_c <= 3 and p.in_c == p.filter_c and p.filter_h * p.filter_w > 1   # packed_len
    k4 = (k + 3) & ~3
    row = k4 if first and k4 <= DSP_CONV_COLUMN_MAX else k
    return p.in_c != p.filter_c or p.scratch == 0 or row > DSP_CONV_COLUMN_MAX


def wrap(graph: Graph, op: Op, p: Conv2DParams) -> list[WrapWarning]:
    weights = np.asarray(graph.tensors[op.inputs[1]].data).reshape(p.out_c, -1)
    found = mac_wrap(graph, op, weights, 0, p.in_zp, p.shift)
    return [found] if found is not None else []


TESTS = (
    spec("conv", [[1, 1, 3]], [[-1, 1]], 1, filters=4, kernel=[1, 1], strides=[1, 1], padding="same",
         dilation=[1, 1], act="relu", bias=True),
    spec("conv", [[7, 5, 3]], [[-1, 1]], 2, filters=6, kernel=[3, 3], strides=[2, 2], padding="same",
         dilation=[1, 1], act="none", bias=True, zero_channel=True),
    spec("conv", [[8, 9, 2]], [[0, 1]], 3, filters=5, kernel=[2, 2], strides=[3, 3], padding="valid",
         dilation=[1, 1], act="relu6", bias=True),
    spec("conv", [[9, 9, 4]], [[-3, 0]], 4, filters=3, kernel=[3, 3], strides=[1, 1], padding="same",
         dilation=[2, 2], act="none", bias=False),
    spec("conv", [[6, 6, 4]], [[-1, 1]], 5, filters=6, kernel=[3, 3], strides=[1, 1], padding="same",
         dilation=[1, 1], act="relu", bias=True, groups=2),
    spec("conv", [[5, 8, 3]], [[-0.001, 0.001]], 6, filters=4, kernel=[1, 3], strides=[1, 2], padding="same",
         dilation=[1, 1], act="none", bias=True),
    spec("conv", [[6, 6, 2]], [[-500, 500]], 7, filters=3, kernel=[5, 5], strides=[1, 1], padding="same",
         dilation=[1, 1], act="relu6", bias=True, weight_scale=3.0),
    spec("conv", [[10, 11, 2]], [[-2, 5]], 8, filters=4, kernel=[3, 2], strides=[1, 1], padding="valid",
         dilation=[2, 3], act="relu", bias=True),
    *random_specs("CONV_2D", 3, 100),
)


def stream(p: Conv2DParams) -> Stream:
    """Pixels in raster order, four at a time at most (the Helium and Arm DSP kernels' blocks; reference:
    one), each block's outputs written channel by channel while its columns are read."""
    return window_stream(p.batches, (p.in_h, p.in_w, p.in_c), (p.out_h, p.out_w, p.out_c), (p.stride_h, p.stride_w),
                         (p.pad_top, p.pad_left), ((p.filter_h - 1) * p.dilation_h + 1, (p.filter_w - 1) * p.dilation_w + 1),
                         group=4)


OPS = (OpDef("CONV_2D", "eip_conv2d", Conv2DParams, prepare, in_w_b("filter"), wrap=wrap, describe=d.conv_like,
              options=("Conv2DOptions", opt.conv), stream=stream, tests=TESTS),)
