"""What `edgeimpro inspect` reports, as data: per-layer stats, totals, flash, RAM, TFLM arena, board fit.

The graph part needs only numpy and the flatbuffer reader; the TFLM arena is measured when tflite_micro
is installed and the model can run on TFLM's int8 path, and is otherwise skipped with a note.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeimpro.boards.registry import BOARDS, Board
from edgeimpro.errors import DependencyError, EdgeImproError
from edgeimpro.graph.analysis import (
    RUNTIME_RAM_ALLOWANCE,
    BoardFit,
    GraphStats,
    analyze,
    board_fit,
    check_board_fit,
)
from edgeimpro.graph.loader import load_graph
from edgeimpro.graph.model import Graph
from edgeimpro.graph.validate import TFLM_OPS, validate_int8

ETHOS_U_OP = "CUSTOM:ethos-u"     # what Vela turns the NPU-compiled part of a model into
ETHOS_U_RUNS_ON = ("an Arm Ethos-U NPU (Corstone-300/310, Alif Ensemble, ...) through TFLite Micro's ethos-u "
                   "kernel (TFLM built for the NPU with its Ethos-U driver); not runnable by edgeimpro's AOT "
                   "runtime, by tflite_micro on this host or by a TFLM build for the CPU alone")


@dataclass(frozen=True)
class NpuInfo:
    """A model compiled by Vela for an Arm Ethos-U NPU."""
    kind: str                         # "ethos-u"
    ops: list[int]                    # the NPU ops (each runs one command stream)
    cpu_ops: list[int]                # ops left to the CPU
    command_stream_bytes: int
    flash_bytes: int                  # weights and biases encoded for the NPU
    scratch_bytes: int                # scratch and fast scratch, in the arena
    runs_on: str

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def find_npu(graph: Graph) -> NpuInfo | None:
    """The Ethos-U part of a Vela model (None for an ordinary model). Vela's op takes the command stream,
    the flash (weights), the scratch and fast scratch, then the real inputs."""
    npu = [op for op in graph.ops if op.opcode == ETHOS_U_OP]
    if not npu:
        return None

    def size(op_inputs: list[int], k: int) -> int:
        return graph.tensors[op_inputs[k]].nbytes if len(op_inputs) > k and op_inputs[k] >= 0 else 0

    return NpuInfo(kind="ethos-u", ops=[op.index for op in npu],
                   cpu_ops=[op.index for op in graph.ops if op.opcode != ETHOS_U_OP],
                   command_stream_bytes=sum(size(op.inputs, 0) for op in npu),
                   flash_bytes=sum(size(op.inputs, 1) for op in npu),
                   scratch_bytes=sum(size(op.inputs, 2) + size(op.inputs, 3) for op in npu),
                   runs_on=ETHOS_U_RUNS_ON)


@dataclass(frozen=True)
class PlannedArena:
    """The AOT runtime's arena for the model (codegen.aot.plan_layers) and the bounds it is measured against."""
    arena: int                   # the planned arena: what the firmware reserves
    op_order_bound: int          # every layer holding its whole input and output (and its scratch)
    streamed_bound: int          # the same with streamed layers counted as the bytes they span
    streamed_layers: list[int]   # layers writing their output over input they have read
    fused_layers: list[list[int]]   # pipelines: a conv and its pool, or a patched first stage, run band by band

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def planned_arena(graph: Graph) -> PlannedArena:
    """The AOT plan's figures (UnsupportedOpError / ModelError where the AOT runtime cannot run the model)."""
    from edgeimpro.codegen.aot import plan_layers
    from edgeimpro.graph.validate import check_int8, check_single_subgraph, check_static_shapes

    check_single_subgraph(graph)
    check_int8(graph)
    check_static_shapes(graph)
    plan, _ = plan_layers(graph, patches="auto")   # what export --target aot plans by default
    return PlannedArena(plan.arena_bytes, plan.lower_bound, plan.streamed_bound,
                        [p.op for p in plan.streams if p.lag is not None],
                        [list(chain) for chain in plan.pipelines])


@dataclass(frozen=True)
class InspectReport:
    model: str
    stats: GraphStats
    int8_error: str | None             # why the model cannot take the int8 TFLM path (None: it can)
    arena_x86_64: int | None           # TFLM arena measured on this host
    arena_32bit: int | None            # the 32-bit estimate from it
    arena_note: str | None             # why the arena was not measured
    board: BoardFit | None
    npu: NpuInfo | None = None         # a Vela model for an Arm Ethos-U NPU
    plan: PlannedArena | None = None   # edgeimpro's AOT memory plan (None: the AOT runtime cannot run it)
    plan_note: str | None = None       # why there is no plan

    def to_dict(self) -> dict[str, Any]:
        s = self.stats
        return {
            "model": {"path": self.model, "sha256": s.sha256, "bytes": s.model_bytes,
                      "inputs": [{"shape": sh, "dtype": dt} for sh, dt in zip(s.input_shapes, s.input_dtypes, strict=True)],
                      "outputs": [{"shape": sh, "dtype": dt} for sh, dt in zip(s.output_shapes, s.output_dtypes, strict=True)]},
            "int8": {"ok": self.int8_error is None, "error": self.int8_error},
            "layers": [layer.to_dict() for layer in s.layers],
            "totals": {"macs": s.macs, "parameters": s.parameters, "weight_bytes": s.weight_bytes,
                       "ops": len(s.layers)},
            "flash": {"estimate": s.flash_estimate, "model_bytes": s.model_bytes,
                      "runtime_code_allowance": s.code_allowance},
            "ram": {"lower_bound": s.ram_lower_bound, "peak_op": s.ram_peak_op,
                    "tflm_arena_x86_64": self.arena_x86_64, "tflm_arena_32bit": self.arena_32bit,
                    "tflm_arena_note": self.arena_note, "runtime_allowance": RUNTIME_RAM_ALLOWANCE},
            "aot_plan": self.plan.to_dict() if self.plan else {"note": self.plan_note},
            "board": self.board.to_dict() if self.board else None,
            "npu": self.npu.to_dict() if self.npu else None,
        }


def inspect_model(path: str | Path, board: Board | None = None, measure_arena: bool = True) -> InspectReport:
    """Analyze a .tflite (ModelError when it is not one). The int8-path check, the arena measurement and
    the board fit never raise: their outcome is in the report (use `require_fit` to turn a misfit into
    BoardFitError)."""
    graph = load_graph(path)
    stats = analyze(graph)
    npu = find_npu(graph)
    int8_error: str | None = None
    if npu is not None:   # not a CPU model gone wrong: nothing to convert differently
        int8_error = f"a Vela model for an Arm Ethos-U NPU: runs on {npu.runs_on}"
    else:
        try:
            validate_int8(graph, TFLM_OPS)
        except EdgeImproError as e:
            int8_error = str(e)
    arena = arena32 = None
    note: str | None = None
    if not measure_arena:
        note = "not measured (disabled)"
    elif npu is not None:
        note = "not measured: the model needs TFLM's ethos-u kernel and an Ethos-U NPU"
    elif int8_error is not None:
        note = "not measured: the model cannot run on TFLM's int8 path (see int8.error)"
    else:
        from edgeimpro.references import measure_tflm_arena  # imports tflite_micro only when called
        try:
            m = measure_tflm_arena(Path(path))
            arena, arena32 = m.total, m.estimate_32bit
        except DependencyError:
            note = "not measured: tflite_micro is not installed (pip install --pre tflite-micro)"
        except EdgeImproError as e:
            note = f"not measured: {e.message}"
    plan: PlannedArena | None = None
    plan_note: str | None = None
    if npu is not None:
        plan_note = "the model runs on an Ethos-U NPU"
    else:
        try:
            plan = planned_arena(graph)
        except EdgeImproError as e:
            plan_note = f"the AOT runtime cannot run it: {e.message}"
    fit = board_fit(stats, board, arena32, planned_arena=plan.arena if plan else None) if board is not None else None
    return InspectReport(str(path), stats, int8_error, arena, arena32, note, fit, npu, plan, plan_note)


def require_fit(report: InspectReport, board: Board) -> BoardFit:
    """BoardFitError (numbers, and the registry's boards where it would fit) when the report's model does
    not fit `board`."""
    return check_board_fit(report.stats, board, report.arena_32bit, alternatives=BOARDS.values(),
                           planned_arena=report.plan.arena if report.plan else None)
