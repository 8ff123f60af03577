"""Per-layer statistics, the peak-RAM lower bound, a flash estimate and the board fit check.

Counting conventions (they reproduce the MLPerf Tiny figures: VWW 7.49 M MACs, ResNet-8 12.50 M, KWS 2.66 M):
  - MACs are multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV and
    BATCH_MATMUL. Pooling, element-wise and data-movement ops count 0 MACs.
  - Weights bytes are the bytes of an op's constant inputs (weights, bias, shape tensors); the totals count
    each constant tensor once even when several ops read it.
  - RAM lower bound: a tensor is live from the op that writes it (graph inputs: from the start) through
    its last reader (graph outputs: to the end); the bound is the largest sum of live activation bytes at
    any op. Every tensor is counted at its own size, RESHAPE output included: a RESHAPE could alias its
    input, but TFLM plans it as a separate buffer (its kernel copies when the two differ), so the bound
    is conservative the way TFLM is; a planner that aliases RESHAPE/SQUEEZE can need less where one sits
    at the peak (in the MLPerf Tiny models it does not). Kernel scratch buffers and TFLM's own
    bookkeeping are not included (that is the arena measured by `edgeimpro.references`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from edgeimpro.errors import BoardFitError
from edgeimpro.graph.model import Graph, Op
from edgeimpro.units import size_text

if TYPE_CHECKING:  # boards sit above the graph layer: only their records are read, never imported here
    from edgeimpro.boards.registry import Board

KIB = 1024

# Code besides the model in a TFLM firmware: measured 45.6-50.0 KB with reference kernels and
# 55.5-57.7 KB with CMSIS-NN on Cortex-M4 (DESIGN.md §7); 64 KiB covers both with a little room.
RUNTIME_CODE_ALLOWANCE = 64 * KIB
# RAM outside the tensor arena: stack, the interpreter and resolver objects, UART buffers, libc state.
# edgeimpro's own firmware measured 12,748 B besides the arena (an 8 KiB stack, 4,552 B of link buffers and
# state) on stm32f405 and 12,854 B on qemu-m4.
RUNTIME_RAM_ALLOWANCE = 13 * KIB

MAC_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL"})


@dataclass(frozen=True)
class LayerStats:
    index: int
    op: str
    input_shapes: list[list[int]]      # activation (non-constant) inputs
    output_shapes: list[list[int]]
    params: str                        # e.g. "3x3 s2 SAME relu"
    macs: int
    weight_bytes: int                  # constant inputs, bias included
    live_bytes: int                    # activation bytes that must be held while this op runs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GraphStats:
    layers: list[LayerStats]
    macs: int
    parameters: int                    # elements of the weights and biases of the MAC ops
    weight_bytes: int                  # every constant tensor once
    model_bytes: int                   # the .tflite file (what a TFLM firmware keeps in flash)
    ram_lower_bound: int
    ram_peak_op: int                   # op index where the lower bound is reached (-1: no ops)
    flash_estimate: int                # model_bytes + code_allowance
    code_allowance: int = RUNTIME_CODE_ALLOWANCE
    input_shapes: list[list[int]] = field(default_factory=list)
    output_shapes: list[list[int]] = field(default_factory=list)
    input_dtypes: list[str] = field(default_factory=list)
    output_dtypes: list[str] = field(default_factory=list)
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers"] = [layer.to_dict() for layer in self.layers]
        return d


def analyze(graph: Graph) -> GraphStats:
    """Per-layer stats and totals of a graph (no validation: any loadable graph is analyzed)."""
    live = live_bytes_per_op(graph)
    layers = [
        LayerStats(
            index=op.index,
            op=op.opcode,
            input_shapes=[list(t.shape) for t in op.input_tensors(graph) if t is not None and not t.is_constant],
            output_shapes=[list(t.shape) for t in op.output_tensors(graph)],
            params=op_params(graph, op),
            macs=op_macs(graph, op),
            weight_bytes=sum(t.nbytes for t in op.input_tensors(graph) if t is not None and t.is_constant),
            live_bytes=live[op.index],
        )
        for op in graph.ops
    ]
    consts = {i for op in graph.ops for i in op.inputs if i >= 0 and graph.tensors[i].is_constant}
    params = {i for op in graph.ops if op.opcode in MAC_OPS for i in op.inputs[1:]
              if i >= 0 and graph.tensors[i].is_constant}
    bound, peak_op = ram_lower_bound(graph)
    return GraphStats(
        layers=layers,
        macs=sum(layer.macs for layer in layers),
        parameters=sum(graph.tensors[i].size for i in params),
        weight_bytes=sum(graph.tensors[i].nbytes for i in consts),
        model_bytes=graph.size_bytes,
        ram_lower_bound=bound,
        ram_peak_op=peak_op,
        flash_estimate=flash_estimate(graph),
        input_shapes=[list(t.shape) for t in graph.input_tensors],
        output_shapes=[list(t.shape) for t in graph.output_tensors],
        input_dtypes=[t.dtype for t in graph.input_tensors],
        output_dtypes=[t.dtype for t in graph.output_tensors],
        sha256=graph.sha256,
    )


def flash_estimate(graph: Graph, code_allowance: int = RUNTIME_CODE_ALLOWANCE) -> int:
    """Flash a TFLM firmware needs: the whole .tflite (weights plus flatbuffer tables) + runtime code."""
    return graph.size_bytes + code_allowance


# ---------------------------------------------------------------------------------------------- RAM


def live_ranges(graph: Graph) -> dict[int, tuple[int, int]]:
    """Activation tensor index -> (first op, last op) during which its bytes must be held."""
    n = len(graph.ops)
    producers = graph.producers()
    consumers = graph.consumers()
    ranges: dict[int, tuple[int, int]] = {}
    for t in graph.activation_tensors():
        tensor = graph.tensors[t]
        if tensor.is_variable:
            ranges[t] = (0, max(n - 1, 0))
            continue
        first = 0 if t in graph.inputs or t not in producers else producers[t]
        last = max(consumers.get(t, [first]))
        if t in graph.outputs:
            last = n - 1
        ranges[t] = (first, max(first, last))
    return ranges


def live_bytes_per_op(graph: Graph) -> list[int]:
    """Activation bytes live while each op runs (inputs, outputs and everything held for later ops)."""
    live = [0] * len(graph.ops)
    for t, (first, last) in live_ranges(graph).items():
        size = graph.tensors[t].nbytes
        for i in range(first, last + 1):
            live[i] += size
    return live


def ram_lower_bound(graph: Graph) -> tuple[int, int]:
    """(bytes, op index): the largest set of activations live at once in the model's op order.

    No planner can do better without reordering ops or running them in place; TFLM's greedy planner
    often needs more (VWW: 73,728 B of activations against a 55,296 B bound).
    """
    live = live_bytes_per_op(graph)
    if not live:
        return sum(graph.tensors[t].nbytes for t in graph.activation_tensors()), -1
    peak = max(range(len(live)), key=lambda i: live[i])
    return live[peak], peak


# ---------------------------------------------------------------------------------------------- MACs


def op_macs(graph: Graph, op: Op) -> int:
    """Multiply-accumulates of one op (0 for ops that do no MACs)."""
    if op.opcode not in MAC_OPS or not op.outputs:
        return 0
    ins = op.input_tensors(graph)
    out = graph.tensors[op.outputs[0]]
    if op.opcode == "CONV_2D":
        w = ins[1]
        assert w is not None
        _, kh, kw, cin = w.shape               # [out_c, kh, kw, in_c / groups]
        return out.size * kh * kw * cin
    if op.opcode == "DEPTHWISE_CONV_2D":
        w = ins[1]
        assert w is not None
        _, kh, kw, _ = w.shape                 # [1, kh, kw, out_c]
        return out.size * kh * kw
    if op.opcode == "FULLY_CONNECTED":
        w = ins[1]
        assert w is not None
        return out.size * w.shape[-1]          # every output element is a dot product over in_features
    if op.opcode == "TRANSPOSE_CONV":
        w, x = ins[1], ins[2]                  # inputs: output_shape, weights [out_c, kh, kw, in_c], input
        assert w is not None and x is not None
        _, kh, kw, _ = w.shape
        return x.size * kh * kw * w.shape[0]   # each input element is scattered over kh*kw*out_c outputs
    if op.opcode == "BATCH_MATMUL":
        a = ins[0]
        assert a is not None
        adj_x = bool(op.options.get("adj_x", False))
        depth = a.shape[-2] if adj_x else a.shape[-1]
        return out.size * depth
    return 0


# ---------------------------------------------------------------------------------------------- params


def op_params(graph: Graph, op: Op) -> str:
    """Short human summary of an op's parameters, e.g. "3x3 s2 SAME relu" (each op declares its own in the
    op registry)."""
    from edgeimpro import ops

    parts = ops.describe(graph, op)
    act = op.options.get("activation")
    if act and act != "NONE":
        parts.append(act.lower())
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------- boards


@dataclass(frozen=True)
class BoardFit:
    board: str
    flash_needed: int
    flash_available: int
    ram_needed: int
    ram_available: int
    ram_basis: str                     # what ram_needed is made of

    @property
    def flash_margin(self) -> int:
        return self.flash_available - self.flash_needed

    @property
    def ram_margin(self) -> int:
        return self.ram_available - self.ram_needed

    @property
    def fits_flash(self) -> bool:
        return self.flash_margin >= 0

    @property
    def fits_ram(self) -> bool:
        return self.ram_margin >= 0

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_ram

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(flash_margin=self.flash_margin, ram_margin=self.ram_margin, fits=self.fits)
        return d


def board_fit(stats: GraphStats, board: Board, arena_bytes: int | None = None,
              ram_allowance: int = RUNTIME_RAM_ALLOWANCE, planned_arena: int | None = None) -> BoardFit:
    """Flash and RAM needed against a board's. RAM is edgeimpro's planned AOT arena when known
    (`planned_arena`: streamed layers and fused pools below the op-order bound), else the TFLM arena
    (`arena_bytes`, the 32-bit estimate), else the activation lower bound, plus `ram_allowance` for stack
    and runtime state."""
    if planned_arena is not None:
        ram, basis = planned_arena, (f"edgeimpro AOT arena {planned_arena:,} B + runtime {ram_allowance:,} B"
                                     + (f"; TFLM's arena would be {arena_bytes:,} B" if arena_bytes else ""))
    elif arena_bytes is not None:
        ram, basis = arena_bytes, f"TFLM arena {arena_bytes:,} B + runtime {ram_allowance:,} B"
    else:
        ram, basis = stats.ram_lower_bound, (f"activation lower bound {stats.ram_lower_bound:,} B "
                                             f"+ runtime {ram_allowance:,} B (TFLM arena not measured)")
    return BoardFit(
        board=board.name,
        flash_needed=stats.flash_estimate,
        flash_available=board.flash_bytes,
        ram_needed=ram + ram_allowance,
        ram_available=board.ram_bytes,
        ram_basis=basis,
    )


def check_board_fit(stats: GraphStats, board: Board, arena_bytes: int | None = None,
                    ram_allowance: int = RUNTIME_RAM_ALLOWANCE, alternatives: Iterable[Board] = (),
                    planned_arena: int | None = None) -> BoardFit:
    """`board_fit`, raising BoardFitError with the numbers and what would fit when it does not; the hint
    names those of `alternatives` (e.g. the board registry) where the model fits."""
    fit = board_fit(stats, board, arena_bytes, ram_allowance, planned_arena)
    if fit.fits:
        return fit
    short = []
    if fit.ram_margin < 0:
        short.append(f"{size_text(fit.ram_needed)} of RAM ({fit.ram_basis}), board {board.name} has "
                     f"{size_text(fit.ram_available)}: {size_text(-fit.ram_margin)} short")
    if fit.flash_margin < 0:
        short.append(f"{size_text(fit.flash_needed)} of flash (model {stats.model_bytes:,} B + runtime code "
                     f"{stats.code_allowance:,} B), board {board.name} has {size_text(fit.flash_available)}: "
                     f"{size_text(-fit.flash_margin)} short")
    bigger = [b.name for b in sorted(alternatives, key=lambda b: (b.ram_bytes, b.flash_bytes))
              if b.name != board.name and board_fit(stats, b, arena_bytes, ram_allowance, planned_arena).fits]
    hint = ("shrink the model: a smaller --input-size (activations grow with its square), a smaller --alpha "
            "or fewer filters")
    if fit.flash_margin < 0:
        hint += ", fewer or narrower layers (weights)"
    if bigger:
        hint += "; or use a board where it fits: " + ", ".join(bigger)
    raise BoardFitError("model needs " + "; and ".join(short), hint=hint)
