"""Firmware build: an exported model folder (model.c/model.h) + the runtime + the app + a board -> firmware.elf.

`build_firmware()` writes a build folder holding `config.mk` and `gen/` (the board's facts from the registry)
and runs `make -f firmware/firmware.mk` there, so the same folder can be rebuilt by hand with `make`.
It reports flash and RAM used against the board's limits and raises BoardFitError when the model does not fit.
`build_host_firmware()` compiles the same app for the host (stdin/stdout as the UART) for tests and fuzzing.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeimpro import __version__
from edgeimpro.boards.registry import BOARDS, KIB, Board, get_board
from edgeimpro.errors import BoardFitError, DependencyError, EdgeImproError, UsageError
from edgeimpro.firmware import firmware_dir, runtime_dir
from edgeimpro.link.protocol import BuildTarget, CountKind

log = logging.getLogger(__name__)

CROSS = "arm-none-eabi-"
TARGETS = ("qemu", "hardware")
UART_DRIVERS = {"cmsdk": "cmsdk", "stm32-usart": "stm32_usart", "stm32-lpuart": "stm32_lpuart"}
DEFAULT_DEFINES = ("EIP_LAYER_HOOK",)
KERNEL_VARIANTS = ("reference", "dsp")
# Cores with the Arm DSP extension (SMLAD, SXTB16): the `dsp` kernels (runtime/kernels/arm_dsp/) run there.
DSP_CORES = frozenset({"cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85"})


@dataclass(frozen=True)
class Section:
    name: str
    address: int
    size: int
    in_flash: bool
    in_ram: bool


@dataclass
class BuildResult:
    board: str
    target: str                 # "qemu" or "hardware"
    out_dir: Path
    elf: Path
    bin: Path
    hex: Path
    flash_used: int             # .vectors + .text + .rodata + .ARM.exidx + .data's initial values
    flash_total: int
    ram_used: int               # .data + .bss (arena, link buffer) + .stack
    ram_total: int
    sections: dict[str, int] = field(default_factory=dict)
    model_dir: Path | None = None

    @property
    def flash_free(self) -> int:
        return self.flash_total - self.flash_used

    @property
    def ram_free(self) -> int:
        return self.ram_total - self.ram_used

    def summary(self) -> str:
        def pct(used: int, total: int) -> str:
            return f"{used:>9,} / {total:>9,} B ({100.0 * used / total:5.1f}%)"

        return (f"firmware {self.elf} ({self.board}, {self.target})\n"
                f"  flash {pct(self.flash_used, self.flash_total)}\n"
                f"  RAM   {pct(self.ram_used, self.ram_total)}")

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("out_dir", "elf", "bin", "hex", "model_dir"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DependencyError(
            f"{name} not found on PATH: the Arm GNU toolchain is needed to build firmware",
            hint="scripts/setup.sh installs it (Debian: apt-get install --no-install-recommends "
                 "gcc-arm-none-eabi libnewlib-arm-none-eabi make)")
    return path


def _check_model_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise UsageError(f"model folder {model_dir} does not exist",
                         hint="export one first: edgeimpro export model.tflite --target aot -o DIR")
    if not (model_dir / "model.h").is_file() or not list(model_dir.glob("*.c")):
        raise UsageError(f"{model_dir} holds no model.h and model.c",
                         hint="export one first: edgeimpro export model.tflite --target aot -o DIR")


def resolve_target(board: Board, target: str | None) -> str:
    if target is None:
        return "qemu" if board.qemu_machine else "hardware"
    if target not in TARGETS:
        raise UsageError(f"unknown build target {target!r}", hint="use qemu or hardware")
    if target == "qemu" and not board.qemu_machine:
        emulated = ", ".join(sorted(b.name for b in BOARDS.values() if b.qemu_machine))
        raise UsageError(f"board {board.name} has no QEMU model", hint=f"emulated boards: {emulated}")
    if target == "hardware" and not board.flash_method:
        raise UsageError(f"board {board.name} exists only in QEMU", hint="build with --target qemu")
    return target


def _uart(board: Board) -> tuple[str, int]:
    kind, _, base = board.uart.partition("@")
    if kind not in UART_DRIVERS or not base:
        raise UsageError(f"board {board.name}: no UART driver for {board.uart!r}",
                         hint="known UART kinds: " + ", ".join(UART_DRIVERS))
    return UART_DRIVERS[kind], int(base, 0)


def board_config_header(board: Board, target: str) -> str:
    """gen/eip_board_config.h: the registry record as C macros (boards stay data)."""
    _, uart_base = _uart(board)
    qemu = target == "qemu"
    kind = CountKind.INSTRUCTIONS if qemu else CountKind.CYCLES
    build_target = BuildTarget.QEMU if qemu else BuildTarget.HARDWARE
    return "\n".join([
        f"/* GENERATED by edgeimpro.boards.build from the board registry ({board.name}, {target}). */",
        "#ifndef EIP_BOARD_CONFIG_H",
        "#define EIP_BOARD_CONFIG_H",
        f'#define EIP_BOARD_NAME "{board.name}"',
        f'#define EIP_BOARD_CORE "{board.core}"',
        f"#define EIP_BOARD_CLOCK_HZ {board.clock_hz}u",
        f"#define EIP_BOARD_UART_BASE 0x{uart_base:08X}u",
        f"#define EIP_BOARD_UART_BAUD {board.uart_baud}u",
        f"#define EIP_BOARD_BUILD_TARGET_QEMU {int(qemu)}",
        f"#define EIP_BOARD_BUILD_TARGET {int(build_target)} /* eip_build_target_t */",
        f"#define EIP_BOARD_COUNT_KIND {int(kind)} /* eip_count_kind_t: {kind.name.lower()} */",
        f'#define EIP_FIRMWARE_VERSION "{__version__}"',
        "#endif",
        "",
    ])


def memory_ld(board: Board) -> str:
    return (f"/* GENERATED from the board registry ({board.name}): the real chip's limits. */\n"
            "MEMORY\n{\n"
            f"    FLASH (rx) : ORIGIN = 0x{board.flash_origin:08X}, LENGTH = {board.flash_bytes}\n"
            f"    RAM (rwx) : ORIGIN = 0x{board.ram_origin:08X}, LENGTH = {board.ram_bytes}\n"
            "}\n"
            f"EIP_STACK_BYTES = {board.stack_bytes};\n")


def resolve_kernels(board: Board, kernels: str | None) -> str:
    """The kernel variant to build: `dsp` by default on cores with the DSP extension, else `reference`."""
    if kernels is None:
        return "dsp" if board.core in DSP_CORES else "reference"
    if kernels not in KERNEL_VARIANTS:
        raise UsageError(f"unknown kernel variant {kernels!r}", hint="use " + " or ".join(KERNEL_VARIANTS))
    if kernels == "dsp" and board.core not in DSP_CORES:
        raise UsageError(f"board {board.name} ({board.core}) has no DSP extension for the dsp kernels",
                         hint="build with kernels='reference'")
    return kernels


def _config_mk(board: Board, target: str, model_dir: Path, defines: Sequence[str], kernels: str) -> str:
    uart_driver, _ = _uart(board)
    flags = " ".join(board.cpu_flags)
    defs = " ".join(f"-D{d}" for d in defines)
    return (f"# GENERATED by edgeimpro.boards.build ({board.name}, {target})\n"
            f"EIP_FIRMWARE_DIR := {firmware_dir()}\n"
            f"BOARD_DIR := {firmware_dir() / 'boards' / board.support_dir}\n"
            f"MODEL_DIR := {model_dir}\n"
            f"UART_DRIVER := {uart_driver}\n"
            f"COUNTER := {'systick' if target == 'qemu' else 'dwt'}\n"
            f"KERNELS := {kernels}\n"
            f"CPU_FLAGS := {flags}\n"
            f"DEFINES := {defs}\n"
            f"CROSS := {CROSS}\n")


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _parse_overflow(stderr: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"region `(\w+)' overflowed by (\d+) bytes", stderr)}


def _model_macro(model_dir: Path, name: str) -> int | None:
    m = re.search(rf"#define\s+{name}\s+\(?(\d+)u?\)?\s*$", (model_dir / "model.h").read_text(), re.M)
    return int(m.group(1)) if m else None


def _fit_error(board: Board, overflow: dict[str, int], model_dir: Path) -> BoardFitError:
    parts, fitting = [], []
    for region, extra in overflow.items():
        total = board.flash_bytes if region == "FLASH" else board.ram_bytes
        what = "flash" if region == "FLASH" else "RAM"
        parts.append(f"{what} {total + extra:,} B needed, board {board.name} has {total:,} B")
    arena = _model_macro(model_dir, "EIP_MODEL_ARENA_BYTES")
    weights = _model_macro(model_dir, "EIP_MODEL_WEIGHTS_BYTES")
    model = ", ".join(x for x in (f"arena {arena:,} B" if arena else "",
                                  f"weights {weights:,} B" if weights else "") if x)
    need_ram = board.ram_bytes + overflow.get("RAM", 0)
    need_flash = board.flash_bytes + overflow.get("FLASH", 0)
    fitting = sorted(b.name for b in BOARDS.values()
                     if b.ram_bytes >= need_ram and b.flash_bytes >= need_flash and b.name != board.name)
    hint = "shrink the model (a smaller --input-size, --alpha or fewer filters)"
    if fitting:
        hint += " or use a board that fits: " + ", ".join(fitting)
    return BoardFitError(f"model does not fit: {'; '.join(parts)}" + (f" (model: {model})" if model else ""),
                         hint=hint)


def read_sections(elf: Path) -> list[tuple[str, int, int, int]]:
    """(name, address, size, flags) of every section of a 32-bit little-endian ELF file."""
    data = elf.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1:
        raise EdgeImproError(f"{elf} is not a 32-bit ELF file")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    strtab_off = headers[shstrndx][4]

    def name(off: int) -> str:
        end = data.index(b"\0", strtab_off + off)
        return data[strtab_off + off:end].decode()

    return [(name(h[0]), h[3], h[5], h[2]) for h in headers]


SHF_ALLOC = 0x2


def section_usage(board: Board, elf: Path) -> tuple[int, int, dict[str, int]]:
    """Flash and RAM used by an ELF on this board, and the size of each allocated section."""
    flash = ram = 0
    sizes: dict[str, int] = {}
    for name, addr, size, flags in read_sections(elf):
        if not flags & SHF_ALLOC or size == 0:
            continue
        sizes[name] = size
        in_flash = board.flash_origin <= addr < board.flash_origin + board.flash_bytes
        in_ram = board.ram_origin <= addr < board.ram_origin + board.ram_bytes
        if in_flash:
            flash += size
        elif in_ram:
            ram += size
            if name == ".data":
                flash += size   # initial values live in flash
    return flash, ram, sizes


def build_firmware(board: str | Board, model_dir: str | Path, out_dir: str | Path,
                   defines: Iterable[str] = (), *, target: str | None = None, jobs: int | None = None,
                   layer_hook: bool = True, kernels: str | None = None) -> BuildResult:
    """Build firmware.elf/.bin/.hex for `board` from an exported model folder (model.c, model.h).

    `defines` are extra C macros ("NAME" or "NAME=VALUE"), e.g. "EIP_LINK_MAX_PAYLOAD=1024".
    `target` is "qemu" (semihosting exit on faults, instruction counts under -icount) or "hardware" (clock
    set-up, DWT cycle counts); by default "qemu" for boards QEMU emulates.
    `kernels` is "dsp" (runtime/kernels/arm_dsp/, the default on cores with the DSP extension) or
    "reference" (the plain C kernels, the default elsewhere).
    """
    b = board if isinstance(board, Board) else get_board(board)
    target = resolve_target(b, target)
    kernels = resolve_kernels(b, kernels)
    model_dir = Path(model_dir).resolve()
    out = Path(out_dir).resolve()
    _check_model_dir(model_dir)
    make = _require_tool("make")
    _require_tool(CROSS + "gcc")
    all_defines = [*(DEFAULT_DEFINES if layer_hook else ()), *defines]
    (out / "gen").mkdir(parents=True, exist_ok=True)
    _write_if_changed(out / "config.mk", _config_mk(b, target, model_dir, all_defines, kernels))
    _write_if_changed(out / "gen" / "eip_board_config.h", board_config_header(b, target))
    _write_if_changed(out / "gen" / "memory.ld", memory_ld(b))
    _write_if_changed(out / "Makefile", f"include {firmware_dir() / 'firmware.mk'}\n")
    cmd = [make, "-C", str(out), "-f", str(firmware_dir() / "firmware.mk"), f"-j{jobs or os.cpu_count() or 1}"]
    log.info("building %s firmware for %s in %s", target, b.name, out)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        overflow = _parse_overflow(proc.stderr)
        if overflow:
            raise _fit_error(b, overflow, model_dir)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise EdgeImproError(f"firmware build for {b.name} failed (make exit {proc.returncode}):\n{tail}",
                             hint=f"rerun by hand to see everything: make -C {out}")
    elf = out / "firmware.elf"
    flash, ram, sizes = section_usage(b, elf)
    result = BuildResult(board=b.name, target=target, out_dir=out, elf=elf, bin=out / "firmware.bin",
                         hex=out / "firmware.hex", flash_used=flash, flash_total=b.flash_bytes, ram_used=ram,
                         ram_total=b.ram_bytes, sections=sizes, model_dir=model_dir)
    (out / "size.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def build_host_firmware(model_dir: str | Path, out_dir: str | Path, defines: Iterable[str] = (), *,
                        sanitize: bool = True, layer_hook: bool = True) -> Path:
    """Compile the app + runtime + model for this machine, the UART being stdin/stdout; returns the binary.

    For tests: the protocol server and frame decoder run under ASan/UBSan (`sanitize`) and serve a
    `Device` through a pipe without QEMU.
    """
    model_dir = Path(model_dir).resolve()
    out = Path(out_dir).resolve()
    _check_model_dir(model_dir)
    cc = _require_tool(os.environ.get("CC", "gcc"))
    out.mkdir(parents=True, exist_ok=True)
    gen = out / "gen"
    gen.mkdir(exist_ok=True)
    host_board = Board(name="host", description="this machine (tests)", core="host", cpu_flags=(),
                       flash_bytes=0, ram_bytes=0, flash_origin=0, ram_origin=0, clock_hz=1_000_000_000,
                       uart="cmsdk@0x0", qemu_machine=None, flash_method=None, stack_bytes=0 * KIB)
    header = board_config_header(host_board, "hardware").replace(
        f"#define EIP_BOARD_COUNT_KIND {int(CountKind.CYCLES)}", f"#define EIP_BOARD_COUNT_KIND {int(CountKind.NONE)}")
    _write_if_changed(gen / "eip_board_config.h", header)
    fw = firmware_dir()
    srcs = [*sorted((fw / "app").glob("*.c")), *sorted((runtime_dir() / "src").glob("*.c")),
            *sorted((runtime_dir() / "kernels").glob("*.c")), *sorted(model_dir.glob("*.c")),
            fw / "boards" / "host" / "board.c"]
    flags = ["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fno-common",
             f"-I{gen}", f"-I{fw / 'app'}", f"-I{fw / 'boards' / 'common'}", f"-I{runtime_dir() / 'include'}",
             f"-I{model_dir}"]
    if sanitize:
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    all_defines = [*(DEFAULT_DEFINES if layer_hook else ()), *defines]
    flags += [f"-D{d}" for d in all_defines]
    binary = out / "eip-host-device"
    proc = subprocess.run([cc, *flags, *map(str, srcs), "-lm", "-o", str(binary)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise EdgeImproError(f"host build failed:\n{proc.stderr.strip()[-3000:]}")
    return binary
