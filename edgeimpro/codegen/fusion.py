"""Row pipelines: a few layers run band by band, so their intermediate tensors never exist whole.

A pipeline is a small DAG of conv, depthwise, pooling and ADD layers (`Layer.sources`: each input is the
pipeline's input or an earlier layer's output, read nowhere outside). It runs in bands of its last layer's
output rows: for each band, every layer computes just the rows its readers need (the hull, for a skip
connection read twice) into its band buffer, and the last layer writes its band straight into its output
tensor. All calls are the ordinary kernels of whichever kernel set is linked, on copies of their params
narrowed to the band's rows (`in_h`, `pad_top`, `out_h`; an ADD's row count): every output pixel is computed
exactly as in the whole layer, so the result is bit-exact with the layers run apart. Rows two bands both
need are computed twice (the halo).

Two uses, one mechanism:
- a conv (or depthwise) fused with the max or average pool after it: bands of one pool row, so the
  pre-pool tensor never exists whole (`fusion_candidates`);
- patches: the first stage of a model (the layers before its memory peak falls, residual blocks included)
  in N bands (`export --target aot --patches auto|N|off`, `patch_candidates`).
The memory plan gives a pipeline one block of scratch: the band buffers (placed by their liveness within a
band, `Pipeline.buffers`), then the largest kernel scratch of its layers (each layer's call uses it alone);
the pipeline streams its output over its input like one layer (`Pipeline.stream`). model.c holds a table of
each band's rows per layer (int16: layers of more than ROW_MAX rows take no pipeline).

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
ROW_MAX = 32767   # rows and row offsets in model.c's band tables are int16


@dataclass(frozen=True)
class Layer:
    """One layer of a pipeline: its op index, params record (or any object with the window fields of the
    conv / depthwise / pool records: in_h, in_w, out_h, out_w, filter_h, stride_h, pad_top, ...; or an ADD's
    record without broadcasting) and where its activation inputs come from: the index of an earlier layer of
    the pipeline, or -1 for the pipeline's input (default: the layer before, the first from the input)."""
    op: int
    params: Any
    sources: tuple[int, ...] = ()

    @property
    def elementwise(self) -> bool:
        return hasattr(self.params, "dims")      # ADD: rows in, the same rows out

    @property
    def in_row(self) -> int:
        p = self.params
        if self.elementwise:
            return p.dims[-2] * p.dims[-1]
        return p.in_w * (p.in_c if hasattr(p, "in_c") else p.channels)

    @property
    def out_row(self) -> int:
        p = self.params
        if self.elementwise:
            return p.dims[-2] * p.dims[-1]
        return p.out_w * (p.out_c if hasattr(p, "out_c") else p.channels)

    @property
    def out_h(self) -> int:
        return self.params.dims[-3] if self.elementwise else self.params.out_h

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
        if self.elementwise:
            return a, b, 0
        p = self.params
        raw = a * p.stride_h - p.pad_top
        first = max(0, raw)
        end = min(p.in_h, (b - 1) * p.stride_h - p.pad_top + self.span)
        return first, end, first - raw


@dataclass(frozen=True)
class LayerBand:
    in_rows: tuple[int, int]     # [first, end) rows the layer reads from each of its sources in this band
    pad_top: int                 # its pad_top for the band (windowed layers)
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

    def sources(self, i: int) -> tuple[int, ...]:
        return self.layers[i].sources or ((i - 1,) if i > 0 else (-1,))

    def consumers(self, i: int) -> list[int]:
        return [j for j in range(len(self.layers)) if i in self.sources(j)]

    def bands(self) -> list[list[LayerBand]]:
        """Per band, per layer (first to last): the rows it reads and computes. A layer computes the hull
        of the rows its consumers in the pipeline read (the last layer: the band's rows)."""
        out_h = self.layers[-1].out_h
        bands = []
        for p0 in range(0, out_h, self.rows):
            need: dict[int, tuple[int, int]] = {len(self.layers) - 1: (p0, min(p0 + self.rows, out_h))}
            per_layer: list[LayerBand | None] = [None] * len(self.layers)
            for i in reversed(range(len(self.layers))):
                a, b = need[i]
                first, end, pad = self.layers[i].input_rows(a, b)
                per_layer[i] = LayerBand((first, end), pad, (a, b))
                for src in self.sources(i):
                    if src >= 0:
                        lo, hi = need.get(src, (first, end))
                        need[src] = (min(lo, first), max(hi, end))
            bands.append([bd for bd in per_layer if bd is not None])
        return bands

    def buffers(self) -> list[tuple[int, int]]:
        """(offset, bytes) in the pipeline's block of each layer's band buffer (the last layer writes its
        output): as large as its largest band, placed largest first where no buffer live at the same time
        (from its layer to its last consumer) lies."""
        bands = self.bands()
        n = len(self.layers) - 1
        sizes = [max((band[i].out_rows[1] - band[i].out_rows[0]) * self.layers[i].out_row for band in bands)
                 for i in range(n)]
        live = [(i, max(self.consumers(i), default=i)) for i in range(n)]
        placed: list[tuple[int, int, int]] = []   # (layer, offset, end)
        offsets = [0] * n
        for i in sorted(range(n), key=lambda i: (-sizes[i], i)):
            busy = sorted((o, e) for j, o, e in placed if not (live[j][1] < live[i][0] or live[i][1] < live[j][0]))
            off = 0
            for o, e in busy:
                if off + _align(sizes[i]) <= o:
                    break
                off = max(off, e)
            offsets[i] = off
            placed.append((i, off, off + _align(sizes[i])))
        return [(offsets[i], sizes[i]) for i in range(n)]

    def buffer_bytes(self) -> int:
        """The band buffers' share of the block."""
        return max((o + _align(size) for o, size in self.buffers()), default=0)

    def scratch_bytes(self, kernel_scratch: int) -> int:
        """The pipeline's one block: its band buffers, then the layers' kernel scratch."""
        return kernel_scratch_at(self) + kernel_scratch

    def extra_macs(self) -> int:
        """MACs of the rows computed twice (the halo where bands overlap)."""
        computed = [0] * len(self.layers)
        for band in self.bands():
            for i, bd in enumerate(band):
                computed[i] += bd.out_rows[1] - bd.out_rows[0]
        return sum(max(0, n - layer.out_h) * layer.macs_per_row()   # < 0: rows no window reads, skipped
                   for n, layer in zip(computed, self.layers, strict=True))

    def stream(self) -> Stream:
        """The pipeline's streaming contract (its input -> its last layer's output): a band's output rows are
        written after the band has read its input rows, bands in order."""
        last = self.layers[-1]
        readers = [i for i in range(len(self.layers)) if -1 in self.sources(i)]
        in_row = self.layers[readers[0]].in_row
        in_h = self.layers[readers[0]].params.in_h if not self.layers[readers[0]].elementwise \
            else self.layers[readers[0]].out_h
        out_w = last.params.dims[-2] if last.elementwise else last.params.out_w
        unit = last.out_row // out_w
        reads, pending = [], []
        for band in self.bands():
            a, b = band[-1].out_rows
            n = (b - a) * out_w
            reads += [min(band[i].in_rows[0] for i in readers) * in_row] * n
            pending += [a * out_w] * n
        return Stream(in_bytes=in_h * in_row, out_bytes=last.out_h * last.out_row, unit_bytes=unit,
                      first_read=np.asarray(reads, np.int64), pending=np.asarray(pending, np.int64))

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


def stage_sources(graph: Graph, params: list[Any], first: int, last: int) -> tuple[tuple[int, ...], ...] | None:
    """Each layer's sources if ops first..last can run as one pipeline, else None: windowed layers (the first
    one too) and ADDs of same-shaped NHWC tensors, one image, every input the pipeline's input or an earlier
    layer's output, and every output but the last read only inside the pipeline (and no graph output)."""
    consumers = graph.consumers()
    inside = set(range(first, last + 1))
    index = {graph.ops[k].outputs[0]: k - first for k in inside if graph.ops[k].outputs}
    pipeline_input = graph.ops[first].inputs[0] if graph.ops[first].inputs else -1
    sources = []
    for k in range(first, last + 1):
        op, p = graph.ops[k], params[k]
        if op.opcode in WINDOWED and op.inputs and getattr(p, "batches", 1) == 1:
            ins = [op.inputs[0]]
        elif op.opcode == "ADD" and k > first and p.broadcast == 0 and list(p.dims[:3]) == [1, 1, 1]:
            ins = list(op.inputs[:2])
        else:
            return None
        if max(getattr(p, "in_h", 0), getattr(p, "out_h", 0), *getattr(p, "dims", ())) > ROW_MAX:
            return None   # the band table holds rows as int16
        src = []
        for t in ins:
            if t == pipeline_input:
                src.append(-1)
            elif t in index and index[t] < k - first:
                src.append(index[t])
            else:
                return None
        sources.append(tuple(src))
        if k < last and (op.outputs[0] in graph.outputs or not set(consumers.get(op.outputs[0], [])) <= inside):
            return None
    return tuple(sources)


def fusion_candidates(graph: Graph, params: list[Any]) -> list[Pipeline]:
    """Every conv / depthwise whose output only the next op reads, a max or average pool, one image."""
    found = []
    for op in graph.ops[:-1]:
        nxt = graph.ops[op.index + 1]
        if op.opcode in CONV_OPS and nxt.opcode in POOL_OPS and stage_sources(graph, params, op.index, nxt.index):
            found.append(Pipeline((Layer(op.index, params[op.index]), Layer(nxt.index, params[nxt.index]))))
    return found


def patch_candidates(graph: Graph, params: list[Any], patches: int) -> list[Pipeline]:
    """The first stage as `patches` bands (one row each where its last output has fewer rows): every run of
    layers from the first op that can be a pipeline (stage_sources), two layers or more."""
    found = []
    for last in range(1, len(graph.ops)):
        sources = stage_sources(graph, params, 0, last)
        if sources is None:
            continue
        layers = tuple(Layer(k, params[k], sources[k]) for k in range(last + 1))
        out_h = layers[-1].out_h
        if out_h < 2 or patches < 2:
            continue
        found.append(Pipeline(layers, rows=-(-out_h // min(patches, out_h)), patches=True))   # one row at least
    return found


def choose(candidates: list[Pipeline], plan_with: Callable[[list[Pipeline]], Any], fuse: str = "auto"
           ) -> tuple[Any, list[Pipeline]]:
    """The pipelines to run, as (plan, pipelines): each candidate in order, sharing no op with one taken,
    where it lowers the arena `plan_with(pipelines).arena_bytes` ("auto"), every one ("all"), or none
    ("off")."""
    taken: list[Pipeline] = []
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
    `{p}` (its params copy), `{input}` (and `{input2}` for an ADD) and `{output}`; `refs[i]` points at its
    params (whose scratch member, if any, already points at the block's kernel scratch); `block`: the C
    expression of the pipeline's scratch, the band buffers first."""
    bands = pipe.bands()
    n, k = len(bands), len(pipe.layers)
    buffers = pipe.buffers()

    def entry(band: list[LayerBand], i: int) -> str:
        bd = band[i]
        rel = [bd.in_rows[0] - (band[s].out_rows[0] if s >= 0 else 0) for s in pipe.sources(i)]
        rel += [0] * (2 - len(rel))
        return (f"{{{rel[0]}, {bd.in_rows[1] - bd.in_rows[0]}, {bd.pad_top}, {bd.out_rows[0]}, "
                f"{bd.out_rows[1] - bd.out_rows[0]}, {rel[1]}}}")

    rows = ",\n".join("    {" + ", ".join(entry(band, i) for i in range(k)) + "}" for band in bands)
    const = (f"/* layers {pipe.first}..{pipe.last}, per band, per layer: the first row it reads of its (first) source "
             f"(the pipeline's input: absolute; a layer's band buffer: from its start), the rows it reads, its "
             f"pad_top, its first output row, its output rows, the first row it reads of its second source "
             f"(codegen/fusion.py) */\nstatic const int16_t {table}[{n}][{k}][6] = {{\n{rows}\n}};\n")

    def source(i: int, j: int) -> str:
        s = pipe.sources(i)[j]
        col = 0 if j == 0 else 5
        if s < 0:
            return f"{in_ptr} + {table}[b][{i}][{col}] * {pipe.layers[i].in_row}"
        return f"{block} + {buffers[s][0]} + {table}[b][{i}][{col}] * {pipe.layers[s].out_row}"

    lines = ["    {", "        /* the params copied: each band narrows their rows */"]
    lines += [f"        {struct} l{i} = *{ref};" for i, (struct, ref) in enumerate(zip(structs, refs, strict=True))]
    lines.append(f"        for (int32_t b = 0; b < {n}; ++b) {{")
    for i, layer in enumerate(pipe.layers):
        dst = (f"{out_ptr} + {table}[b][{i}][3] * {layer.out_row}" if i == k - 1
               else f"{block} + {buffers[i][0]}")
        if layer.elementwise:
            lines.append(f"            l{i}.dims[EIP_MAX_DIMS - 3] = {table}[b][{i}][4];")
            call = calls[i].format(p=f"&l{i}", input=source(i, 0), input2=source(i, 1), output=dst)
        else:
            lines += [f"            l{i}.in_h = {table}[b][{i}][1];",
                      f"            l{i}.pad_top = {table}[b][{i}][2];",
                      f"            l{i}.out_h = {table}[b][{i}][4];"]
            call = calls[i].format(p=f"&l{i}", input=source(i, 0), output=dst)
        lines += [f"            st = {call};", "            if (st != EIP_OK) {", "                return st;",
                  "            }"]
    lines += ["        }", "    }"]
    return lines, const


def kernel_scratch_at(pipe: Pipeline) -> int:
    """Where the layers' shared kernel scratch starts in the pipeline's block (after the band buffers)."""
    return _align(pipe.buffer_bytes())
