"""`edgeimpro export model.tflite --target TARGET -o OUT_DIR`: one function per target."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def _tflm(args: argparse.Namespace) -> int:
    from edgeimpro.codegen.tflm import export_tflm

    result = export_tflm(args.model, args.output, layout=args.layout, arena_size=args.arena_size)
    print(f"TFLite Micro export ({result.layout} layout) in {result.out_dir}:")
    for f in result.files:
        print(f"  {f.relative_to(result.out_dir)}")
    print(f"ops ({len(result.ops)}): " + ", ".join(method + "()" for _, method in result.ops))
    print(f"arena: {result.arena.size:,} B ({result.arena.basis})")
    print(f"labels: {', '.join(result.labels) if result.labels else 'none (no model.json beside the model)'}")
    return 0


def _aot(args: argparse.Namespace) -> int:
    from edgeimpro.codegen.aot import export_aot

    rep = export_aot(args.model, args.output, measure_tflm=not args.no_tflm_arena)
    print(f"AOT C export in {args.output}: model.c, model.h, aot_report.json ({rep['layers']} layers)")
    print(f"  arena            {rep['arena_bytes']:>9,} B  (static memory plan)")
    print(f"  weights          {rep['weights_bytes']:>9,} B  (const, flash)")
    print(f"  RAM lower bound  {rep['ram_lower_bound']:>9,} B  -> arena / bound = {rep['arena_vs_lower_bound']:.3f}")
    if rep["tflm_arena_bytes_32bit"]:
        print(f"  TFLM arena       {rep['tflm_arena_bytes_32bit']:>9,} B  (32-bit estimate; "
              f"{rep['tflm_arena_bytes_64bit']:,} B measured on this 64-bit host) "
              f"-> arena / TFLM = {rep['arena_vs_tflm_32bit']:.3f}")
    else:
        print(f"  TFLM arena       {rep['tflm_arena_note']}")
    for warning in rep["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


# target -> function(args) -> exit code. Targets add their own options in add_parser.
TARGETS: dict[str, Callable[[argparse.Namespace], int]] = {"tflm": _tflm, "aot": _aot}


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a full-int8 .tflite file")
    parser.add_argument("--target", choices=sorted(TARGETS), default="tflm", help="what to emit (default tflm)")
    parser.add_argument("-o", "--output", required=True, help="output folder (created; replaced if it holds "
                                                              "an earlier edgeimpro export)")
    parser.add_argument("--layout", choices=("plain", "arduino"), default="plain",
                        help="tflm: plain files, or an Arduino library folder")
    parser.add_argument("--arena-size", type=int, default=None,
                        help="tflm: tensor arena in bytes (default: measured with tflite_micro + margin)")
    parser.add_argument("--no-tflm-arena", action="store_true",
                        help="aot: skip measuring TFLM's arena for comparison")


def run(args: argparse.Namespace) -> int:
    return TARGETS[args.target](args)
