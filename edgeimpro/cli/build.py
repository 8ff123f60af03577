"""`edgeimpro build --board NAME (--model model.tflite | --model-dir EXPORTED_DIR) -o BUILD_DIR`: firmware.elf,
.bin, .hex and a size report. With --model the AOT C is exported first, into BUILD_DIR/model.

BUILD_DIR is written all or nothing, one build at a time, and only if it is new, empty or an earlier build."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from edgeimpro.boards.build import KERNEL_VARIANTS, TARGETS, build_firmware
from edgeimpro.boards.registry import BOARDS
from edgeimpro.errors import UsageError


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", required=True, choices=sorted(BOARDS), help="target board")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", type=Path, help="a full-int8 .tflite: exported to AOT C, then built")
    src.add_argument("--model-dir", type=Path,
                     help="folder with the exported model.c/model.h (edgeimpro export --target aot)")
    p.add_argument("-o", "--output", type=Path, required=True, help="build folder to write")
    p.add_argument("--target", choices=TARGETS, default=None,
                   help="qemu (emulated: instruction counts, semihosting exit) or hardware (clock set-up, "
                        "DWT cycle counts); default: qemu for boards QEMU emulates")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]",
                   help="extra C macro, e.g. -D EIP_LINK_MAX_PAYLOAD=1024 (repeatable)")
    p.add_argument("--kernels", choices=KERNEL_VARIANTS, default=None,
                   help="int8 kernels: mve (Helium vectors, Cortex-M55/M85), dsp (Arm DSP extension: SMLAD) or "
                        "reference (plain C); default: the best the board's core runs (mve on M55, dsp on M4/M7)")
    p.add_argument("--no-layer-hook", action="store_true", help="compile out the per-layer hook (no LAYER dumps)")
    p.add_argument("--perturb-layer", type=int, metavar="N",
                   help="the broken-firmware drill: corrupt layer N's output on purpose (the low bit of its first "
                        "byte flipped) to see `compare --layers` catch and name it; never for real use")
    p.add_argument("--patches", default="auto", metavar="auto|N|off",
                   help="--model: run the first stage in N row bands (export --target aot --patches); auto (default) "
                        "where that cuts the arena by more than 25%% or makes the model fit the board")
    p.add_argument("--json", action="store_true", help="print the size report as JSON")


def run(args: argparse.Namespace) -> int:
    if args.model is not None and not args.model.is_file():
        raise UsageError(f"model file not found: {args.model}", hint="give a full-int8 .tflite with --model")
    if args.model_dir is not None and args.model_dir.is_file():
        raise UsageError(f"--model-dir {args.model_dir} is a file", hint="give a .tflite with --model instead")
    source = args.model if args.model is not None else args.model_dir
    defines = list(args.defines)
    if args.perturb_layer is not None:
        defines.append(f"EIP_TEST_PERTURB_LAYER={_checked_layer(args.perturb_layer, args)}")
    result = build_firmware(args.board, source, args.output, defines, target=args.target,
                            layer_hook=not args.no_layer_hook, kernels=args.kernels, patches=args.patches)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        rep = result.model_export
        if rep is not None:
            print(f"exported {args.model} to {result.model_dir}: arena {rep['arena_bytes']:,} B, "
                  f"weights {rep['weights_bytes']:,} B")
            for warning in rep.get("warnings", []):
                print(f"warning: {warning}", file=sys.stderr)
        print(result.summary())
        print(f"  also {result.bin.name}, {result.hex.name}, size.json in {result.out_dir}")
        if args.perturb_layer is not None:
            print(f"WARNING: this firmware corrupts layer {args.perturb_layer}'s output on purpose "
                  "(--perturb-layer): for practising `edgeimpro compare --layers` only")
        if result.target == "qemu":
            print(f"run it: edgeimpro emulate --board {result.board} {shlex.quote(str(result.out_dir))}")
        else:
            print(f"flash it: edgeimpro flash --board {result.board} {shlex.quote(str(result.elf))}")
    return 0


def _checked_layer(layer: int, args: argparse.Namespace) -> int:
    """--perturb-layer names one of the model's layers (op indices, as `inspect` and `compare` number them)."""
    if args.model is not None:
        from edgeimpro.graph.loader import load_graph

        layers = len(load_graph(args.model).ops)
    else:
        report = args.model_dir / "aot_report.json"
        try:
            layers = int(json.loads(report.read_text())["layers"])
        except (OSError, ValueError, KeyError, TypeError):
            raise UsageError(f"--perturb-layer needs the layer count from {report}, which cannot be read",
                             hint="export the model again with `edgeimpro export --target aot`, or build "
                                  "with --model") from None
    if not 0 <= layer < layers:
        raise UsageError(f"--perturb-layer {layer} is not a layer of the model (it has layers 0 to {layers - 1})",
                         hint="`edgeimpro inspect MODEL` lists the layers with their numbers")
    return layer
