"""`edgeimpro flash --board NAME firmware.elf|BUILD_DIR`: program a real board through pyOCD (OpenOCD fallback)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeimpro.boards.flash import TOOLS, flash_firmware, pyocd_target
from edgeimpro.boards.registry import BOARDS


def add_parser(p: argparse.ArgumentParser) -> None:
    targets = sorted({t for b in BOARDS.values() if (t := pyocd_target(b))})
    p.epilog = ("pyOCD does not build in these boards' targets: install each device pack once, "
                + "; ".join(f"pyocd pack install {t}" for t in targets) + ".")
    p.add_argument("firmware", type=Path, help="firmware.elf, or the build folder holding it")
    p.add_argument("--board", required=True, choices=sorted(n for n, b in BOARDS.items() if b.flash_method),
                   help="the real board on the probe (emulated boards run with `edgeimpro emulate`)")
    p.add_argument("--tool", choices=TOOLS, default=None, help="flash tool (default: pyocd, else openocd)")
    p.add_argument("--probe", default=None, help="probe serial number / UID when several are connected")


def run(args: argparse.Namespace) -> int:
    result = flash_firmware(args.board, args.firmware, tool=args.tool, probe=args.probe,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"flashed {result.firmware} to {result.board} with {result.tool}")
    return 0
