"""What `edgeimpro inspect` reports, as data: per-layer stats, totals, flash, RAM, TFLM arena, board fit.

The graph part needs only numpy and the flatbuffer reader; the TFLM arena is measured when tflite_micro
is installed and the model can run on TFLM's int8 path, and is otherwise skipped with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from edgeimpro.graph.validate import TFLM_OPS, validate_int8


@dataclass(frozen=True)
class InspectReport:
    model: str
    stats: GraphStats
    int8_error: str | None             # why the model cannot take the int8 TFLM path (None: it can)
    arena_x86_64: int | None           # TFLM arena measured on this host
    arena_32bit: int | None            # the 32-bit estimate from it
    arena_note: str | None             # why the arena was not measured
    board: BoardFit | None

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
            "board": self.board.to_dict() if self.board else None,
        }


def inspect_model(path: str | Path, board: Board | None = None, measure_arena: bool = True) -> InspectReport:
    """Analyze a .tflite (ModelError when it is not one). The int8-path check, the arena measurement and
    the board fit never raise: their outcome is in the report (use `require_fit` to turn a misfit into
    BoardFitError)."""
    graph = load_graph(path)
    stats = analyze(graph)
    try:
        validate_int8(graph, TFLM_OPS)
        int8_error = None
    except EdgeImproError as e:
        int8_error = str(e)
    arena = arena32 = None
    note: str | None = None
    if not measure_arena:
        note = "not measured (disabled)"
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
    fit = board_fit(stats, board, arena32) if board is not None else None
    return InspectReport(str(path), stats, int8_error, arena, arena32, note, fit)


def require_fit(report: InspectReport, board: Board) -> BoardFit:
    """BoardFitError (numbers, and the registry's boards where it would fit) when the report's model does
    not fit `board`."""
    return check_board_fit(report.stats, board, report.arena_32bit, alternatives=BOARDS.values())
