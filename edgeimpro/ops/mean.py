"""MEAN (INT8_SEMANTICS §3.8) over any axes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import describe as d
from edgeimpro.ops import options as opt
from edgeimpro.ops.arith import MAX_PRE_SHIFT, quantize_multiplier
from edgeimpro.ops.base import MAX_DIMS, KernelParams, OpDef, array_field, scalar_field
from edgeimpro.ops.prepare import (
    int8_activation,
    padded_shape,
    row_major_strides,
    tensor_at,
    unsupported,
)
from edgeimpro.ops.testspec import spec
from edgeimpro.ops.wrap import WrapWarning, elementwise_wrap, offset_range, safe_range


@dataclass(frozen=True)
class MeanParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_mean_params_t"
    C_DOC: ClassVar[str] = "MEAN over any axes. Output element o (row-major over out_dims) sums the input at\noffset(o, out_strides) + offset(r, reduce_strides) for every r in reduce_dims.\nmultiplier/shift already fold in the division by count (TFLM's eval-time rescaling)."
    out_dims: tuple[int, ...] = array_field()
    out_strides: tuple[int, ...] = array_field()
    reduce_dims: tuple[int, ...] = array_field()
    reduce_strides: tuple[int, ...] = array_field()
    count: int = scalar_field('number of reduced elements per output')
    in_zp: int
    out_zp: int
    multiplier: int
    shift: int


def prepare(graph: Graph, op: Op) -> MeanParams:
    """MEAN (§3.8): QM(s_in / s_out) with TFLM's eval-time division by the count folded in here."""
    x, axes_t, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 1, "axes"), tensor_at(graph, op, 0, "output", True)
    s_in, z_in = int8_activation(op, x, "input")
    s_out, z_out = int8_activation(op, y, "output")
    if axes_t.data is None:
        raise unsupported(op, "the axes tensor is not a constant")
    rank = len(x.shape)
    if rank > MAX_DIMS:
        raise unsupported(op, f"input rank {rank} > {MAX_DIMS}")
    axes = sorted({int(a) % rank for a in np.asarray(axes_t.data).reshape(-1)})
    dims = padded_shape(x.shape)
    strides = row_major_strides(dims)
    reduced = {a + MAX_DIMS - rank for a in axes}
    out_dims = [1 if d in reduced else dims[d] for d in range(MAX_DIMS)]
    reduce_dims = [dims[d] if d in reduced else 1 for d in range(MAX_DIMS)]
    count = int(np.prod(reduce_dims))
    if int(np.prod(out_dims)) != y.size:
        raise unsupported(op, f"output {list(y.shape)} does not match input {list(x.shape)} reduced over {axes}")
    m, s = quantize_multiplier(s_in / s_out)
    shift_bits = min(count.bit_length() - 1, 32, 31 + s)   # floor(log2 count), bounded as TFLM does
    multiplier = (m << shift_bits) // count
    shift = s - shift_bits
    if shift > MAX_PRE_SHIFT:
        raise unsupported(op, f"output multiplier {s_in / s_out:.6g} needs a pre-shift by 2^{shift}: TFLM's 1 << {shift} "
                         "is undefined in C++ and differs between platforms",
                     hint="the output scale is degenerate (tiny) for this layer; recalibrate the quantization")
    return MeanParams(out_dims=tuple(out_dims), out_strides=tuple(strides), reduce_dims=tuple(reduce_dims),
                      reduce_strides=tuple(strides), count=count, in_zp=z_in, out_zp=z_out, multiplier=multiplier,
                      shift=shift)


def wrap(graph: Graph, op: Op, p: MeanParams) -> list[WrapWarning]:
    lo, hi = offset_range(p.in_zp)
    found = elementwise_wrap(op, f"the sum of x - z_in over {p.count} elements", (lo * p.count, hi * p.count),
                             safe_range(p.shift), p.shift)
    return [found] if found is not None else []


TESTS = (
    spec("mean", [[8, 8, 3]], [[-1, 1]], 71, axes=[1, 2], keepdims=True),
    spec("mean", [[5, 7, 4]], [[0, 3]], 72, axes=[1, 2], keepdims=False),
    spec("mean", [[5, 7, 4]], [[-3, 0]], 73, axes=[1], keepdims=True),
    spec("mean", [[5, 7, 4]], [[-1, 2]], 74, axes=[2], keepdims=False),
    spec("mean", [[5, 7, 6]], [[-0.01, 0.01]], 75, axes=[3], keepdims=True),
    spec("mean", [[3, 4, 5]], [[-100, 50]], 76, axes=[1, 2, 3], keepdims=False),
    spec("mean", [[32, 32, 2]], [[-1, 1]], 77, axes=[1, 2], keepdims=True),
    spec("mean", [[4, 6, 3]], [[-2, 2]], 78, axes=[1, 3], keepdims=True),
)


OPS = (OpDef("MEAN", "eip_mean", MeanParams, prepare, wrap=wrap, describe=d.reduce_like,
              options=("ReducerOptions", opt.reducer), tests=TESTS, tested_with=frozenset({"RESHAPE"})),)
