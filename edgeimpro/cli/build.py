"""`edgeimpro build --board NAME (--model model.tflite | --model-dir EXPORTED_DIR) -o BUILD_DIR`: firmware.elf,
.bin, .hex and a size report. With --model the AOT C is exported first, into BUILD_DIR/model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeimpro.boards.build import KERNEL_VARIANTS, TARGETS, build_firmware
from edgeimpro.boards.registry import BOARDS


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
                   help="int8 kernels: dsp (Arm DSP extension: SMLAD) or reference (plain C); default: dsp on "
                        "cores that have the extension (Cortex-M4, M7, M55)")
    p.add_argument("--no-layer-hook", action="store_true", help="compile out the per-layer hook (no LAYER dumps)")
    p.add_argument("--json", action="store_true", help="print the size report as JSON")


def run(args: argparse.Namespace) -> int:
    model_dir = args.model_dir
    if args.model is not None:
        from edgeimpro.codegen.aot import export_aot

        model_dir = args.output / "model"
        rep = export_aot(args.model, model_dir, measure_tflm=False)
        if not args.json:
            print(f"exported {args.model} to {model_dir}: arena {rep['arena_bytes']:,} B, "
                  f"weights {rep['weights_bytes']:,} B")
    result = build_firmware(args.board, model_dir, args.output, args.defines, target=args.target,
                            layer_hook=not args.no_layer_hook, kernels=args.kernels)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.summary())
        print(f"  also {result.bin.name}, {result.hex.name}, size.json in {result.out_dir}")
        if result.target == "qemu":
            print(f"run it: edgeimpro emulate --board {result.board} {result.out_dir}")
        else:
            print(f"flash it: edgeimpro flash --board {result.board} {result.elf}")
    return 0
