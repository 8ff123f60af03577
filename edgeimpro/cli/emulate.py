"""`edgeimpro emulate --board qemu-m4 BUILD_DIR|firmware.elf [--port N]`: the firmware on QEMU, on a socket:// URL."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from edgeimpro.boards.registry import BOARDS
from edgeimpro.errors import UsageError
from edgeimpro.link.emulator import Emulator, resolve_firmware


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("firmware", type=Path, help="a build folder (from edgeimpro build) or a firmware.elf")
    p.add_argument("--board", choices=sorted(b.name for b in BOARDS.values() if b.qemu_machine),
                   help="emulated board (default: the one the build folder was built for)")
    p.add_argument("--port", type=int, default=None, help="TCP port of the serial line (default: a free one)")
    p.add_argument("--icount", action=argparse.BooleanOptionalAction, default=True,
                   help="deterministic instruction counting (-icount shift=0); --no-icount runs freely and "
                        "reports no meaningful counts")
    p.add_argument("--boot-timeout", type=float, default=15.0, help="seconds to wait for the firmware's HELLO")


def _board_of(firmware: Path) -> str:
    size = resolve_firmware(firmware).parent / "size.json"
    if size.is_file():
        return json.loads(size.read_text())["board"]
    raise UsageError(f"cannot tell which board {firmware} was built for", hint="give --board")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _interrupt)   # `kill PID` stops as cleanly as Ctrl-C
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:   # started in the background by a shell
        signal.signal(signal.SIGINT, _interrupt)
    board = args.board or _board_of(args.firmware)
    emu = Emulator(board, args.firmware, port=args.port, icount=args.icount, boot_timeout=args.boot_timeout)
    try:
        emu.start()
        info = emu.device.info()
        emu.release()   # the user's program connects next
        print(f"{info.board} ({info.core}, QEMU {emu.board.qemu_machine}) runs model {info.model_name!r} "
              f"sha256 {info.model_sha256[:16]}..., firmware {info.firmware_version}, protocol {info.protocol_version}")
        print(f"  inputs  {', '.join(f'{t.name}{list(t.shape)}' for t in info.inputs)}; "
              f"outputs {', '.join(f'{t.name}{list(t.shape)}' for t in info.outputs)}; arena {info.arena_bytes:,} B")
        print(f"  counts: {'instructions (-icount)' if args.icount else 'not meaningful (--no-icount)'}")
        print(emu.url, flush=True)
        print("Ctrl-C stops the emulator", file=sys.stderr, flush=True)
        code = emu.wait()
        print(emu.exit_summary(), file=sys.stderr)
        return 0 if code == 0 else 1
    except KeyboardInterrupt:
        print("stopping the emulator", file=sys.stderr)
        return 0
    finally:
        emu.close()
