"""Static memory plan for the AOT runtime: one arena, every activation tensor at a fixed offset.

Lifetimes follow the op order: a tensor is live from the op that writes it (graph inputs from the start)
through its last reader (graph outputs to the end). Two tensors may share bytes only when their lifetimes
do not overlap, except where an op is allowed to run in place:
  - aliases (the registry's alias ops, RESHAPE): the output *is* the input's bytes, no copy;
  - in-place ops (elementwise kernels that read element i before writing element i): the output may take
    the input's bytes when this op is the input's last reader and the sizes are equal.
A kernel's scratch (the Arm DSP conv's columns) is a block of its own, live during its op only: the arena
figure counts it, and nothing static hides beside the plan.
Placement: greedy by size, then a bounded search for a plan at the live-set lower bound (chains need
ping-pong placement that greedy misses); the result is checked exhaustively.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edgeimpro import ops
from edgeimpro.graph.model import Graph, Op


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
class MemoryPlan:
    arena_bytes: int
    offsets: dict[int, int]              # tensor index -> byte offset in the arena
    sizes: dict[int, int]                # tensor index -> bytes
    blocks: list[Block]
    alignment: int
    inplace: list[tuple[int, int, int]] = field(default_factory=list)  # (op, input tensor, output tensor)
    scratch: dict[int, int] = field(default_factory=dict)              # op index -> offset of its scratch
    lower_bound: int = 0   # the most bytes live at once (tensors and scratch, aligned): no plan does better
    lower_bound_op: int = 0   # the op at which they are live

    def live_ranges(self) -> dict[int, tuple[int, int]]:
        """tensor -> (first op, last op) of the block that holds it."""
        return {t: (b.first, b.last) for b in self.blocks for t in b.tensors}


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def plan_arena(graph: Graph, can_run_inplace: Callable[[Op], bool] = lambda op: False,
               alignment: int = 16, scratch: dict[int, int] | None = None) -> MemoryPlan:
    """Offsets for every activation tensor, and for the scratch of the ops in `scratch` (op index -> bytes).
    `can_run_inplace(op)` says whether op's kernel may write its output over an input (the kernel's promise:
    element i is read before element i is written)."""
    n_ops = len(graph.ops)
    acts = graph.activation_tensors()
    first = {t: (-1 if t in graph.inputs else n_ops) for t in acts}
    last = {t: (n_ops if t in graph.outputs else -1) for t in acts}
    for op in graph.ops:
        for t in op.outputs:
            if t in first:
                first[t] = min(first[t], op.index)
                last[t] = max(last[t], op.index)
        for t in op.inputs:
            if t in first:
                first[t] = min(first[t], op.index)
                last[t] = max(last[t], op.index)

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
        if src < 0 or src not in parent or out not in parent:
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
    blocks += [Block(tensors=[], size=_align(n, alignment), first=op, last=op, nbytes=n, scratch_op=op)
               for op, n in sorted((scratch or {}).items()) if n > 0]

    _place(blocks, alignment)
    arena = max((b.offset + b.size for b in blocks), default=0)
    plan = MemoryPlan(
        arena_bytes=arena,
        offsets={t: b.offset for b in blocks for t in b.tensors},
        sizes={t: graph.tensors[t].nbytes for t in acts},
        blocks=blocks,
        alignment=alignment,
        inplace=inplace,
        scratch={b.scratch_op: b.offset for b in blocks if b.scratch_op is not None},
        lower_bound=live_bound(blocks),
        lower_bound_op=live_peak(blocks),
    )
    check_plan(plan)
    return plan


def _conflicts(b: Block, offset: int, placed: list[Block]) -> bool:
    return any(p.overlaps(b) and offset < p.offset + p.size and p.offset < offset + b.size for p in placed)


def _greedy_by_size(blocks: list[Block]) -> int:
    """Largest block first, each at the lowest offset free during its lifetime. Returns the arena size."""
    placed: list[Block] = []
    for b in sorted(blocks, key=lambda b: (-b.size, b.first, b.key)):
        busy = sorted((p.offset, p.offset + p.size) for p in placed if p.overlaps(b))
        offset = 0
        for lo, hi in busy:
            if offset + b.size <= lo:
                break
            offset = max(offset, hi)
        b.offset = offset
        placed.append(b)
    return max((b.offset + b.size for b in blocks), default=0)


def _fit_under(blocks: list[Block], cap: int, budget: int) -> dict[int, int] | None:
    """Depth-first search for offsets keeping every block below `cap`; candidate offsets are the arena's
    ends and the edges of blocks already placed (enough for chains, which need ping-pong placement)."""
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
            cands.add(p.offset + p.size)
            cands.add(p.offset - b.size)
        for off in sorted(c for c in cands if 0 <= c <= cap - b.size):
            nodes += 1
            if nodes > budget:
                return False
            if _conflicts(b, off, live):
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


def live_bound(blocks: list[Block]) -> int:
    """The most bytes live at one time: the least arena any placement of these blocks needs."""
    events = sorted({b.first for b in blocks} | {b.last for b in blocks})
    return max((sum(b.size for b in blocks if b.first <= t <= b.last) for t in events), default=0)


def live_peak(blocks: list[Block]) -> int:
    """The op index at which live_bound is reached (the first, if several)."""
    events = sorted({b.first for b in blocks} | {b.last for b in blocks})
    peak = max(events, key=lambda t: (sum(b.size for b in blocks if b.first <= t <= b.last), -t), default=0)
    return max(peak, 0)   # -1 (the graph inputs, before op 0) is reported as op 0, where they are live too


def _place(blocks: list[Block], alignment: int, budget: int = 20000) -> None:
    """Greedy placement, then a search for a smaller arena between the live-set lower bound and it."""
    if not blocks:
        return
    best_size = _greedy_by_size(blocks)
    best = {i: b.offset for i, b in enumerate(blocks)}
    bound = live_bound(blocks)
    cap = bound
    while cap < best_size:
        found = _fit_under(blocks, cap, budget)
        if found is not None:
            best, best_size = found, max(blocks[i].offset + blocks[i].size for i in found)
            break
        cap += max(alignment, _align((best_size - bound) // 16, alignment))
    for i, b in enumerate(blocks):
        b.offset = best[i]


def check_plan(plan: MemoryPlan) -> None:
    """Assert no two blocks that are live at the same time share a byte (exhaustive, O(n^2))."""
    for i, a in enumerate(plan.blocks):
        for b in plan.blocks[i + 1:]:
            if a.overlaps(b) and a.offset < b.offset + b.size and b.offset < a.offset + a.size:
                raise AssertionError(f"memory plan overlap: {_what(a)} and {_what(b)}")


def _what(b: Block) -> str:
    return f"tensors {b.tensors}" if b.tensors else f"the scratch of op {b.scratch_op}"
