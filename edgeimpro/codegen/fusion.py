"""Row pipelines: a chain of windowed layers run band by band, so their intermediate tensors never exist whole.

A pipeline is a chain of conv, depthwise and pooling layers, each reading only the previous one's output. It
runs in bands of its last layer's output rows: for each band, every layer computes just the rows the next
one reads (from the band's first input rows on), into one of two ping-pong band buffers, and the last layer
writes its band straight into its output tensor. All calls are the ordinary kernels of whichever kernel set
is linked, on copies of their params narrowed to the band's rows (`in_h`, `pad_top`, `out_h`: every output
pixel is computed exactly as in the whole layer, so the result is bit-exact with the layers run apart).
Rows two bands both need are computed twice (the halo).

Two uses, one mechanism:
- a conv (or depthwise) fused with the max or average pool after it: bands of one pool row, so the
  pre-pool tensor never exists whole (`fusion_candidates`);
- patches: the first stage of a model (the layers before its memory peak falls) in N bands
  (`export --target aot --patches auto|N|off`, `patch_candidates`).
The memory plan gives a pipeline one block of scratch: the two band buffers, then the largest kernel scratch
of its layers (each layer's call uses it alone); the pipeline streams its output over its input like one
layer (`Pipeline.stream`).

Pure Python + numpy: no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeimpro.graph.model import Graph
from edgeimpro.ops.stream import Stream

WINDOWED = ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D")
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
POOL_OPS = ("MAX_POOL_2D", "AVERAGE_POOL_2D")
ALIGN = 16


@dataclass(frozen=True)
class Layer:
    """One layer of a pipeline: its op index and params record (or any object with the window fields of
    the conv / depthwise / pool records: in_h, in_w, out_h, out_w, filter_h, stride_h, pad_top, ...)."""
    op: int
    params: Any

    @property
    def in_row(self) -> int:
        p = self.params
        return p.in_w * (p.in_c if hasattr(p, "in_c") else p.channels)

    @property
    def out_row(self) -> int:
        p = self.params
        return p.out_w * (p.out_c if hasattr(p, "out_c") else p.channels)

    @property
    def span(self) -> int:
        p = self.params
        return (p.filter_h - 1) * getattr(p, "dilation_h", 1) + 1

    def macs_per_row(self) -> int:
        p = self.params
        if hasattr(p, "filter_c"):
            return p.out_w * p.out_c * p.filter_h * p.filter_w * p.filter_c
        if hasattr(p, "depth_multiplier"):
            return p.out_w * p.out_c * p.filter_h * p.filter_w
        return 0

    def input_rows(self, a: int, b: int) -> tuple[int, int, int]:
        """(first, end, pad_top) of the input rows output rows [a, b) read (clipped to the input), and the
        pad_top that addresses them from the first."""
        p = self.params
        raw = a * p.stride_h - p.pad_top
        first = max(0, raw)
        end = min(p.in_h, (b - 1) * p.stride_h - p.pad_top + self.span)
        return first, end, first - raw


@dataclass(frozen=True)
class LayerBand:
    in_rows: tuple[int, int]     # [first, end) input rows the layer reads in this band
    pad_top: int                 # its pad_top for the band
    out_rows: tuple[int, int]    # [first, end) output rows it computes


@dataclass(frozen=True)
class Pipeline:
    layers: tuple[Layer, ...]
    rows: int = 1                # output rows of the last layer per band
    patches: bool = False        # a patched first stage (else a conv fused with its pool)

    @property
    def first(self) -> int:
        return self.layers[0].op

    @property
    def last(self) -> int:
        return self.layers[-1].op

    @property
    def ops(self) -> list[int]:
        return [layer.op for layer in self.layers]

    def bands(self) -> list[list[LayerBand]]:
        """Per band, per layer (first to last): the rows it reads and computes."""
        out_h = self.layers[-1].params.out_h
        bands = []
        for p0 in range(0, out_h, self.rows):
            a, b = p0, min(p0 + self.rows, out_h)
            per_layer = []
            for layer in reversed(self.layers):
                first, end, pad = layer.input_rows(a, b)
                per_layer.append(LayerBand((first, end), pad, (a, b)))
                a, b = first, end
            bands.append(per_layer[::-1])
        return bands

    def buffer_bytes(self) -> int:
        """The larger of the intermediate band buffers (0 for one layer)."""
        return max(((bd.out_rows[1] - bd.out_rows[0]) * layer.out_row
                    for band in self.bands() for layer, bd in zip(self.layers[:-1], band[:-1], strict=True)),
                   default=0)

    def scratch_bytes(self, kernel_scratch: int) -> int:
        """The pipeline's one block: two band buffers (one for two layers) and the layers' kernel scratch."""
        buffers = min(2, len(self.layers) - 1)
        return buffers * _align(self.buffer_bytes()) + kernel_scratch

    def extra_macs(self) -> int:
        """MACs of the rows computed twice (the halo where bands overlap)."""
        computed = [0] * len(self.layers)
        for band in self.bands():
            for i, bd in enumerate(band):
                computed[i] += bd.out_rows[1] - bd.out_rows[0]
        return sum(max(0, n - layer.params.out_h) * layer.macs_per_row()   # < 0: rows no window reads, skipped
                   for n, layer in zip(computed, self.layers, strict=True))

    def stream(self) -> Stream:
        """The pipeline's streaming contract (input of its first layer -> output of its last): a band's output
        rows are written after its first layer has read the band's input rows, bands in order."""
        first, last = self.layers[0], self.layers[-1]
        p = last.params
        channels = p.out_c if hasattr(p, "out_c") else p.channels
        reads, pending = [], []
        for band in self.bands():
            a, b = band[-1].out_rows
            n = (b - a) * p.out_w
            reads += [band[0].in_rows[0] * first.in_row] * n
            pending += [a * p.out_w] * n
        return Stream(in_bytes=first.params.in_h * first.in_row, out_bytes=p.out_h * last.out_row,
                      unit_bytes=channels, first_read=np.asarray(reads, np.int64),
                      pending=np.asarray(pending, np.int64), rows_per_unit=1.0)

    def describe(self, graph: Graph) -> str:
        names = " + ".join(f"{graph.ops[i].opcode} {i}" for i in self.ops)
        bands = len(self.bands())
        extra = self.extra_macs()
        what = f"{bands} patches" if self.patches else "fused"
        return (f"layers {self.first}..{self.last} as a pipeline ({what}: {names}), {bands} bands of "
                f"{self.rows} output row(s); the intermediate tensors never exist whole"
                + (f"; {extra:,} MACs recomputed where bands overlap" if extra else ""))


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _chain(graph: Graph, first: int, last: int) -> bool:
    """Ops first..last form a chain: each reads only the previous one's output, which nothing else reads and
    is no graph output; all windowed, one image."""
    consumers = graph.consumers()
    for k in range(first, last + 1):
        op = graph.ops[k]
        if op.opcode not in WINDOWED or not op.inputs or not op.outputs:
            return False
        if k > first:
            prev = graph.ops[k - 1].outputs[0]
            if op.inputs[0] != prev or consumers.get(prev, []) != [k] or prev in graph.outputs:
                return False
    return True


def fusion_candidates(graph: Graph, params: list[Any]) -> list[Pipeline]:
    """Every conv / depthwise whose output only the next op reads, a max or average pool, one image."""
    found = []
    for op in graph.ops[:-1]:
        nxt = graph.ops[op.index + 1]
        if op.opcode in CONV_OPS and nxt.opcode in POOL_OPS and _chain(graph, op.index, nxt.index) \
                and params[op.index].batches == 1 and params[nxt.index].batches == 1:
            found.append(Pipeline((Layer(op.index, params[op.index]), Layer(nxt.index, params[nxt.index]))))
    return found


def patch_candidates(graph: Graph, params: list[Any], patches: int) -> list[Pipeline]:
    """The first stage as `patches` bands (one row each where its last output has fewer rows): every chain of
    windowed layers from the first op, two layers or more."""
    found = []
    last = 0
    while last + 1 < len(graph.ops) and _chain(graph, 0, last + 1):
        last += 1
        layers = tuple(Layer(k, params[k]) for k in range(last + 1))
        out_h = layers[-1].params.out_h
        if any(getattr(layer.params, "batches", 1) != 1 for layer in layers) or out_h < 2 or patches < 2:
            continue
        found.append(Pipeline(layers, rows=-(-out_h // min(patches, out_h)), patches=True))   # one row at least
    return found


def choose(candidates: list[Pipeline], plan_with: Callable[[list[Pipeline]], Any], fuse: str = "auto",
           chosen: list[Pipeline] | None = None) -> tuple[Any, list[Pipeline]]:
    """The pipelines to run besides `chosen`, as (plan, pipelines): each candidate in order, sharing no op
    with one taken, where it lowers the arena `plan_with(pipelines).arena_bytes` ("auto"), every one
    ("all"), or none ("off")."""
    taken = list(chosen or [])
    plan = plan_with(taken)
    for f in candidates if fuse != "off" else []:
        if any(set(f.ops) & set(p.ops) for p in taken):
            continue
        trial = [*taken, f]
        smaller = plan_with(trial)
        if smaller.arena_bytes < plan.arena_bytes or fuse == "all":
            plan, taken = smaller, trial
    return plan, taken


def c_code(pipe: Pipeline, calls: list[str], structs: list[str], refs: list[str], in_ptr: str, out_ptr: str,
           block: str, table: str) -> tuple[list[str], str]:
    """The pipeline's loop in model.c, and its band table. `calls[i]` formats layer i's kernel call with
    `{p}` (its params copy), `{input}` and `{output}`; `refs[i]` points at its params (whose scratch member,
    if any, already points at the block's kernel scratch); `block`: the C expression of the pipeline's
    scratch, the band buffers first."""
    bands = pipe.bands()
    n, k = len(bands), len(pipe.layers)
    rows = ",\n".join("    {" + ", ".join(f"{{{bd.in_rows[0]}, {bd.in_rows[1] - bd.in_rows[0]}, {bd.pad_top}, "
                                           f"{bd.out_rows[0]}, {bd.out_rows[1] - bd.out_rows[0]}}}" for bd in band) + "}"
                      for band in bands)
    const = (f"/* layers {pipe.first}..{pipe.last}, per band, per layer: first input row, input rows, pad_top, first "
             f"output row, output rows (codegen/fusion.py) */\nstatic const int16_t {table}[{n}][{k}][5] = {{\n{rows}\n}};\n")
    buf = _align(pipe.buffer_bytes())
    lines = ["    {", "        /* the params copied: each band narrows their rows */"]
    lines += [f"        {struct} l{i} = *{ref};" for i, (struct, ref) in enumerate(zip(structs, refs, strict=True))]
    lines.append(f"        for (int32_t b = 0; b < {n}; ++b) {{")
    for i, layer in enumerate(pipe.layers):
        src = f"{in_ptr} + {table}[b][0][0] * {layer.in_row}" if i == 0 else f"{block} + {((i - 1) % 2) * buf}"
        dst = f"{out_ptr} + {table}[b][{i}][3] * {layer.out_row}" if i == k - 1 else f"{block} + {(i % 2) * buf}"
        lines += [f"            l{i}.in_h = {table}[b][{i}][1];",
                  f"            l{i}.pad_top = {table}[b][{i}][2];",
                  f"            l{i}.out_h = {table}[b][{i}][4];",
                  "            st = " + calls[i].format(p=f"&l{i}", input=src, output=dst) + ";",
                  "            if (st != EIP_OK) {", "                return st;", "            }"]
    lines += ["        }", "    }"]
    return lines, const


def kernel_scratch_at(pipe: Pipeline) -> int:
    """Where the layers' shared kernel scratch starts in the pipeline's block (after the band buffers)."""
    return min(2, len(pipe.layers) - 1) * _align(pipe.buffer_bytes())
