"""Static memory plan for the AOT runtime: one arena, every activation tensor at a fixed offset.

Lifetimes follow the op order: a tensor is live from the op that writes it (graph inputs from the start)
through its last reader (graph outputs to the end). Two tensors may share bytes only when their lifetimes
do not overlap, except where an op is allowed to run in place:
  - aliases (the registry's alias ops, RESHAPE): the output *is* the input's bytes, no copy;
  - in-place ops (elementwise kernels that read element i before writing element i): the output may take
    the input's bytes when this op is the input's last reader and the sizes are equal.
  - streamed ops (conv, depthwise, pooling, PAD: ops/stream.py): where the op is its input's last reader
    and the first writer of its output, the output may start `lag` bytes below the input and overlap it:
    the kernel writes its output rows over input rows it has consumed. The lag is the least the op's
    contract allows, and every streamed placement is replayed against the contract (check_plan).
A kernel's scratch (the Arm DSP conv's columns) is a block of its own, live during its op only: the arena
figure counts it, and nothing static hides beside the plan.
Two bounds: the op-order bound (the most bytes live at once while every op holds its whole input and output:
no plan without streaming does better) and the streamed bound (the same with each streamed pair counted as
the bytes it spans). Placement: greedy by size, then a bounded search for a plan at the streamed bound (chains
need ping-pong placement that greedy misses); the result is checked exhaustively.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeimpro import ops
from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.stream import Stream


@dataclass
class Block:
    """A run of arena bytes holding one tensor, or several that alias / run in place, or an op's scratch."""
    tensors: list[int]
    size: int
    first: int          # op index that first writes it (-1: graph input)
    last: int           # op index that last reads it (len(ops): graph output)
    offset: int = -1
    nbytes: int = 0     # bytes used (size is aligned up)
    scratch_op: int | None = None   # the op whose scratch this is (tensors is empty)

    @property
    def key(self) -> int:
        return self.tensors[0] if self.tensors else -1 - (self.scratch_op or 0)

    def overlaps(self, other: Block) -> bool:
        return not (self.last < other.first or other.last < self.first)


@dataclass
class StreamPair:
    """An op whose output block may overlap its input block: the output at least `min_lag` bytes below."""
    op: int
    src: int                 # input tensor
    dst: int                 # output tensor
    min_lag: int             # aligned up
    contract: Stream
    lag: int | None = None   # bytes the output starts below the input in the plan; None: they do not overlap


@dataclass
class MemoryPlan:
    arena_bytes: int
    offsets: dict[int, int]              # tensor index -> byte offset in the arena
    sizes: dict[int, int]                # tensor index -> bytes
    blocks: list[Block]
    alignment: int
    inplace: list[tuple[int, int, int]] = field(default_factory=list)  # (op, input tensor, output tensor)
    scratch: dict[int, int] = field(default_factory=dict)              # op index -> offset of its scratch
    lower_bound: int = 0   # op order: the most bytes live at once (tensors and scratch, aligned)
    lower_bound_op: int = 0   # the op at which they are live
    streamed_bound: int = 0   # the same with every streamed pair counted as the bytes it spans
    streams: list[StreamPair] = field(default_factory=list)   # the ops that may stream, and how they were placed
    pipelines: list[list[int]] = field(default_factory=list)  # layers run together band by band (fusion.py)
    pipeline_meta: list[tuple[int, bool]] = field(default_factory=list)   # each pipeline's (rows per band, patches?)
    layer_params: list[Any] = field(default_factory=list)   # the params records the layers run with (aot.plan_layers)

    def live_ranges(self) -> dict[int, tuple[int, int]]:
        """tensor -> (first op, last op) of the block that holds it."""
        return {t: (b.first, b.last) for b in self.blocks for t in b.tensors}


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def plan_arena(graph: Graph, can_run_inplace: Callable[[Op], bool] = lambda op: False,
               alignment: int = 16, scratch: dict[int, int] | None = None,
               streams: dict[int, Stream] | None = None, pipelines: list[list[int]] | None = None) -> MemoryPlan:
    """Offsets for every activation tensor, and for the scratch of the ops in `scratch` (op index -> bytes).
    `can_run_inplace(op)` says whether op's kernel may write its output over an input (the kernel's promise:
    element i is read before element i is written); `streams` (op index -> contract) which ops may write
    their output over the consumed part of their first input (ops/stream.py); `pipelines` (chains of op
    indices, codegen/fusion.py) the layers that run together band by band in their first op's slot: their
    intermediate outputs never exist whole (they have no bytes in the plan), the last one's output is live
    from that slot, and the first op's scratch and streaming contract are the pipeline's."""
    pipelines = pipelines or []
    hidden = {graph.ops[k].outputs[0] for chain in pipelines for k in chain[:-1]}
    slot = {op.index: op.index for op in graph.ops}
    for chain in pipelines:
        slot.update(dict.fromkeys(chain, chain[0]))
    n_ops = len(graph.ops)
    acts = [t for t in graph.activation_tensors() if t not in hidden]
    first = {t: (-1 if t in graph.inputs else n_ops) for t in acts}
    last = {t: (n_ops if t in graph.outputs else -1) for t in acts}
    for op in graph.ops:
        for t in op.outputs + op.inputs:
            if t in first:
                first[t] = min(first[t], slot[op.index])
                last[t] = max(last[t], slot[op.index])

    # Union tensors that share bytes.
    parent = {t: t for t in acts}

    def find(t: int) -> int:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    def group_last(root: int) -> int:
        return max(last[t] for t in acts if find(t) == root)

    inplace: list[tuple[int, int, int]] = []
    for op in graph.ops:
        if not op.outputs or not op.inputs:
            continue
        out = op.outputs[0]
        src = op.inputs[0]
        if src < 0 or src not in parent or out not in parent or slot[op.index] != op.index:
            continue
        if ops.is_alias(op.opcode):
            parent[find(out)] = find(src)
        elif can_run_inplace(op):
            # Try every activation input of the op that dies here and has the output's size.
            for cand in op.inputs:
                if cand < 0 or cand not in parent or cand in graph.inputs:
                    continue
                root = find(cand)
                if (group_last(root) == op.index
                        and graph.tensors[cand].nbytes == graph.tensors[out].nbytes):
                    parent[find(out)] = root
                    inplace.append((op.index, cand, out))
                    break

    groups: dict[int, list[int]] = {}
    for t in acts:
        groups.setdefault(find(t), []).append(t)
    blocks = [
        Block(tensors=sorted(ts),
              size=_align(max(graph.tensors[t].nbytes for t in ts), alignment),
              first=min(first[t] for t in ts),
              last=max(last[t] for t in ts),
              nbytes=max(graph.tensors[t].nbytes for t in ts))
        for ts in groups.values()
    ]
    blocks += [Block(tensors=[], size=_align(n, alignment), first=slot[op], last=slot[op], nbytes=n, scratch_op=op)
               for op, n in sorted((scratch or {}).items()) if n > 0]
    pairs = _stream_pairs(graph, blocks, streams or {}, alignment, {chain[0]: chain[-1] for chain in pipelines})
    lags = _block_lags(blocks, pairs)

    _place(blocks, alignment, lags)
    arena = max((b.offset + b.size for b in blocks), default=0)
    offsets = {t: b.offset for b in blocks for t in b.tensors}
    for p in pairs:
        below = offsets[p.src] - offsets[p.dst]
        p.lag = below if below >= 0 and offsets[p.dst] + graph.tensors[p.dst].nbytes > offsets[p.src] else None
    plan = MemoryPlan(
        arena_bytes=arena,
        offsets=offsets,
        sizes={t: graph.tensors[t].nbytes for t in acts},
        blocks=blocks,
        alignment=alignment,
        inplace=inplace,
        scratch={b.scratch_op: b.offset for b in blocks if b.scratch_op is not None},
        lower_bound=live_bound(blocks),
        lower_bound_op=live_peak(blocks),
        streamed_bound=live_bound(blocks, lags),
        streams=pairs,
        pipelines=[list(chain) for chain in pipelines],
    )
    check_plan(plan)
    return plan


def _stream_pairs(graph: Graph, blocks: list[Block], streams: dict[int, Stream], alignment: int,
                  ends: dict[int, int]) -> list[StreamPair]:
    """The streamed ops whose input block dies at the op and whose output block is born there (a tensor read
    again later, a graph output, or an output already aliased to an earlier tensor stays whole). A
    pipeline's first op (`ends`: first op -> last op) streams into its last op's output."""
    block_of = {t: b for b in blocks for t in b.tensors}
    pairs = []
    for k, contract in sorted(streams.items()):
        op = graph.ops[k]
        if not op.inputs or not op.outputs:
            continue
        src, dst = op.inputs[0], graph.ops[ends.get(k, k)].outputs[0]
        x, y = block_of.get(src), block_of.get(dst)
        if x is None or y is None or x is y or x.last != k or y.first != k:
            continue
        if (contract.in_bytes, contract.out_bytes) != (graph.tensors[src].nbytes, graph.tensors[dst].nbytes):
            raise AssertionError(f"op {k}: its streaming contract does not match its tensors' sizes")
        pairs.append(StreamPair(k, src, dst, _align(contract.min_lag(), alignment), contract))
    return pairs


def _lag(lags: dict[tuple[int, int], int], a: Block, b: Block) -> tuple[int, int] | None:
    """(lag, +1 if `a` is the streamed input and `b` its output, -1 the other way round), None if unpaired."""
    if (a.key, b.key) in lags:
        return lags[(a.key, b.key)], 1
    if (b.key, a.key) in lags:
        return lags[(b.key, a.key)], -1
    return None


def _block_lags(plan_blocks: list[Block], pairs: list[StreamPair]) -> dict[tuple[int, int], int]:
    """The pairs' least lags keyed by (input block key, output block key)."""
    key = {t: b.key for b in plan_blocks for t in b.tensors}
    return {(key[p.src], key[p.dst]): p.min_lag for p in pairs}


def _forbidden(p: Block, b: Block, lags: dict[tuple[int, int], int]) -> tuple[int, int]:
    """The offsets (lo, hi), both excluded, where block `b` would share bytes with placed block `p`, live
    at the same time: b.offset must be <= lo or >= hi. Normally b must clear p altogether; a streamed
    output may start `lag` bytes below its input and reach into it, and an input may start `lag` bytes
    above its output."""
    pair = _lag(lags, p, b)
    if pair is None:
        return p.offset - b.size, p.offset + p.size
    lag, way = pair
    if way == 1:    # p the input, b the output: b.offset <= p.offset - lag, or b wholly outside p
        return p.offset - min(lag, b.size), p.offset + p.size
    return p.offset - b.size, p.offset + min(lag, p.size)   # p the output, b the input


def _conflicts(b: Block, offset: int, placed: list[Block], lags: dict[tuple[int, int], int]) -> bool:
    for p in placed:
        if p.overlaps(b):
            lo, hi = _forbidden(p, b, lags)
            if lo < offset < hi:
                return True
    return False


def _greedy_by_size(blocks: list[Block], lags: dict[tuple[int, int], int]) -> int:
    """Largest block first, each at the lowest offset free during its lifetime. Returns the arena size."""
    placed: list[Block] = []
    for b in sorted(blocks, key=lambda b: (-b.size, b.first, b.key)):
        offset = 0
        for lo, hi in sorted(_forbidden(p, b, lags) for p in placed if p.overlaps(b)):
            if offset <= lo:
                break
            offset = max(offset, hi)
        b.offset = offset
        placed.append(b)
    return max((b.offset + b.size for b in blocks), default=0)


def _fit_under(blocks: list[Block], cap: int, budget: int, lags: dict[tuple[int, int], int],
               backward: bool = False) -> dict[int, int] | None:
    """Depth-first search for offsets keeping every block below `cap`; candidate offsets are the arena's
    ends and the edges of what blocks already placed forbid (enough for chains, which need ping-pong
    placement). Blocks are placed in op order, or `backward` from the last: a streamed input sits its
    output's lag above it, so a chain of streamed ops is placed from its end."""
    if backward:
        order = sorted(range(len(blocks)), key=lambda i: (-blocks[i].last, -blocks[i].size))
    else:
        order = sorted(range(len(blocks)), key=lambda i: (blocks[i].first, -blocks[i].size))
    placed: list[Block] = []
    nodes = 0

    def dfs(k: int) -> bool:
        nonlocal nodes
        if k == len(order):
            return True
        b = blocks[order[k]]
        live = [p for p in placed if p.overlaps(b)]
        cands = {0, cap - b.size}
        for p in live:
            cands.update(_forbidden(p, b, lags))
        for off in sorted(c for c in cands if 0 <= c <= cap - b.size):
            nodes += 1
            if nodes > budget:
                return False
            if _conflicts(b, off, live, lags):
                continue
            b.offset = off
            placed.append(b)
            if dfs(k + 1):
                return True
            placed.pop()
        return False

    if dfs(0):
        return {i: blocks[i].offset for i in range(len(blocks))}
    return None


def _live_at(blocks: list[Block], t: int, lags: dict[tuple[int, int], int]) -> int:
    live = [b for b in blocks if b.first <= t <= b.last]
    total = sum(b.size for b in live)
    for x in live:
        for y in live:
            pair = _lag(lags, x, y) if x is not y else None
            if pair is not None and pair[1] == 1 and pair[0] < y.size:
                total -= x.size + y.size - max(x.size + pair[0], y.size)   # the pair spans this much
    return total


def live_bound(blocks: list[Block], lags: dict[tuple[int, int], int] | None = None) -> int:
    """The most bytes live at one time: the least arena any placement of these blocks needs (streamed pairs
    in `lags` counted as the bytes they span)."""
    events = sorted({b.first for b in blocks} | {b.last for b in blocks})
    return max((_live_at(blocks, t, lags or {}) for t in events), default=0)


def live_peak(blocks: list[Block]) -> int:
    """The op index at which live_bound is reached (the first, if several)."""
    events = sorted({b.first for b in blocks} | {b.last for b in blocks})
    peak = max(events, key=lambda t: (_live_at(blocks, t, {}), -t), default=0)
    return max(peak, 0)   # -1 (the graph inputs, before op 0) is reported as op 0, where they are live too


def _place(blocks: list[Block], alignment: int, lags: dict[tuple[int, int], int], budget: int = 20000) -> None:
    """Greedy placement, then a search for a smaller arena between the live-set lower bound and it."""
    if not blocks:
        return
    best_size = _greedy_by_size(blocks, lags)
    best = {i: b.offset for i, b in enumerate(blocks)}
    bound = live_bound(blocks, lags)
    cap = bound
    while cap < best_size:
        found = _fit_under(blocks, cap, budget, lags) or _fit_under(blocks, cap, budget, lags, backward=True)
        if found is not None:
            best, best_size = found, max(blocks[i].offset + blocks[i].size for i in found)
            break
        cap += max(alignment, _align((best_size - bound) // 16, alignment))
    for i, b in enumerate(blocks):
        b.offset = best[i]


def check_plan(plan: MemoryPlan) -> None:
    """Assert no two blocks that are live at the same time share a byte (exhaustive, O(n^2)), except a
    streamed pair placed as its contract allows: its output `lag` bytes below its input, and the contract
    replayed at that lag finds no read of an overwritten byte."""
    lags = _block_lags(plan.blocks, plan.streams)
    for p in plan.streams:
        if p.lag is not None and (p.lag < p.min_lag or p.contract.clobbered_read(p.lag) is not None):
            raise AssertionError(f"memory plan: layer {p.op} writes its output over input bytes it still reads (lag {p.lag}, least {p.min_lag}, first clobbered unit {p.contract.clobbered_read(p.lag)})")
    for i, a in enumerate(plan.blocks):
        for b in plan.blocks[i + 1:]:
            if not a.overlaps(b):
                continue
            lo, hi = _forbidden(a, b, lags)
            if lo < b.offset < hi:
                raise AssertionError(f"memory plan overlap: {_what(a)} and {_what(b)}")


def _what(b: Block) -> str:
    return f"tensors {b.tensors}" if b.tensors else f"the scratch of op {b.scratch_op}"
