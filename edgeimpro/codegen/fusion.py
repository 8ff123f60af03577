"""Conv (or depthwise) fused with the max or average pool after it: the pre-pool tensor never exists whole.

The pair runs band by band: for each band of `rows` pool output rows, the conv computes just the conv rows
those pool windows read (into a band buffer, the layer's planned scratch) and the pool turns them into the
band's output rows. Both calls are the ordinary kernels of whichever kernel set is linked, on a copy of
their params whose rows are narrowed to the band (`in_h`, `pad_top`, `out_h`: every output pixel is
computed exactly as in the whole layer, so the result is bit-exact with the two ops run apart). Where the
pool's windows overlap (filter taller than its stride), the conv rows two bands share are computed twice.

The band arithmetic is emitted into model.c (a few integer operations per band); `Fusion.bands()` is the
same arithmetic in Python, from which the memory planner's streaming contract of the fused pair is made
(pool output rows are written only after the band's conv has read its input rows, bands in order).

Pure Python + numpy: no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeimpro import ops
from edgeimpro.graph.model import Graph
from edgeimpro.ops.stream import Stream

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
POOL_OPS = ("MAX_POOL_2D", "AVERAGE_POOL_2D")


@dataclass(frozen=True)
class Band:
    pool_rows: tuple[int, int]    # [p0, p1) pool output rows
    conv_rows: tuple[int, int]    # [c0, c1) conv output rows they read
    in_rows: tuple[int, int]      # [i0, i1) input rows the conv reads for them
    conv_pad_top: int             # the conv's pad_top for the band
    pool_pad_top: int             # the pool's pad_top for the band


@dataclass(frozen=True)
class Fusion:
    conv: int                 # op index of the conv / depthwise
    pool: int                 # op index of the pool that reads its output (conv + 1)
    conv_params: Any   # the conv's / depthwise's params record (or any object with its window fields)
    pool_params: Any
    rows: int = 1             # pool output rows per band

    @property
    def conv_row_bytes(self) -> int:
        p = self.conv_params
        return p.out_w * p.out_c

    @property
    def band_rows(self) -> int:
        """Conv rows of the largest band: what the band buffer holds."""
        return max(b.conv_rows[1] - b.conv_rows[0] for b in self.bands())

    @property
    def band_bytes(self) -> int:
        return self.band_rows * self.conv_row_bytes

    def bands(self) -> list[Band]:
        c, p = self.conv_params, self.pool_params
        eff_h = (c.filter_h - 1) * c.dilation_h + 1
        out = []
        for p0 in range(0, p.out_h, self.rows):
            p1 = min(p0 + self.rows, p.out_h)
            c0 = max(0, p0 * p.stride_h - p.pad_top)
            c1 = min(c.out_h, (p1 - 1) * p.stride_h - p.pad_top + p.filter_h)
            i_raw = c0 * c.stride_h - c.pad_top
            i0 = max(0, i_raw)
            i1 = min(c.in_h, (c1 - 1) * c.stride_h - c.pad_top + eff_h)
            out.append(Band((p0, p1), (c0, c1), (i0, i1), i0 - i_raw, c0 - (p0 * p.stride_h - p.pad_top)))
        return out

    def extra_macs(self) -> int:
        """MACs of the conv rows computed twice (pool windows that overlap across bands)."""
        c = self.conv_params
        rows = sum(b.conv_rows[1] - b.conv_rows[0] for b in self.bands()) - c.out_h
        filter_c = getattr(c, "filter_c", 1)
        return rows * c.out_w * c.out_c * c.filter_h * c.filter_w * filter_c

    def stream(self) -> Stream:
        """The fused pair's streaming contract: a band's pool rows are written after its conv has read its
        input rows, bands in order (units: pool output pixels)."""
        c, p = self.conv_params, self.pool_params
        in_row = c.in_w * c.in_c
        first, pending = [], []
        for b in self.bands():
            n = (b.pool_rows[1] - b.pool_rows[0]) * p.out_w
            first += [b.in_rows[0] * in_row] * n
            pending += [b.pool_rows[0] * p.out_w] * n
        return Stream(in_bytes=c.in_h * in_row, out_bytes=p.out_h * p.out_w * p.channels, unit_bytes=p.channels,
                      first_read=np.asarray(first, np.int64), pending=np.asarray(pending, np.int64),
                      rows_per_unit=float(c.stride_h * p.stride_h))


def candidates(graph: Graph, params: list[ops.KernelParams]) -> list[Fusion]:
    """Every conv / depthwise whose output only the next op reads, a max or average pool, both on one image,
    and that is not a graph output."""
    consumers = graph.consumers()
    found = []
    for op in graph.ops[:-1]:
        nxt = graph.ops[op.index + 1]
        if op.opcode not in CONV_OPS or nxt.opcode not in POOL_OPS or not op.outputs or not nxt.inputs:
            continue
        t = op.outputs[0]
        if nxt.inputs[0] != t or t in graph.outputs or len(consumers.get(t, [])) != 1:
            continue
        c, p = params[op.index], params[nxt.index]
        if c.batches != 1 or p.batches != 1:
            continue
        found.append(Fusion(op.index, nxt.index, c, p))
    return found


def choose(candidates: list[Fusion], plan_with: Callable[[dict[int, Fusion]], Any], fuse: str = "auto"
           ) -> tuple[Any, dict[int, Fusion]]:
    """The fusions to run, as (plan, {pool op: Fusion}): each candidate in order where it lowers the arena
    `plan_with(fusions).arena_bytes` ("auto"), every one ("all"), or none ("off")."""
    chosen: dict[int, Fusion] = {}
    plan = plan_with(chosen)
    for f in candidates if fuse != "off" else []:
        trial = {**chosen, f.pool: f}
        smaller = plan_with(trial)
        if smaller.arena_bytes < plan.arena_bytes or fuse == "all":
            plan, chosen = smaller, trial
    return plan, chosen


def c_code(f: Fusion, conv_call: str, pool_call: str, conv_struct: str, pool_struct: str, conv_ref: str,
           pool_ref: str, in_ptr: str, out_ptr: str, band_ptr: str) -> list[str]:
    """The fused pair's loop in model.c. `conv_call` / `pool_call` format the kernel calls with `{p}` (the
    params copy), `{input}` and `{output}`."""
    c, p = f.conv_params, f.pool_params
    eff_h = (c.filter_h - 1) * c.dilation_h + 1
    in_row, out_row = c.in_w * c.in_c, p.out_w * p.channels
    return [
        "    {",
        f"        /* the params copied: each band narrows their rows ({f.rows} pool row(s) per band, at most "
        f"{f.band_rows} conv rows, {f.band_bytes} B) */",
        f"        {conv_struct} conv = *{conv_ref};",
        f"        {pool_struct} pool = *{pool_ref};",
        f"        for (int32_t p0 = 0; p0 < {p.out_h}; p0 += {f.rows}) {{",
        f"            const int32_t p1 = p0 + {f.rows} < {p.out_h} ? p0 + {f.rows} : {p.out_h};",
        f"            const int32_t w0 = p0 * {p.stride_h} - {p.pad_top};   /* the band's first pool window row */",
        "            const int32_t c0 = w0 > 0 ? w0 : 0;",
        f"            const int32_t c_end = (p1 - 1) * {p.stride_h} - {p.pad_top} + {p.filter_h};",
        f"            const int32_t c1 = c_end < {c.out_h} ? c_end : {c.out_h};",
        f"            const int32_t i_raw = c0 * {c.stride_h} - {c.pad_top};",
        "            const int32_t i0 = i_raw > 0 ? i_raw : 0;",
        f"            const int32_t i_end = (c1 - 1) * {c.stride_h} - {c.pad_top} + {eff_h};",
        f"            const int32_t i1 = i_end < {c.in_h} ? i_end : {c.in_h};",
        "            conv.in_h = i1 - i0;",
        "            conv.pad_top = i0 - i_raw;",
        "            conv.out_h = c1 - c0;",
        "            st = " + conv_call.format(p="&conv", input=f"{in_ptr} + i0 * {in_row}", output=band_ptr) + ";",
        "            if (st != EIP_OK) {",
        "                return st;",
        "            }",
        "            pool.in_h = c1 - c0;",
        "            pool.pad_top = c0 - w0;",
        "            pool.out_h = p1 - p0;",
        "            st = " + pool_call.format(p="&pool", input=band_ptr, output=f"{out_ptr} + p0 * {out_row}") + ";",
        "            if (st != EIP_OK) {",
        "                return st;",
        "            }",
        "        }",
        "    }",
    ]
