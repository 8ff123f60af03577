"""`edgeimpro build --board NAME --model-dir EXPORTED_DIR -o BUILD_DIR`: firmware.elf/.bin/.hex and a size report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeimpro.boards.build import TARGETS, build_firmware
from edgeimpro.boards.registry import BOARDS


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", required=True, choices=sorted(BOARDS), help="target board")
    p.add_argument("--model-dir", type=Path, required=True,
                   help="folder with the exported model.c/model.h (edgeimpro export --target aot)")
    p.add_argument("-o", "--output", type=Path, required=True, help="build folder to write")
    p.add_argument("--target", choices=TARGETS, default=None,
                   help="qemu (emulated: instruction counts, semihosting exit) or hardware (clock set-up, "
                        "DWT cycle counts); default: qemu for boards QEMU emulates")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]",
                   help="extra C macro, e.g. -D EIP_LINK_MAX_PAYLOAD=1024 (repeatable)")
    p.add_argument("--no-layer-hook", action="store_true", help="compile out the per-layer hook (no LAYER dumps)")
    p.add_argument("--json", action="store_true", help="print the size report as JSON")


def run(args: argparse.Namespace) -> int:
    result = build_firmware(args.board, args.model_dir, args.output, args.defines, target=args.target,
                            layer_hook=not args.no_layer_hook)
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
