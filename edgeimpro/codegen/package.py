"""A self-contained AOT export: the generated model, exactly the runtime sources it needs, and the build
files of one project layout, so the folder drops into a CMake, PlatformIO, Arduino or Zephyr project.

Folder (code at the root; under src/ for the Arduino layout, which requires it):
  model.c, NAME.h        the model; NAME.h is the API with every name prefixed (NAME_invoke, NAME_ARENA_BYTES)
  model.h                the generic names (eip_model_invoke, EIP_MODEL_*) for a one-model program: what
                         edgeimpro's firmware app uses (`edgeimpro build --model-dir FOLDER`)
  eip_names.h            renames the runtime's external symbols to NAME_eip_* (see below)
  eip_model_kernels.h    the kernel paths the model's layers take: the Arm kernels build only those
  eip_*.h, *.h, *.c      the runtime: include/, src/ and the kernels of the ops the model calls; on a core
                         with the DSP extension the Arm DSP variant (arm_dsp/) of a kernel replaces the
                         reference file of the same name, exactly as firmware/firmware.mk picks them
  CMakeLists.txt | library.json | library.properties | zephyr/   the layout's build files
  README.md, aot_report.json, edgeimpro_export.json

Several models in one program: each export carries its own copy of the runtime, renamed after the model
by eip_names.h (included by the runtime's eip_runtime.h; in edgeimpro's own builds that header is empty).
No external symbol of two exports can collide, whatever their versions, cores or kernel sets; the price is
one copy of each shared kernel per model (a few kB of flash). Runtime types (eip_status_t,
eip_tensor_info_t) have no linkage and keep their names. Every #include inside the folder resolves in the
including file's own folder (arm_dsp/ gets one-line forwarding headers), so two exports on one include
path (Zephyr and Arduino put every library's folder there) never mix their headers.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from edgeimpro import __version__, ops
from edgeimpro.codegen.aot import AotResult
from edgeimpro.errors import UsageError
from edgeimpro.escape import c_comment, c_ident, one_line
from edgeimpro.firmware import runtime_dir
from edgeimpro.graph.model import Graph

LAYOUTS = ("cmake", "platformio", "arduino", "zephyr")
DEFAULT_LAYOUT = "cmake"

# core -> kernel variant, as edgeimpro.boards.build picks it for a board (DSP_CORES there)
CORE_KERNELS: dict[str, str] = {
    "generic": "reference",
    "cortex-m0": "reference", "cortex-m0plus": "reference", "cortex-m3": "reference", "cortex-m23": "reference",
    "cortex-m4": "dsp", "cortex-m7": "dsp", "cortex-m33": "dsp", "cortex-m35p": "dsp", "cortex-m55": "mve",
    "cortex-m85": "mve",
}
DEFAULT_CORE = "generic"
# variant -> folders under runtime/kernels/, searched in order: the first that has a kernel file replaces the
# others' and the reference file of the same name (firmware/firmware.mk, KERNEL_CHAIN_*, picks them alike)
VARIANT_DIRS: dict[str, tuple[str, ...]] = {"dsp": ("arm_dsp",), "mve": ("arm_mve", "arm_dsp")}
# the variants each variant's cores can also run (a Helium core has the DSP extension too)
VARIANT_ALSO_RUNS: dict[str, tuple[str, ...]] = {"reference": (), "dsp": ("reference",), "mve": ("dsp", "reference")}


def variant_file(kernels: str, name: str) -> Path:
    """The kernel source `name` (conv2d.c) that the variant builds: from the first folder of its chain that
    has it, else the reference file."""
    kdir = runtime_dir() / "kernels"
    for folder in VARIANT_DIRS.get(kernels, ()):
        if (kdir / folder / name).is_file():
            return kdir / folder / name
    return kdir / name
# external symbols of runtime/src/ (the kernels' entry points come from the op registry)
RUNTIME_SYMBOLS = ("eip_status_str",)

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
NAMES_HEADER = "eip_names.h"


def runtime_symbols() -> list[str]:
    """Every symbol the runtime defines with external linkage (tests check it against the objects)."""
    return sorted({*RUNTIME_SYMBOLS, *(op.kernel for op in ops.kernels())})


@functools.cache
def _reserved_names() -> frozenset[str]:
    """Names whose header NAME.h would clash with a file of the export, lower-cased: Model.h and model.h
    are one file on macOS and Windows file systems."""
    return frozenset(p.stem.lower() for p in runtime_dir().rglob("*.h")) | {"model"}


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise UsageError(f"--name {name!r} is not a C identifier of at most 40 characters",
                         hint="use letters, digits and '_', starting with a letter, e.g. --name kws")
    if name.lower().startswith("eip_") or name.lower() in _reserved_names():
        raise UsageError(f"--name {name!r} clashes with the runtime's own names (eip_*, model, "
                         "eip_kernels, fixedpoint, ...)", hint="choose another, e.g. --name person_detect")
    return name


FALLBACK_NAME = "net"   # when neither the file nor its folders give a usable name


def default_name(model_path: Path) -> str:
    """The model file's stem as a C identifier; for a file called model.tflite (what `edgeimpro convert`
    writes) the nearest folder with a usable name, e.g. runs/shapes/model.tflite -> shapes,
    demo-out/model/model.tflite -> demo_out; `net` when none has one."""
    resolved = model_path.resolve()
    for candidate in (model_path.stem, *(folder.name for folder in list(resolved.parents)[:3])):
        if not candidate:
            continue
        ident = c_ident(candidate, 40)
        if ident[0].isdigit():
            ident = ("m_" + ident)[:40]
        if ident != "t" and not ident.startswith("eip_") and ident.lower() not in _reserved_names():
            return ident
    return FALLBACK_NAME


def check_options(layout: str, core: str) -> None:
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r} for --target aot", hint="use " + ", ".join(LAYOUTS))
    if core not in CORE_KERNELS:
        raise UsageError(f"unknown core {core!r}", hint="use " + ", ".join(CORE_KERNELS))


@dataclass(frozen=True)
class Package:
    files: dict[str, str | bytes]    # path in the folder -> content
    code_dir: str                    # "" or "src/"
    sources: list[str]               # the .c files, relative to code_dir
    kernels: str                     # reference or dsp


def package_files(graph: Graph, result: AotResult, *, name: str, layout: str, core: str,
                  model_file: str) -> Package:
    """Every file of the folder but aot_report.json and the manifest."""
    check_options(layout, core)
    kernels = CORE_KERNELS[core]
    code_dir = "src/" if layout == "arduino" else ""
    code: dict[str, str | bytes] = dict(result.files)
    code.update(_runtime_files(result.kernels, kernels))
    code[NAMES_HEADER] = names_header(name)
    sources = sorted(p for p in code if p.endswith(".c"))
    files: dict[str, str | bytes] = {code_dir + p: v for p, v in code.items()}
    ctx = _Context(name=name, model_file=model_file, sha256=graph.sha256, core=core, kernels=kernels,
                   sources=sources, code_dir=code_dir, arena=result.arena_bytes, weights=result.weights_bytes,
                   single=len(graph.inputs) == 1 and len(graph.outputs) == 1)
    files.update(LAYOUT_FILES[layout](ctx))
    files["README.md"] = _readme(ctx, layout)
    return Package(files, code_dir, sources, kernels)


def _runtime_files(called: list[str], kernels: str) -> dict[str, bytes]:
    """The runtime sources model.c needs: include/ and src/, the kernels' shared headers, and one kernel
    file per entry point called (the variant's file where it has one)."""
    rt = runtime_dir()
    out: dict[str, bytes] = {}
    for p in sorted((rt / "include").glob("*.h")):
        if p.name != NAMES_HEADER:
            out[p.name] = p.read_bytes()
    for p in [*sorted((rt / "src").glob("*.c")), *sorted((rt / "kernels").glob("*.h"))]:
        out[p.name] = p.read_bytes()
    chain = VARIANT_DIRS.get(kernels, ())
    external = {op.kernel: Path(op.source) for op in ops.kernels() if op.source and Path(op.source).is_absolute()}
    if any(function in external for function in called):
        raise UsageError(f"{', '.join(sorted(f for f in called if f in external))}: an op registered from outside "
                         "the runtime cannot go into an exported folder",
                         hint="add its kernel to edgeimpro/firmware/runtime/kernels/ (README: adding an op)")
    files = {op.kernel: op.source_file for op in ops.kernels()}
    used: set[str] = set()
    for file in dict.fromkeys(files[function] for function in called):
        source = variant_file(kernels, file)
        folder = source.parent.name if source.parent.name in chain else ""
        out[f"{folder}/{file}" if folder else file] = source.read_bytes()
        if folder:
            used.add(folder)
    for variant in (f for f in chain if f in used):
        for p in sorted((rt / "kernels" / variant).glob("*.h")):
            out[f"{variant}/{p.name}"] = p.read_bytes()
        # the variant files include the runtime headers by name: forward them to this folder's copies
        for header in [*sorted(p.name for p in (rt / "include").glob("*.h"))]:
            if f"{variant}/{header}" not in out:
                out[f"{variant}/{header}"] = (f"/* Generated by edgeimpro: this export's {header}, one folder up. */\n"
                                              f'#include "../{header}"\n').encode()
    return out


def names_header(name: str) -> str:
    """eip_names.h of an export: every external runtime symbol renamed NAME_eip_*."""
    defines = "\n".join(f"#define {sym} {name}_{sym}" for sym in runtime_symbols())
    return ("/*\n * Generated by edgeimpro " + __version__ + f": the runtime's external symbols carry the name of model "
            f"{c_comment(name)},\n * so that several exported models, each with its own copy of the runtime, "
            "link into one program.\n */\n"
            f"#ifndef EIP_NAMES_H\n#define EIP_NAMES_H\n\n{defines}\n\n#endif /* EIP_NAMES_H */\n")


# --------------------------------------------------------------------------------------------- layouts

@dataclass(frozen=True)
class _Context:
    name: str
    model_file: str
    sha256: str
    core: str
    kernels: str
    sources: list[str]
    code_dir: str
    arena: int
    weights: int
    single: bool

    def subst(self, template: Template, **extra: str) -> str:
        return template.substitute(name=self.name, NAME=self.name.upper(), version=__version__,
                                   model=one_line(self.model_file), core=self.core, kernels=self.kernels,
                                   **extra)


_CMAKE = Template("""\
# Generated by edgeimpro $version from $model: model $name and the part of edgeimpro's AOT runtime it
# needs ($kernels kernels, core $core), as the static library `$name`. In your project:
#   add_subdirectory(path/to/this/folder)  then  target_link_libraries(app PRIVATE $name)  and  #include "$name.h"
cmake_minimum_required(VERSION 3.13)
project($name LANGUAGES C)

add_library($name STATIC
$sources
)
target_include_directories($name PUBLIC $${CMAKE_CURRENT_SOURCE_DIR})
set_target_properties($name PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON)
""")

_ZEPHYR_CMAKE = Template("""\
# Generated by edgeimpro $version from $model: model $name (edgeimpro AOT runtime, $kernels kernels).
# Enable with CONFIG_EDGEIMPRO_$NAME=y; then #include "$name.h".
if(CONFIG_EDGEIMPRO_$NAME)
  zephyr_library_named(edgeimpro_$name)
  zephyr_library_sources(
$sources
  )
  zephyr_include_directories($${CMAKE_CURRENT_LIST_DIR}/..)
endif()
""")

_ZEPHYR_KCONFIG = Template(  # Kconfig indents with a tab; help text with a tab and two spaces
    "# Generated by edgeimpro $version from $model.\n"
    "config EDGEIMPRO_$NAME\n"
    '\tbool "Model $name (edgeimpro AOT export)"\n'
    "\thelp\n"
    "\t  Compiles model $name ($model) and the part of edgeimpro's AOT runtime it needs\n"
    "\t  ($kernels kernels, core $core). Include $name.h and call ${name}_invoke().\n")

_ZEPHYR_MODULE = Template("""\
# Generated by edgeimpro $version from $model: a Zephyr module (add this folder to ZEPHYR_EXTRA_MODULES
# or to your west manifest).
name: $name
build:
  cmake: zephyr
  kconfig: zephyr/Kconfig
""")


def _cmake(ctx: _Context) -> dict[str, str | bytes]:
    return {"CMakeLists.txt": ctx.subst(_CMAKE, sources="\n".join(f"    {s}" for s in ctx.sources))}


def _zephyr(ctx: _Context) -> dict[str, str | bytes]:
    sources = "\n".join(f"    ${{CMAKE_CURRENT_LIST_DIR}}/../{s}" for s in ctx.sources)
    return {"zephyr/module.yml": ctx.subst(_ZEPHYR_MODULE), "zephyr/Kconfig": ctx.subst(_ZEPHYR_KCONFIG),
            "zephyr/CMakeLists.txt": ctx.subst(_ZEPHYR_CMAKE, sources=sources)}


def _platformio(ctx: _Context) -> dict[str, str | bytes]:
    dirs = sorted({s.rpartition("/")[0] for s in ctx.sources})
    lib = {
        "name": ctx.name,
        "version": "1.0.0",
        "description": f"Model {one_line(ctx.model_file)} for edgeimpro's AOT runtime ({ctx.kernels} kernels, "
                       f"core {ctx.core}), exported by edgeimpro {__version__}",
        "keywords": ["edgeimpro", "tinyml", "int8", "cnn"],
        "frameworks": "*",
        "platforms": "*",
        "build": {"srcDir": ".", "includeDir": ".",
                  "srcFilter": [f"+<{d + '/' if d else ''}*.c>" for d in dirs]},
    }
    return {"library.json": json.dumps(lib, indent=2) + "\n"}


def _arduino(ctx: _Context) -> dict[str, str | bytes]:
    return {"library.properties": (
        f"name={ctx.name}\nversion=1.0.0\nauthor=edgeimpro\nmaintainer=edgeimpro\n"
        f"sentence=Model {one_line(ctx.model_file)} for edgeimpro's AOT runtime, exported by edgeimpro "
        f"{__version__}.\n"
        f"paragraph=Self-contained C: the model and the runtime sources it needs ({ctx.kernels} kernels, "
        f"core {ctx.core}); no other library needed. Include {ctx.name}.h and call {ctx.name}_invoke().\n"
        "category=Data Processing\nurl=https://pypi.org/project/edgeimpro/\narchitectures=*\n"
        f"includes={ctx.name}.h\n")}


LAYOUT_FILES = {"cmake": _cmake, "platformio": _platformio, "arduino": _arduino, "zephyr": _zephyr}

_USE = {
    "cmake": "CMake: `add_subdirectory(<this folder>)`, `target_link_libraries(app PRIVATE {name})`.",
    "platformio": "PlatformIO: copy the folder to `lib/{name}/` (or list its path in `lib_deps`).",
    "arduino": "Arduino: copy the folder to your `libraries/` folder (or Sketch > Include Library > Add .ZIP).",
    "zephyr": "Zephyr: add the folder to `ZEPHYR_EXTRA_MODULES` (or your west manifest), set "
              "`CONFIG_EDGEIMPRO_{NAME}=y`.",
}


def _readme(ctx: _Context, layout: str) -> str:
    n, N = ctx.name, ctx.name.upper()
    invoke = f"`{n}_invoke(input, output)`" if ctx.single else f"`{n}_invoke_n(inputs, outputs)`"
    return (f"# {n}: {one_line(ctx.model_file)} for edgeimpro's AOT runtime\n\n"
            f"{_USE[layout].format(name=n, NAME=N)} Then `#include \"{n}.h\"` and call {invoke}: int8 in "
            f"and out (`{N}_INPUT_0_BYTES`, `{N}_OUTPUT_0_BYTES`, scale and zero point beside them), "
            f"{ctx.arena:,} B of static arena, {ctx.weights:,} B of weights in flash; returns EIP_OK or a status.\n"
            f"Self-contained C11 (no malloc): `{ctx.code_dir or './'}` holds the model and the runtime sources it "
            f"needs ({ctx.kernels} kernels, core {ctx.core}).\n"
            f"Several models in one program: export each with its own `--name`; every symbol here starts with "
            f"`{n}_` (the runtime's with `{n}_eip_`), so the folders link side by side.\n"
            f"One model only: `model.h` gives the generic names (`eip_model_invoke`, `EIP_MODEL_*`) that "
            f"`edgeimpro build --model-dir` uses. Regenerate: `edgeimpro export {one_line(ctx.model_file)} "
            f"--target aot --name {n}` (sha256 {ctx.sha256[:16]}...).\n")
