"""Firmware build: an exported model folder (model.c/model.h) + the runtime + the app + a board -> firmware.elf.

`build_firmware()` writes a build folder holding `Makefile`, `config.mk`, `gen/` (the board's facts from the
registry) and `src/` (symlinks to the firmware sources and the model folder, so make only ever sees safe
relative paths, whatever spaces or `#` the real paths hold), and runs `make` there; `make -C BUILD_DIR`
rebuilds by hand. The folder is written like an export: never over a folder edgeimpro did not build (the
marker `edgeimpro_build.json`), all or nothing (make runs in a hidden sibling seeded with the previous build,
so make stays incremental, which then replaces the folder), one build at a time (a lock file beside it).
It reports flash and RAM used against the board's limits and raises BoardFitError when the model does not fit.
`build_host_firmware()` compiles the same app for the host (stdin/stdout as the UART) for tests and fuzzing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeimpro import __version__
from edgeimpro.atomic import replace_dir
from edgeimpro.boards.registry import BOARDS, KIB, Board, get_board
from edgeimpro.errors import BoardFitError, DependencyError, EdgeImproError, UsageError
from edgeimpro.firmware import firmware_dir, runtime_dir
from edgeimpro.link.protocol import BuildTarget, CountKind

log = logging.getLogger(__name__)

CROSS = "arm-none-eabi-"
TARGETS = ("qemu", "hardware")
DEFAULT_DEFINES = ("EIP_LAYER_HOOK",)
KERNEL_VARIANTS = ("reference", "dsp", "mve")
BUILD_MARKER = "edgeimpro_build.json"   # what was built from what; marks the folder as edgeimpro's
# Names make and the shell take as they are: model source files and -D macros must match these.
SAFE_NAME = re.compile(r"[A-Za-z0-9_.+-]+")
SAFE_DEFINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(=[A-Za-z0-9_.+-]*)?")
# Cores with the Arm DSP extension (SMLAD, SXTB16): the `dsp` kernels (runtime/kernels/arm_dsp/) run there.


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
    code_parts: dict[str, int] = field(default_factory=dict)   # CODE_PARTS' names -> bytes of code (code_parts())
    model_dir: Path | None = None
    model_export: dict | None = None   # the AOT export report when built from a .tflite

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


def uart_drivers() -> list[str]:
    """The UART kinds the firmware has a driver for: boards/common/uart_<kind>.c (kind with '-' for '_')."""
    return sorted(p.stem[len("uart_"):].replace("_", "-") for p in (firmware_dir() / "boards" / "common").glob("uart_*.c"))


def _uart(board: Board) -> tuple[str, int]:
    """(driver file suffix, base address) of the board's UART: the C drivers are the one list of kinds."""
    kind, _, base = board.uart.partition("@")
    if kind not in uart_drivers() or not base:
        raise UsageError(f"board {board.name}: no UART driver for {board.uart!r}",
                         hint="known UART kinds: " + ", ".join(uart_drivers()))
    return kind.replace("-", "_"), int(base, 0)


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


def core_kernels(core: str) -> tuple[str, ...]:
    """The kernel variants a core runs, its default first: from codegen.package's one core table (imported
    when needed, so importing this module stays light)."""
    from edgeimpro.codegen.package import CORE_KERNELS, VARIANT_ALSO_RUNS

    best = CORE_KERNELS.get(core, "reference")
    return (best, *VARIANT_ALSO_RUNS[best])


def resolve_kernels(board: Board, kernels: str | None) -> str:
    """The kernel variant to build: by default the best the board's core runs (`mve` on Cortex-M55/M85, `dsp`
    on cores with the DSP extension, else `reference`)."""
    runs = core_kernels(board.core)
    if kernels is None:
        return runs[0]
    if kernels not in KERNEL_VARIANTS:
        raise UsageError(f"unknown kernel variant {kernels!r}", hint="use " + " or ".join(KERNEL_VARIANTS))
    if kernels not in runs:
        what = {"dsp": "the DSP extension", "mve": "Helium (MVE)"}[kernels]
        raise UsageError(f"board {board.name} ({board.core}) has no {what} for the {kernels} kernels",
                         hint="use " + " or ".join(f"--kernels {k}" for k in runs) + " (or leave it out: "
                              f"{runs[0]} is this core's default)")
    return kernels


def _config_mk(board: Board, target: str, model_rel: str, defines: Sequence[str], kernels: str,
               sources_id: str) -> str:
    """config.mk holds relative paths only (src/ links to the real folders): make cannot quote paths."""
    uart_driver, _ = _uart(board)
    flags = " ".join(board.cpu_flags)
    defs = " ".join(f"-D{d}" for d in defines)
    return (f"# GENERATED by edgeimpro.boards.build ({board.name}, {target})\n"
            "# which firmware and model folders src/ links to: a change rebuilds everything\n"
            f"SOURCES_ID := {sources_id}\n"
            "EIP_FIRMWARE_DIR := src/firmware\n"
            f"BOARD_DIR := src/firmware/boards/{board.support_dir}\n"
            f"MODEL_DIR := {model_rel}\n"
            f"UART_DRIVER := {uart_driver}\n"
            f"COUNTER := {'systick' if target == 'qemu' else 'dwt'}\n"
            f"KERNELS := {kernels}\n"
            f"CPU_FLAGS := {flags}\n"
            f"DEFINES := {defs}\n"
            f"CROSS := {CROSS}\n")


def check_defines(defines: Iterable[str]) -> list[str]:
    """-D macros as NAME or NAME=VALUE with a plain value: they land in config.mk and a shell command line."""
    out = []
    for d in defines:
        if not SAFE_DEFINE.fullmatch(d):
            raise UsageError(f"C macro {d!r} cannot be passed through make: use NAME or NAME=VALUE with a value "
                             "of letters, digits, '_', '.', '+' or '-'",
                             hint="for anything else, add a header to the model folder and #include it")
        out.append(d)
    return out


def _check_make_safe(folder: Path, what: str) -> None:
    """make cannot name a source file with a space, '#', '$', ':' or a quote, even through a symlink."""
    bad = sorted(p.name for p in folder.glob("*.c") if not SAFE_NAME.fullmatch(p.name))
    if bad:
        raise UsageError(f"{what} {folder} holds C files make cannot handle: {', '.join(map(repr, bad))}",
                         hint="rename them with letters, digits, '_', '.', '+' or '-' only")


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

# Who the firmware's code belongs to, by the object folder firmware.mk builds it in: what a user's own firmware
# links from an AOT export (the runtime, its kernels and the model's generated code), this project's serial
# protocol and board support, and the C library.
CODE_PARTS = {"runtime": ("obj/runtime/", "obj/kernels", "obj/model"), "firmware": ("obj/app/", "obj/common/",
                                                                                "obj/board/")}


def code_parts(map_file: Path) -> dict[str, int]:
    """Bytes of code (.text, .vectors, .ARM.exidx input sections) linked from each of CODE_PARTS, and
    "libraries" (libc, libgcc), read from the linker's map file (GNU ld: an input section's name, address,
    size and object on one line, or its name alone and the rest on the next)."""
    parts = dict.fromkeys([*CODE_PARTS, "libraries"], 0)
    text = map_file.read_text(errors="replace")
    start = text.find("Linker script and memory map")
    pending = None
    for line in text[start:].splitlines() if start >= 0 else ():
        m = re.match(r"^ (\.text\S*|\.vectors|\.ARM\.exidx\S*)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+))?\s*$", line)
        if m and m.group(4) is None:
            pending = m.group(1)
            continue
        if m is None and pending is not None:
            m2 = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)\s*$", line)
            pending = None
            if m2 is None:
                continue
            size, obj = int(m2.group(2), 16), m2.group(3)
        elif m is not None:
            size, obj = int(m.group(3), 16), m.group(4)
        else:
            continue
        part = next((name for name, prefixes in CODE_PARTS.items() if obj.startswith(prefixes)),
                    "libraries" if ".a(" in obj else None)
        if part is not None:
            parts[part] += size
    return parts


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


def check_build_dir(out: Path) -> None:
    """Refuse a file, or a non-empty folder that edgeimpro did not build (it would be replaced)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"build folder {out} is a file", hint="give a folder path with -o")
    if out.is_dir() and any(out.iterdir()) and not (out / BUILD_MARKER).is_file():
        raise UsageError(f"{out} is not empty and was not written by `edgeimpro build` (no {BUILD_MARKER})",
                         hint="give a new or empty folder with -o; edgeimpro replaces only its own build folders")


def lock_path(out: Path) -> Path:
    """The lock file beside a build folder (beside, because the folder itself is replaced)."""
    return out.parent / f".{out.name}.lock"


@contextlib.contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Holds the build folder's lock; a second build into the same folder is refused, naming the holder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(out), "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise UsageError(f"another edgeimpro build ({holder}) is writing {out} right now",
                             hint="wait until it ends, or build into another folder with -o") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()


def _tree_id(*paths: Path) -> str:
    return hashlib.sha256("\0".join(str(p) for p in paths).encode()).hexdigest()[:16]


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        else:
            link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)


def _sync_tree(new: Path, dst: Path) -> None:
    """Make `dst` hold `new`'s files, keeping unchanged files (and their times: make stays incremental)."""
    dst.mkdir(parents=True, exist_ok=True)
    names = {p.name for p in new.iterdir() if p.is_file()}
    for p in dst.iterdir():
        if p.name not in names:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    for name in names:
        if not (dst / name).is_file() or (dst / name).read_bytes() != (new / name).read_bytes():
            os.replace(new / name, dst / name)
    shutil.rmtree(new)


def _model_sha(model_dir: Path) -> str | None:
    m = re.search(r'#define\s+EIP_MODEL_SHA256\s+"([0-9a-fA-F]{64})"', (model_dir / "model.h").read_text())
    return m.group(1).lower() if m else None


def board_fit_bytes(board: Board) -> int:
    """The RAM a board leaves the arena: its RAM less the firmware's stack, buffers and state."""
    from edgeimpro.graph.analysis import RUNTIME_RAM_ALLOWANCE

    return board.ram_bytes - RUNTIME_RAM_ALLOWANCE


def build_firmware(board: str | Board, model_dir: str | Path, out_dir: str | Path,
                   defines: Iterable[str] = (), *, target: str | None = None, jobs: int | None = None,
                   layer_hook: bool = True, kernels: str | None = None, patches: str | int = "auto") -> BuildResult:
    """Build firmware.elf/.bin/.hex for `board` from an exported model folder (model.c, model.h) or a
    full-int8 .tflite (exported to AOT C into OUT/model first).

    `defines` are extra C macros ("NAME" or "NAME=VALUE"), e.g. "EIP_LINK_MAX_PAYLOAD=1024".
    `target` is "qemu" (semihosting exit on faults, instruction counts under -icount) or "hardware" (clock
    set-up, DWT cycle counts); by default "qemu" for boards QEMU emulates.
    `kernels` is "mve" (runtime/kernels/arm_mve/ then arm_dsp/, the default on Cortex-M55/M85), "dsp"
    (runtime/kernels/arm_dsp/, the default on other cores with the DSP extension) or "reference" (the plain C
    kernels, the default elsewhere).
    `patches` (a .tflite only): export_aot's, `auto` also where patches make the model fit the board.
    `out_dir` must be new, empty or an earlier build folder; on any failure it is left as it was.
    """
    b = board if isinstance(board, Board) else get_board(board)
    target = resolve_target(b, target)
    kernels = resolve_kernels(b, kernels)
    model = Path(model_dir).resolve()
    out = Path(out_dir).absolute()
    from_tflite = model.is_file()
    if not from_tflite:
        _check_model_dir(model)
        _check_make_safe(model, "model folder")
        if model == out or out in model.parents:
            raise UsageError(f"the model folder {model} is inside the build folder {out}, which the build replaces",
                             hint="export the model to a folder of its own, or build from the .tflite (--model)")
    make = _require_tool("make")
    _require_tool(CROSS + "gcc")
    all_defines = check_defines([*(DEFAULT_DEFINES if layer_hook else ()), *defines])
    fw = firmware_dir()
    check_build_dir(out)   # before the lock, so that a refusal leaves nothing behind; again under it
    with build_lock(out):
        check_build_dir(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        try:
            mask = os.umask(0)
            os.umask(mask)
            tmp.chmod(0o777 & ~mask)                 # mkdtemp makes 0700; the result is an ordinary folder
            if (out / BUILD_MARKER).is_file():   # seeded with the previous build: make rebuilds what changed
                shutil.copytree(out, tmp, symlinks=True, dirs_exist_ok=True)
                (tmp / BUILD_MARKER).unlink()
            export_report = None
            if from_tflite:
                from edgeimpro.codegen.aot import export_aot

                export_report = export_aot(model, tmp / ".model.new", measure_tflm=False, patches=patches,
                                           fit_bytes=board_fit_bytes(b))
                _sync_tree(tmp / ".model.new", tmp / "model")
                model_rel, model_src = "model", tmp / "model"
                with contextlib.suppress(FileNotFoundError):
                    (tmp / "src" / "model").unlink()
            else:
                _link(tmp / "src" / "model", model)
                model_rel, model_src = "src/model", model
                if (tmp / "model").is_dir():
                    shutil.rmtree(tmp / "model")   # a model exported by an earlier build from a .tflite
            _link(tmp / "src" / "firmware", fw)
            (tmp / "gen").mkdir(exist_ok=True)
            sources_id = _tree_id(fw, model if not from_tflite else Path("model"))
            _write_if_changed(tmp / "config.mk", _config_mk(b, target, model_rel, all_defines, kernels, sources_id))
            _write_if_changed(tmp / "gen" / "eip_board_config.h", board_config_header(b, target))
            _write_if_changed(tmp / "gen" / "memory.ld", memory_ld(b))
            _write_if_changed(tmp / "Makefile", "include src/firmware/firmware.mk\n")
            cmd = [make, "-C", str(tmp), f"-j{jobs or os.cpu_count() or 1}"]
            log.info("building %s firmware for %s in %s", target, b.name, out)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                overflow = _parse_overflow(proc.stderr)
                if overflow:
                    raise _fit_error(b, overflow, model_src)
                tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
                raise EdgeImproError(f"firmware build for {b.name} failed (make exit {proc.returncode}):\n{tail}",
                                     hint=f"{out} was left as it was; fix the error above and build again")
            flash, ram, sizes = section_usage(b, tmp / "firmware.elf")
            result = BuildResult(board=b.name, target=target, out_dir=out, elf=out / "firmware.elf",
                                 bin=out / "firmware.bin", hex=out / "firmware.hex", flash_used=flash,
                                 flash_total=b.flash_bytes, ram_used=ram, ram_total=b.ram_bytes, sections=sizes,
                                 code_parts=code_parts(tmp / "firmware.map"), model_dir=out / "model" if from_tflite else model, model_export=export_report)
            (tmp / "size.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
            marker = {"format": "edgeimpro-build", "edgeimpro": __version__, "board": b.name, "target": target,
                      "kernels": kernels, "defines": all_defines, "model": str(model),
                      "model_sha256": _model_sha(model_src)}
            (tmp / BUILD_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            replace_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return result


def build_host_firmware(model_dir: str | Path, out_dir: str | Path, defines: Iterable[str] = (), *,
                        sanitize: bool = True, layer_hook: bool = True, harness: Path | None = None) -> Path:
    """Compile the app + runtime + model for this machine, the UART being stdin/stdout; returns the binary.

    For tests: the protocol server and frame decoder run under ASan/UBSan (`sanitize`) and serve a
    `Device` through a pipe without QEMU. `harness` (a C file with its own main() and board functions, e.g.
    tests/c/frame_fuzz.c) replaces the app's main.c and the host board. Paths go to the compiler as
    arguments, never through a shell or make: any characters are fine.
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
    app = sorted(p for p in (fw / "app").glob("*.c") if harness is None or p.name != "main.c")
    board = [Path(harness).resolve()] if harness is not None else [fw / "boards" / "host" / "board.c"]
    srcs = [*app, *sorted((runtime_dir() / "src").glob("*.c")), *sorted((runtime_dir() / "kernels").glob("*.c")),
            *sorted(model_dir.glob("*.c")), *board]
    flags = ["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fno-common",
             f"-I{gen}", f"-I{fw / 'app'}", f"-I{fw / 'boards' / 'common'}", f"-I{runtime_dir() / 'include'}",
             f"-I{model_dir}"]
    if sanitize:
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    all_defines = [*(DEFAULT_DEFINES if layer_hook else ()), *defines]
    flags += [f"-D{d}" for d in all_defines]
    binary = out / ("eip-host-device" if harness is None else Path(harness).stem)
    tmp = binary.with_name(f".{binary.name}.partial")
    proc = subprocess.run([cc, *flags, *map(str, srcs), "-lm", "-o", str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise EdgeImproError(f"host build failed:\n{proc.stderr.strip()[-3000:]}",
                             hint="the app, runtime or model code does not compile for this machine")
    os.replace(tmp, binary)   # a failed build never leaves a half-written binary
    return binary
