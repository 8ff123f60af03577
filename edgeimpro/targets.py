"""The device side: a board on a serial URL, or an emulated board running firmware built for the model.

Firmware for `--emulate BOARD` is built once per (model sha256, board, firmware code) into the cache
(`$EDGEIMPRO_CACHE`, else `$XDG_CACHE_HOME/edgeimpro`, else `~/.cache/edgeimpro`), under `firmware/`:
the AOT export and the build folder. A file lock makes concurrent runs build it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from edgeimpro import __version__
from edgeimpro.cache import cache_root
from edgeimpro.errors import UsageError
from edgeimpro.link.device import Device, Timeouts, sha256_of

Status = Callable[[str], None]

# What the firmware is made of, besides the model: a change here rebuilds the cached firmware.
_CODE_PACKAGES = ("codegen", "boards", "firmware", "ops", "graph")   # ops: the params and plans the generator emits
_CODE_FILES = ("link/protocol.py",)


def firmware_code_hash() -> str:
    """Hash of the generator, build, firmware C and protocol sources (not of the model)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256(__version__.encode())
    files = [p for pkg in _CODE_PACKAGES for p in sorted((root / pkg).rglob("*"))] + [root / f for f in _CODE_FILES]
    for p in files:
        if p.is_file() and p.suffix in (".py", ".c", ".h", ".mk", ".ld", ".S", ".s") and "__pycache__" not in p.parts:
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def emulated_firmware(model: Path | str, board: str, *, defines: Iterable[str] = (), cache: Path | None = None,
                      status: Status | None = None, jobs: int = 2, patches: str | int = "auto") -> Path:
    """The build folder of firmware for `model` on `board` (target qemu), built on first use."""
    from edgeimpro.boards.build import board_fit_bytes, build_firmware
    from edgeimpro.boards.registry import get_board
    from edgeimpro.codegen.aot import export_aot

    b = get_board(board)
    if not b.qemu_machine:
        emulated = "the boards listed by `edgeimpro emulate --help`"
        raise UsageError(f"board {board} has no QEMU model: --emulate needs an emulated board",
                         hint=f"use --port URL for the real board, or --emulate one of {emulated}")
    defines = tuple(defines)
    sha = sha256_of(model)
    key = f"{b.name}-{sha[:16]}-{firmware_code_hash()}" + ("" if patches == "auto" else f"-patches{patches}")
    if defines:
        key += "-" + hashlib.sha256("\0".join(defines).encode()).hexdigest()[:8]
    folder = (cache or cache_root()) / "firmware" / key
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / ".complete").exists():
            return folder / "build"
        shutil.rmtree(folder, ignore_errors=True)
        if status:
            status(f"building firmware for {b.name} (cached in {folder})")
        export_aot(Path(model), folder / "model", measure_tflm=False, patches=patches, fit_bytes=board_fit_bytes(b))
        build_firmware(b, folder / "model", folder / "build", defines, target="qemu", jobs=jobs)
        (folder / ".complete").write_text(f"{sha}\n")
    return folder / "build"


def serial_baud(baud: int | None, board: str | None = None) -> int:
    """The rate to open --port at: `baud` if given, else the firmware's (the board's registry uart_baud)."""
    from edgeimpro.boards.registry import DEFAULT_UART_BAUD, get_board

    if baud is not None and baud <= 0:
        raise UsageError(f"--baud {baud} is not a baud rate", hint=f"the firmware's default is {DEFAULT_UART_BAUD}")
    if baud is not None:
        return baud
    return get_board(board).uart_baud if board else DEFAULT_UART_BAUD


@contextlib.contextmanager
def open_target(model: Path | str, *, port: str | None = None, emulate: str | None = None,
                timeouts: Timeouts | None = None, defines: Iterable[str] = (), cache: Path | None = None,
                status: Status | None = None, baudrate: int | None = None,
                patches: str | int = "auto") -> Iterator[Device]:
    """A Device holding `model`: the board on `port` (at `baudrate`, default serial_baud(None)), or
    `emulate` (a board name) started in QEMU, its firmware exported with `patches`."""
    if (port is None) == (emulate is None):
        raise UsageError("give exactly one of --port URL and --emulate BOARD")
    if port is not None:
        if status:
            status(f"connecting to {port}")
        with Device.open(port, model=model, timeouts=timeouts, baudrate=baudrate or serial_baud(None)) as dev:
            yield dev
        return
    from edgeimpro.link.emulator import Emulator

    assert emulate is not None
    build = emulated_firmware(model, emulate, defines=defines, cache=cache, status=status, patches=patches)
    if status:
        status(f"starting {emulate} in QEMU")
    with Emulator(emulate, build, timeouts=timeouts) as emu:
        assert emu.device is not None
        emu.device.check_model(model)
        yield emu.device
