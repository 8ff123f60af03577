"""Flash firmware to a real board through pyOCD, with OpenOCD as the fallback.

The library never prints: the tool's output lines go to a `progress` callback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeimpro.boards.registry import Board, get_board
from edgeimpro.errors import DependencyError, EdgeImproError, ExitCode, UsageError

TOOLS = ("pyocd", "openocd")


class FlashError(EdgeImproError):
    """The probe, the target or the programming step failed."""

    exit_code = ExitCode.FLASH


@dataclass(frozen=True)
class FlashResult:
    board: str
    firmware: Path
    tool: str
    command: tuple[str, ...]


def resolve_elf(path: str | Path) -> Path:
    p = Path(path)
    elf = p / "firmware.elf" if p.is_dir() else p
    if not elf.is_file():
        raise UsageError(f"no firmware at {elf}",
                         hint="build it first: edgeimpro build --board BOARD --target hardware ... -o BUILD_DIR")
    return elf


def _check_built_for(board: Board, elf: Path) -> None:
    size = elf.parent / "size.json"
    if not size.is_file():
        return
    try:
        built = json.loads(size.read_text())
    except ValueError:
        return
    if built.get("board") not in (None, board.name):
        raise UsageError(f"{elf} was built for {built['board']}, not {board.name}",
                         hint=f"rebuild: edgeimpro build --board {board.name} --target hardware ...")
    if built.get("target") == "qemu":
        raise UsageError(f"{elf} was built for QEMU (semihosting exit, no clock set-up): it would not run on "
                         f"a real {board.name}",
                         hint=f"rebuild: edgeimpro build --board {board.name} --target hardware ...")


def pyocd_target(board: Board) -> str:
    """The board's pyOCD target type (`pyocd:<target>` in the registry), "" if it has none."""
    return board.flash_method.split(":", 1)[1] if board.flash_method and board.flash_method.startswith("pyocd:") else ""


def pack_install_hint(board: Board) -> str:
    """pyOCD builds in neither stm32f405rg nor stm32l4r5zitx: their CMSIS device pack is installed once."""
    target = pyocd_target(board)
    return (f"pyOCD needs the device pack for {target}, once per machine: pyocd pack install {target}"
            if target else "")


def pyocd_command(board: Board, elf: Path, probe: str | None) -> list[str]:
    target = pyocd_target(board)
    exe = shutil.which("pyocd")
    cmd = [exe] if exe else [sys.executable, "-m", "pyocd"]
    cmd += ["flash", "--target", target, "--format", "elf"]
    if probe:
        cmd += ["--uid", probe]
    return cmd + [str(elf)]


def openocd_command(board: Board, elf: Path, probe: str | None) -> list[str]:
    cmd = [shutil.which("openocd") or "openocd", "-f", "interface/stlink.cfg"]
    if probe:
        cmd += ["-c", f"adapter serial {probe}"]
    return cmd + ["-f", board.openocd_config, "-c", f"program {elf} verify reset exit"]


def _available(tool: str) -> bool:
    if tool == "pyocd":
        if shutil.which("pyocd"):
            return True
        import importlib.util

        return importlib.util.find_spec("pyocd") is not None
    return shutil.which("openocd") is not None


def _diagnose(tool: str, board: Board, output: str) -> tuple[str, str]:
    low = output.lower()
    target = pyocd_target(board) or "?"
    no_probe = ("no connected debug probes", "no available debug probe", "unable to find a matching",
                "open failed", "error: libusb")
    if any(s in low for s in no_probe):
        return ("no debug probe found",
                "connect the board's ST-LINK USB port; on Linux install the probe's udev rules or run as root")
    if ("target type" in low and "not recognized" in low) or "unknown target" in low:
        return (f"{tool} does not know target {target} (it is not built into pyOCD)", pack_install_hint(board))
    if "idcode" in low or "wrong target" in low or "unexpected device id" in low:
        return (f"the connected chip is not a {board.name} ({target})",
                "check --board, or which board is plugged in (pyocd list)")
    if tool == "pyocd":
        return (f"{tool} failed", f"run the command by hand to see everything; if not done yet, "
                                  f"{pack_install_hint(board)}")
    return (f"{tool} failed", "run the command by hand to see everything")


def flash_firmware(board: str | Board, firmware: str | Path, *, tool: str | None = None, probe: str | None = None,
                   progress: Callable[[str], None] | None = None) -> FlashResult:
    """Programs `firmware` (an .elf or a build folder) into `board` and resets it."""
    b = board if isinstance(board, Board) else get_board(board)
    if not b.flash_method:
        raise UsageError(f"board {b.name} is emulated by QEMU: there is nothing to flash",
                         hint=f"run it with: edgeimpro emulate --board {b.name} BUILD_DIR")
    elf = resolve_elf(firmware)
    _check_built_for(b, elf)
    if tool is not None and tool not in TOOLS:
        raise UsageError(f"unknown flash tool {tool!r}", hint="use pyocd or openocd")
    candidates = [tool] if tool else [t for t in TOOLS if _available(t)]
    if not candidates or not _available(candidates[0]):
        raise DependencyError("neither pyOCD nor OpenOCD is installed" if not tool else f"{tool} is not installed",
                              hint="pip install pyocd (or apt-get install openocd)")
    chosen = candidates[0]
    if chosen == "openocd" and not b.openocd_config:
        raise UsageError(f"no OpenOCD configuration for board {b.name}", hint="use --tool pyocd")
    cmd = pyocd_command(b, elf, probe) if chosen == "pyocd" else openocd_command(b, elf, probe)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if progress is not None:
            progress(line.rstrip("\n"))
    code = proc.wait()
    if code != 0:
        what, hint = _diagnose(chosen, b, "".join(lines))
        tail = "".join(lines[-8:]).strip()
        raise FlashError(f"flashing {elf} to {b.name} failed: {what} ({chosen} exit {code})\n{tail}",
                         hint=f"{hint}; command: {' '.join(cmd)}")
    return FlashResult(b.name, elf, chosen, tuple(cmd))
