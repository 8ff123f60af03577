"""DEPTHWISE_CONV_2D (INT8_SEMANTICS §3.2): as CONV, one multiplier per output channel."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import describe as d
from edgeimpro.ops import options as opt
from edgeimpro.ops.base import KernelParams, OpDef, in_w_b, pointer_field, scalar_field, scratch_field
from edgeimpro.ops.prepare import REQUANT_SMMULR, conv_fields, conv_operands, unsupported
from edgeimpro.ops.stream import ROW, Stream, window_stream
from edgeimpro.ops.testspec import random_specs, spec
from edgeimpro.ops.wrap import WrapWarning, mac_wrap


@dataclass(frozen=True)
class DepthwiseConv2DParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_depthwise_conv2d_params_t"
    C_DOC: ClassVar[str] = 'DEPTHWISE_CONV_2D. Filter [1, filter_h, filter_w, out_c], out_c = in_c * depth_multiplier.'
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
    requant: int = scalar_field('EIP_REQUANT_*: the requantization proven exact for this layer')
    scratch: int = scratch_field('the Helium 3x3 path\'s padded input rows: ops/depthwise_conv2d.py, or NULL')
    strip_blocks: int = scalar_field('4-channel blocks the scratch holds a strip for: 1 (an output row\'s input '
                                     'rows refilled per block), every block (a ring per block), or 0')
    multiplier: tuple[int, ...] = pointer_field('[out_c]')
    shift: tuple[int, ...] = pointer_field('[out_c]')


# bytes of arena a depthwise layer's strips may take; wider layers run the direct loops. A ring per block is
# largest on deep, narrow layers, whose activations are small: 12 KiB keeps one for MobileNet's 3x3x256 (10 KiB;
# with one strip, refilled per row, that layer takes 36% more instructions on qemu-m55)
STRIP_MAX = 12288


def strip_scratch(filter_h: int, filter_w: int, stride_w: int, dilation_h: int, dilation_w: int,
                  depth_multiplier: int, out_w: int, channels: int = 4, ring: bool = True) -> tuple[int, int]:
    """(bytes, blocks) of arena the Helium depthwise kernel (arm_mve/depthwise_conv2d.c, 3x3 path) needs. A
    4-channel block's strip is the 3 input rows an output row reads, each padded to the window's full width
    with the input zero point ((out_w - 1) * stride_w + 3 cells of 4 channels), then the block's 100-byte head
    (its 9 filter taps, 4 bytes each; its folded bias and 3 requantization vectors, 16 bytes each:
    strip_head_t). The kernel walks output rows in order (the streaming contract), every block of a row before
    the next row: with a strip for every block (`ring`) each input row is copied into every block's ring once
    and the heads are written once, with one strip each block writes its head and rows again for every output
    row. (0, 0) where the path does
    not apply or the strips would take more than STRIP_MAX. Planned for every build, so the arena figure is
    the same whichever kernel set links the model (the others leave it unused)."""
    if (filter_h, filter_w, dilation_h, dilation_w, depth_multiplier) != (3, 3, 1, 1, 1) or stride_w not in (1, 2):
        return 0, 0
    one = 3 * 4 * ((out_w - 1) * stride_w + 3) + 100
    blocks = (channels + 3) // 4 if ring else 1
    if one * blocks <= STRIP_MAX:
        return one * blocks, blocks
    return (one, 1) if one <= STRIP_MAX else (0, 0)


def prepare(graph: Graph, op: Op) -> DepthwiseConv2DParams:
    """DEPTHWISE_CONV_2D (§3.2): as CONV, one multiplier per output channel."""
    x, w, y, q_in, q_out, (n, h, wd, c), (on, oh, ow, oc) = conv_operands(graph, op)
    if len(w.shape) != 4 or w.shape[0] != 1 or w.shape[3] != oc:
        raise unsupported(op, f"filter shape {list(w.shape)} does not fit output channels {oc}")
    _, fh, fw, _ = w.shape
    o = op.options
    if oc % c != 0 or on != n:
        raise unsupported(op, f"output channels {oc} are not a multiple of input channels {c}")
    mult = oc // c
    if o.get("depth_multiplier", mult) not in (mult, 0):
        raise unsupported(op, f"depth_multiplier option {o['depth_multiplier']} disagrees with the shapes ({mult})")
    fields = conv_fields(graph, op, w, 3, q_in, q_out, (h, wd), (oh, ow), oc)
    strip, blocks = strip_scratch(fh, fw, fields["stride_w"], fields["dilation_h"], fields["dilation_w"], mult,
                                  ow, c)
    return DepthwiseConv2DParams(batches=n, in_h=h, in_w=wd, in_c=c, out_h=oh, out_w=ow, out_c=oc,
                                 depth_multiplier=mult, filter_h=fh, filter_w=fw, **fields, scratch=strip,
                                 strip_blocks=blocks)


def wrap(graph: Graph, op: Op, p: DepthwiseConv2DParams) -> list[WrapWarning]:
    weights = np.asarray(graph.tensors[op.inputs[1]].data).reshape(-1, p.out_c).T
    found = mac_wrap(graph, op, weights, 0, p.in_zp, p.shift)
    return [found] if found is not None else []


TESTS = (
    spec("dwconv", [[1, 1, 4]], [[-1, 1]], 11, kernel=[1, 1], strides=[1, 1], padding="same",
         dilation=[1, 1], multiplier=1, act="relu", bias=True),
    spec("dwconv", [[7, 7, 3]], [[-1, 1]], 12, kernel=[3, 3], strides=[2, 2], padding="same",
         dilation=[1, 1], multiplier=2, act="none", bias=True, zero_channel=True),
    spec("dwconv", [[9, 8, 2]], [[0, 2]], 13, kernel=[2, 2], strides=[3, 3], padding="valid",
         dilation=[1, 1], multiplier=3, act="relu6", bias=False),
    spec("dwconv", [[9, 9, 3]], [[-3, 0]], 14, kernel=[3, 3], strides=[1, 1], padding="same",
         dilation=[2, 3], multiplier=1, act="relu", bias=True),
    spec("dwconv", [[5, 6, 4]], [[-0.002, 0.001]], 15, kernel=[3, 3], strides=[1, 1], padding="valid",
         dilation=[1, 1], multiplier=1, act="none", bias=True),
    spec("dwconv", [[6, 5, 2]], [[-400, 300]], 16, kernel=[5, 5], strides=[1, 1], padding="same",
         dilation=[1, 1], multiplier=2, act="relu6", bias=True),
    *random_specs("DEPTHWISE_CONV_2D", 3, 200),
)


DSP_PLANE_RIGHT1_MAX = 21   # arm_dsp/depthwise_conv2d.c, PLANE_RIGHT1_MAX


def dsp_planar(p: DepthwiseConv2DParams) -> bool:
    """Whether the Arm DSP kernel runs the layer on its planar 3x3 path (arm_dsp/depthwise_conv2d.c,
    plane_fits, which this mirrors: the generator leaves the kernel's other paths out of a model whose layers
    all take it, codegen/aot.py kernel_paths): a 3x3 filter without dilation, depth multiplier 1, stride 1 or 2
    along the row, rows of two outputs or more, its planned strip, the single-multiply requantization with
    every channel that has a multiplier shifting right by 1 to DSP_PLANE_RIGHT1_MAX + 1."""
    return ((p.filter_h, p.filter_w, p.dilation_h, p.dilation_w, p.depth_multiplier) == (3, 3, 1, 1, 1)
            and p.stride_w in (1, 2) and p.out_w >= 2 and p.scratch > 0 and p.strip_blocks > 0
            and p.requant == REQUANT_SMMULR
            and all(m == 0 or 0 <= -s - 1 <= DSP_PLANE_RIGHT1_MAX for m, s in zip(p.multiplier, p.shift, strict=True)))


LEAN_MIN_WIDTH = 16   # narrower rows have no lean variant: one strip costs them too much


def lean_scratch(p: DepthwiseConv2DParams) -> DepthwiseConv2DParams | None:
    """The layer one step leaner: one strip instead of one per block (each block's head and input rows
    written again for every output row), then no strip at all (the direct loops); None where it has no
    strip or its rows are narrower than LEAN_MIN_WIDTH. Measured on qemu-m55: one strip costs VWW's 48-wide
    layer 1 +25% of its instructions, its 24-wide layer 5 +36%, and narrower rows more: the per-row work of a
    block (its head, three row copies) is amortised over the row's pixels."""
    if p.strip_blocks == 0 or p.out_w < LEAN_MIN_WIDTH:
        return None
    if p.strip_blocks == 1:
        return replace(p, scratch=0, strip_blocks=0)
    size, blocks = strip_scratch(p.filter_h, p.filter_w, p.stride_w, p.dilation_h, p.dilation_w,
                                 p.depth_multiplier, p.out_w, p.in_c, ring=False)
    return replace(p, scratch=size, strip_blocks=blocks)


def stream(p: DepthwiseConv2DParams) -> Stream:
    """Output rows in order, each finished a channel block at a time (the Arm DSP and Helium kernels) or a
    pixel at a time (reference), before any byte of the next row is written."""
    return window_stream(p.batches, (p.in_h, p.in_w, p.in_c), (p.out_h, p.out_w, p.out_c), (p.stride_h, p.stride_w),
                         (p.pad_top, p.pad_left), ((p.filter_h - 1) * p.dilation_h + 1, (p.filter_w - 1) * p.dilation_w + 1),
                         group=ROW)


OPS = (OpDef("DEPTHWISE_CONV_2D", "eip_depthwise_conv2d", DepthwiseConv2DParams, prepare, in_w_b("filter"),
              wrap=wrap, describe=d.conv_like, options=("DepthwiseConv2DOptions", opt.depthwise), stream=stream,
              lean_scratch=lean_scratch, tests=TESTS),)
