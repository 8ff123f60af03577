"""MAX_POOL_2D and AVERAGE_POOL_2D (INT8_SEMANTICS §3.4, §3.5): raw codes, one params struct."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import describe as d
from edgeimpro.ops import options as opt
from edgeimpro.ops.base import RECALIBRATE, KernelParams, OpDef, Refusal
from edgeimpro.ops.prepare import (
    fused_activation,
    int8_activation,
    shape4,
    tensor_at,
    unsupported,
    window,
)
from edgeimpro.ops.stream import Stream, window_stream
from edgeimpro.ops.testspec import random_specs, spec


@dataclass(frozen=True)
class Pool2DParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_pool2d_params_t"
    C_DOC: ClassVar[str] = 'MAX_POOL_2D and AVERAGE_POOL_2D: raw codes (input and output share scale and zero point).'
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


def refusal(graph: Graph, op: Op) -> Refusal | None:
    """TFLM pools raw codes: input and output quantization must be equal."""
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.quantization is None or y.quantization is None:
        return None
    (s_in, z_in), (s_out, z_out) = x.quantization.scalar, y.quantization.scalar
    if abs(s_in - s_out) <= 1e-6 and z_in == z_out:
        return None
    return Refusal(f"input quantization ({s_in:.6g}, {z_in}) differs from output '{y.name}' ({s_out:.6g}, "
                   f"{z_out}); pooling needs them equal", RECALIBRATE)


def prepare(graph: Graph, op: Op) -> Pool2DParams:
    """MAX_POOL_2D / AVERAGE_POOL_2D (§3.4, §3.5): raw codes; in and out quantization must match."""
    x, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 0, "output", True)
    int8_activation(op, x, "input")
    s_out, z_out = int8_activation(op, y, "output")
    n, h, wd, c = shape4(op, x, "input")
    on, oh, ow, oc = shape4(op, y, "output")
    if on != n or oc != c:
        raise unsupported(op, f"output {list(y.shape)} does not fit input {list(x.shape)}")
    o = op.options
    if o["filter_h"] < 1 or o["filter_w"] < 1:
        raise unsupported(op, f"filter {o['filter_h']}x{o['filter_w']} is empty")
    win = window(op, (h, wd), (o["filter_h"], o["filter_w"]), (oh, ow), dilated=False)
    lo, hi = fused_activation(op, s_out, z_out)
    return Pool2DParams(batches=n, in_h=h, in_w=wd, channels=c, out_h=oh, out_w=ow, filter_h=o["filter_h"],
                        filter_w=o["filter_w"], **win, act_min=lo, act_max=hi)


MAX_TESTS = (
    spec("maxpool", [[1, 1, 3]], [[-1, 1]], 31, pool=[1, 1], strides=[1, 1], padding="valid", act="none"),
    spec("maxpool", [[8, 8, 3]], [[0, 2]], 32, pool=[2, 2], strides=[2, 2], padding="valid", act="none"),
    spec("maxpool", [[7, 9, 2]], [[-1, 1]], 33, pool=[3, 3], strides=[2, 2], padding="same", act="relu"),
    spec("maxpool", [[10, 7, 2]], [[-2, 0]], 34, pool=[2, 2], strides=[3, 3], padding="same", act="none"),
    spec("maxpool", [[6, 6, 4]], [[-8, 8]], 35, pool=[3, 2], strides=[1, 2], padding="same", act="relu6"),
    *random_specs("MAX_POOL_2D", 2, 300),
)


AVERAGE_TESTS = (
    spec("avgpool", [[1, 1, 3]], [[-1, 1]], 41, pool=[1, 1], strides=[1, 1], padding="valid", act="none"),
    spec("avgpool", [[8, 8, 3]], [[0, 2]], 42, pool=[2, 2], strides=[2, 2], padding="valid", act="none"),
    spec("avgpool", [[7, 9, 2]], [[-1, 1]], 43, pool=[3, 3], strides=[2, 2], padding="same", act="relu"),
    spec("avgpool", [[10, 7, 2]], [[-2, 0]], 44, pool=[2, 2], strides=[3, 3], padding="same", act="none"),
    spec("avgpool", [[9, 9, 3]], [[-1, 3]], 45, pool=[9, 9], strides=[1, 1], padding="valid", act="none"),
    spec("avgpool", [[6, 5, 4]], [[-5, 5]], 46, pool=[4, 3], strides=[1, 1], padding="same", act="relu6"),
    *random_specs("AVERAGE_POOL_2D", 2, 400),
)


def stream(p: Pool2DParams) -> Stream:
    """One output pixel at a time, in raster order (every kernel set)."""
    c = p.channels
    return window_stream(p.batches, (p.in_h, p.in_w, c), (p.out_h, p.out_w, c), (p.stride_h, p.stride_w),
                         (p.pad_top, p.pad_left), (p.filter_h, p.filter_w), group=1)


OPS = (
    OpDef("MAX_POOL_2D", "eip_max_pool2d", Pool2DParams, prepare, refusal=refusal, describe=d.pool_like,
          options=("Pool2DOptions", opt.pool), stream=stream, tests=MAX_TESTS, source="pool2d.c"),
    OpDef("AVERAGE_POOL_2D", "eip_average_pool2d", Pool2DParams, prepare, refusal=refusal, describe=d.pool_like,
          options=("Pool2DOptions", opt.pool), stream=stream, tests=AVERAGE_TESTS, source="pool2d.c"),
)
