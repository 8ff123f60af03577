"""`edgeimpro inspect model.tflite [--board NAME] [--json]`: per-layer table, totals, flash, RAM, fit."""

from __future__ import annotations

import argparse
import json
import sys

from edgeimpro.boards.registry import BOARDS, get_board
from edgeimpro.inspect import InspectReport, inspect_model, require_fit


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a .tflite file")
    parser.add_argument("--board", choices=sorted(BOARDS), help="check flash and RAM against this board")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-arena", action="store_true", help="skip the TFLM arena measurement")


def run(args: argparse.Namespace) -> int:
    board = get_board(args.board) if args.board else None
    report = inspect_model(args.model, board=board, measure_arena=not args.no_arena)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_report(report))
    if board is not None:
        require_fit(report, board)   # BoardFitError -> exit code 5 with the numbers and a hint
    return 0


def format_report(r: InspectReport) -> str:
    s = r.stats
    rows = [("#", "op", "input", "output", "params", "MACs", "weights", "live RAM")]
    for layer in s.layers:
        rows.append((str(layer.index), layer.op, _shapes(layer.input_shapes), _shapes(layer.output_shapes),
                     layer.params, f"{layer.macs:,}", f"{layer.weight_bytes:,}", f"{layer.live_bytes:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {0, 5, 6, 7}
    lines = [f"model {r.model}  ({s.model_bytes:,} B, sha256 {s.sha256[:16]}...)", ""]
    for k, row in enumerate(rows):
        lines.append("  ".join(c.rjust(w) if i in right else c.ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [
        "",
        f"MACs              {s.macs:,} ({s.macs / 1e6:.2f} M)",
        f"parameters        {s.parameters:,} ({s.weight_bytes:,} B of constants)",
        f"flash estimate    {s.flash_estimate:,} B (model {s.model_bytes:,} B + runtime code "
        f"{s.code_allowance:,} B)",
        f"RAM lower bound   {s.ram_lower_bound:,} B of activations live at once (at op {s.ram_peak_op}): the "
        "op-order bound, every layer holding its whole input and output",
    ]
    if r.plan is not None:
        p = r.plan
        how = [f"{len(p.streamed_layers)} layers write their output over input they have read"] if p.streamed_layers else []
        how += [f"{len(p.fused_layers)} pipelines run band by band (layers "
                + ", ".join(f"{c[0]}..{c[-1]}" for c in p.fused_layers) + ")"] if p.fused_layers else []
        lines.append(f"AOT arena         {p.arena:,} B planned = {p.arena / p.op_order_bound:.3f} x the op-order "
                     f"bound ({p.op_order_bound:,} B, kernel scratch included)" + (f": {'; '.join(how)}" if how else ""))
    else:
        lines.append(f"AOT arena         none: {r.plan_note}")
    if r.arena_x86_64 is not None:
        lines.append(f"TFLM arena        {r.arena_x86_64:,} B measured (x86-64), "
                     f"about {r.arena_32bit:,} B on a 32-bit MCU")
    else:
        lines.append(f"TFLM arena        {r.arena_note}")
    if r.npu is not None:
        n = r.npu
        lines += [f"Ethos-U NPU       {len(n.ops)} NPU op(s) (Vela's custom op ethos-u): command stream "
                  f"{n.command_stream_bytes:,} B, NPU weights {n.flash_bytes:,} B, scratch {n.scratch_bytes:,} B"
                  + (f"; {len(n.cpu_ops)} op(s) left to the CPU" if n.cpu_ops else ""),
                  f"runs on           {n.runs_on}"]
    else:
        lines.append("int8 TFLM path    " + ("ok" if r.int8_error is None else "NO: " + r.int8_error))
    if r.board is not None:
        b = r.board
        verdict = "fits" if b.fits else "DOES NOT FIT"
        lines += [
            f"board {b.board}: {verdict}",
            f"  flash  {b.flash_needed:>10,} B of {b.flash_available:>10,} B  margin {b.flash_margin:>+11,} B",
            f"  RAM    {b.ram_needed:>10,} B of {b.ram_available:>10,} B  margin {b.ram_margin:>+11,} B",
            f"         ({b.ram_basis})",
        ]
    return "\n".join(lines) + "\n"


def _shapes(shapes: list[list[int]]) -> str:
    return ", ".join("x".join(map(str, sh)) for sh in shapes)
