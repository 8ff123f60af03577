"""`export --target aot --layout cmake|platformio|arduino|zephyr`: self-contained folders that build the way
each project system builds them (CMake and a Zephyr stand-in through cmake; PlatformIO and Arduino by
their source rules), on the host and for a Cortex-M4, and several models with different --name in one
program, bit-exact with tflite_micro on the host and on QEMU."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from aot_harness import GOLDEN, inputs_for
from conftest import mlperf_model

from edgeimpro.boards.build import CROSS, board_config_header, memory_ld
from edgeimpro.boards.registry import get_board
from edgeimpro.codegen import package
from edgeimpro.codegen.aot import export_aot
from edgeimpro.errors import UsageError
from edgeimpro.firmware import firmware_dir
from edgeimpro.graph import load_graph
from edgeimpro.references import TflmReference

pytestmark = pytest.mark.host

MAIN_TEMPLATE = Path(__file__).parent / "c" / "models_main.c.in"
WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Werror"]
M4 = get_board("qemu-m4")
M55 = get_board("qemu-m55")
QEMU_TIMEOUT_S = 300


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed")
    return path


def export(model: Path, out: Path, layout: str, name: str, core: str = "generic") -> Path:
    export_aot(model, out, measure_tflm=False, layout=layout, name=name, core=core)
    return out


# --- building a folder the way its project system does -------------------------------------------------

def _cmake_build(project: Path, build: Path, cross: bool = False) -> Path:
    """Configure and build a CMake project with ninja (host gcc, or arm-none-eabi-gcc for a Cortex-M4)."""
    _need("cmake")
    _need("ninja")
    args = ["cmake", "-S", str(project), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_C_FLAGS={' '.join(WARNINGS[1:])}"]
    if cross:
        args += ["-DCMAKE_SYSTEM_NAME=Generic", "-DCMAKE_SYSTEM_PROCESSOR=arm",
                 f"-DCMAKE_C_COMPILER={_need(CROSS + 'gcc')}", "-DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY",
                 f"-DCMAKE_C_FLAGS={' '.join([*M4.cpu_flags, *WARNINGS[1:]])}"]
    for cmd in (args, ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return build


_ZEPHYR_STUB = """\
# Stand-in for Zephyr's build system: the functions a module's CMakeLists.txt calls, on plain CMake.
cmake_minimum_required(VERSION 3.13)
project(zephyr_stub C)
set(CMAKE_C_STANDARD 11)
add_library(zephyr_interface INTERFACE)
function(zephyr_library_named name)
  add_library(${name} STATIC)
  target_link_libraries(${name} PUBLIC zephyr_interface)
  set_property(GLOBAL PROPERTY ZEPHYR_CURRENT_LIBRARY ${name})
endfunction()
function(zephyr_library_sources)
  get_property(lib GLOBAL PROPERTY ZEPHYR_CURRENT_LIBRARY)
  target_sources(${lib} PRIVATE ${ARGN})
endfunction()
function(zephyr_include_directories)
  target_include_directories(zephyr_interface INTERFACE ${ARGN})
endfunction()
"""


def library_sources(folder: Path, layout: str) -> tuple[list[Path], list[Path]]:
    """(C sources, include folders) of an export as the layout's build system reads them (CMake ones are
    built through cmake instead; this is what they list)."""
    if layout == "arduino":   # library format 1.5: everything under src/, recursively; src/ on the path
        assert (folder / "library.properties").is_file()
        return sorted((folder / "src").rglob("*.c")), [folder / "src"]
    if layout == "platformio":
        lib = json.loads((folder / "library.json").read_text())
        src = folder / lib["build"]["srcDir"]
        sources = []
        for pattern in lib["build"]["srcFilter"]:
            m = re.fullmatch(r"\+<(.+)>", pattern)
            assert m, pattern
            sources += src.glob(m.group(1))
        return sorted(set(sources)), [folder / lib["build"]["includeDir"]]
    text = (folder / ("CMakeLists.txt" if layout == "cmake" else "zephyr/CMakeLists.txt")).read_text()
    base = folder if layout == "cmake" else folder / "zephyr"
    listed = re.findall(r"^\s+(?:\$\{CMAKE_CURRENT_LIST_DIR\}/)?(\S+\.c)$", text, re.M)
    return sorted((base / s).resolve() for s in listed), [folder]


def build_library(folder: Path, layout: str, work: Path, cross: bool = False) -> list[Path]:
    """Build an export as its project system would; returns the object files or static libraries."""
    work.mkdir(parents=True, exist_ok=True)
    if layout == "cmake":
        build = _cmake_build(folder, work / "build", cross)
        return sorted(build.glob("*.a"))
    if layout == "zephyr":
        name = json.loads((folder / "edgeimpro_export.json").read_text())["name"]
        kconfig = (folder / "zephyr" / "Kconfig").read_text()
        symbol = re.search(r"^config (\w+)$", kconfig, re.M).group(1)
        module = (folder / "zephyr" / "module.yml").read_text()
        assert re.search(r"^\s+cmake: zephyr$", module, re.M) and "kconfig: zephyr/Kconfig" in module
        assert re.search(rf"^name: {name}$", module, re.M)
        (work / "CMakeLists.txt").write_text(_ZEPHYR_STUB + f"set(CONFIG_{symbol} y)\n"
                                             f'add_subdirectory("{folder / "zephyr"}" module)\n')
        build = _cmake_build(work, work / "build", cross)
        return sorted(build.rglob("*.a"))
    sources, includes = library_sources(folder, layout)
    cc = _need(CROSS + "gcc") if cross else _need("gcc")
    objects = []
    for i, src in enumerate(sources):
        obj = work / f"{i}_{src.stem}.o"
        flags = [*M4.cpu_flags] if cross else []
        proc = subprocess.run([cc, *flags, *WARNINGS, "-O2", *(f"-I{d}" for d in includes), "-c", str(src),
                               "-o", str(obj)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{src}: {proc.stderr[-3000:]}"
        objects.append(obj)
    return objects


def external_symbols(objects: list[Path], cross: bool = False) -> set[str]:
    nm = _need(CROSS + "nm" if cross else "nm")
    out = subprocess.run([nm, "-g", "--defined-only", *map(str, objects)], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if len(line.split()) == 3}


# --- programs holding several models ------------------------------------------------------------------

def render_main(names: list[str]) -> str:
    text = MAIN_TEMPLATE.read_text()
    parts = {"INCLUDES": [], "BUFFERS": [], "LOAD": [], "INVOKE": [], "STORE": []}
    for n in names:
        N = n.upper()
        parts["INCLUDES"].append(f'#include "{n}.h"')
        parts["BUFFERS"] += [f"static int8_t {n}_in[MAX_SAMPLES * {N}_INPUT_0_BYTES];",
                             f"static int8_t {n}_out[MAX_SAMPLES * {N}_OUTPUT_0_BYTES];"]
        parts["LOAD"] += [f"    const long {n}_in_bytes = (long){N}_INPUT_0_BYTES;",
                          f'    long {n}_n = load("{n}_in.bin", {n}_in, (long)sizeof {n}_in);',
                          f"    if ({n}_n < 0 || {n}_n % {n}_in_bytes != 0 || (n >= 0 && n != {n}_n / {n}_in_bytes)) {{",
                          "        return finish(2);", "    }", f"    n = {n}_n / {n}_in_bytes;"]
        parts["INVOKE"] += [f"        if ({n}_invoke({n}_in + s * {n}_in_bytes, "
                            f"{n}_out + s * (long){N}_OUTPUT_0_BYTES) != EIP_OK) {{",
                            "            return finish(3);", "        }"]
        parts["STORE"] += [f'    if (store("{n}_out.bin", {n}_out, n * (long){N}_OUTPUT_0_BYTES) != 0) {{',
                           "        return finish(4);", "    }"]
    for key, lines in parts.items():
        text = text.replace(f"@{key}@", "\n".join(lines))
    return text


def write_inputs(run_dir: Path, models: dict[str, Path], n: int) -> dict[str, np.ndarray]:
    xs = {}
    for name, model in models.items():
        x = inputs_for(load_graph(model), n, zlib.crc32(name.encode()) % 1000)
        (run_dir / f"{name}_in.bin").write_bytes(x.tobytes())
        xs[name] = x
    return xs


def assert_outputs_match_tflm(run_dir: Path, models: dict[str, Path], xs: dict[str, np.ndarray]) -> None:
    for name, model in models.items():
        expected = TflmReference(model).run(xs[name])
        got = np.frombuffer((run_dir / f"{name}_out.bin").read_bytes(), np.int8).reshape(expected.shape)
        bad = [i for i in range(len(got)) if not np.array_equal(got[i], expected[i])]
        assert not bad, f"{name}: {len(bad)}/{len(got)} outputs differ from tflite_micro (first: {bad[0]})"


def _host_program(tmp: Path, folders: dict[str, Path], layout: str) -> Path:
    """main.c + the exported folders, built as `layout` builds them; returns the executable."""
    tmp.mkdir(parents=True, exist_ok=True)
    main = tmp / "main.c"
    main.write_text(render_main(list(folders)))
    if layout == "cmake":   # the user's own CMake project adding both folders
        subdirs = "\n".join(f'add_subdirectory("{f}" {n})' for n, f in folders.items())
        (tmp / "CMakeLists.txt").write_text(
            f"cmake_minimum_required(VERSION 3.13)\nproject(app C)\n{subdirs}\nadd_executable(app main.c)\n"
            f"target_link_libraries(app PRIVATE {' '.join(folders)})\n")
        return _cmake_build(tmp, tmp / "build") / "app"
    libs, includes = [], []
    for n, f in folders.items():
        libs += build_library(f, layout, tmp / f"lib_{n}")
        includes += library_sources(f, layout)[1] if layout in ("arduino", "platformio") else [f]
    exe = tmp / "app"
    proc = subprocess.run(["gcc", *WARNINGS, "-O2", *(f"-I{d}" for d in includes), str(main), *map(str, libs),
                           "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return exe


# --- tests --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", package.LAYOUTS)
def test_layout_builds_and_runs_on_the_host_bit_exact(layout: str, tmp_path: Path) -> None:
    model = GOLDEN / "tiny.tflite"
    folder = export(model, tmp_path / "tiny_export", layout, "tiny")
    objects = build_library(folder, layout, tmp_path / "lib")
    symbols = external_symbols(objects)
    assert "tiny_invoke" in symbols and "tiny_eip_conv2d" in symbols
    assert not {s for s in symbols if not s.startswith("tiny_")}, "an exported symbol lacks the model's name"
    run = tmp_path / "run"
    run.mkdir()
    exe = _host_program(tmp_path / "app", {"tiny": folder}, layout)
    xs = write_inputs(run, {"tiny": model}, 16)
    subprocess.run([str(exe)], cwd=run, check=True, timeout=60)
    assert_outputs_match_tflm(run, {"tiny": model}, xs)


@pytest.mark.parametrize("layout", package.LAYOUTS)
def test_layout_compiles_for_cortex_m4_with_the_dsp_kernels(layout: str, tmp_path: Path) -> None:
    folder = export(GOLDEN / "tiny.tflite", tmp_path / "tiny_export", layout, "tiny", core="cortex-m4")
    code = folder / ("src" if layout == "arduino" else "")
    # the Arm DSP conv replaces the reference file of the same name, as firmware.mk picks them
    assert (code / "arm_dsp" / "conv2d.c").is_file() and not (code / "conv2d.c").exists()
    objects = build_library(folder, layout, tmp_path / "lib", cross=True)
    symbols = external_symbols(objects, cross=True)
    assert {"tiny_invoke", "tiny_eip_conv2d", "tiny_eip_status_str"} <= symbols
    assert not {s for s in symbols if not s.startswith("tiny_")}


def test_export_holds_exactly_the_kernels_the_model_calls(tmp_path: Path) -> None:
    folder = export(mlperf_model("kws"), tmp_path / "kws", "cmake", "kws")
    report = json.loads((folder / "aot_report.json").read_text())
    ops = {op.opcode for op in load_graph(mlperf_model("kws")).ops}
    assert ops == {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}
    # RESHAPE aliases its input in the arena: no kernel call, no reshape.c
    assert sorted(p.name for p in folder.glob("*.c")) == sorted(report["sources"]) == [
        "conv2d.c", "depthwise_conv2d.c", "fully_connected.c", "model.c", "pool2d.c", "softmax.c", "status.c"]
    listed = re.findall(r"^    (\S+\.c)$", (folder / "CMakeLists.txt").read_text(), re.M)
    assert listed == report["sources"]


def test_runtime_symbol_table_covers_every_runtime_object(tmp_path: Path) -> None:
    """eip_names.h renames package.runtime_symbols(): that list must hold every external symbol the whole
    runtime (reference, DSP and Helium kernels) defines, or two exports would collide on the one it lacks."""
    rt = firmware_dir() / "runtime"
    objects = []
    for i, src in enumerate(sorted(rt.rglob("*.c"))):
        obj = tmp_path / f"{i}.o"
        core = M55 if "arm_mve" in src.parts else M4
        subprocess.run([_need(CROSS + "gcc"), *core.cpu_flags, *WARNINGS, "-O2", f"-I{rt / 'include'}", "-c",
                        str(src), "-o", str(obj)], check=True)
        objects.append(obj)
    assert external_symbols(objects, cross=True) <= set(package.runtime_symbols())


def test_two_models_link_into_one_host_program_bit_exact(tmp_path: Path) -> None:
    models = {"kws": mlperf_model("kws"), "resnet8": mlperf_model("resnet8")}
    folders = {n: export(m, tmp_path / f"{n}_export", "cmake", n) for n, m in models.items()}
    exe = _host_program(tmp_path / "app", folders, "cmake")
    run = tmp_path / "run"
    run.mkdir()
    xs = write_inputs(run, models, 24)
    subprocess.run([str(exe)], cwd=run, check=True, timeout=120)
    assert_outputs_match_tflm(run, models, xs)


@pytest.mark.qemu
def test_two_models_in_one_cortex_m4_program_on_qemu_bit_exact(tmp_path: Path) -> None:
    """Two Arduino-layout libraries with the Arm DSP kernels, compiled as the Arduino IDE would (every
    library's src/ on the include path of every file), linked into one bare-metal program run on qemu-m4."""
    qemu = _need("qemu-system-arm")
    models = {"kws": mlperf_model("kws"), "resnet8": mlperf_model("resnet8")}
    folders = {n: export(m, tmp_path / f"{n}_export", "arduino", n, core="cortex-m4") for n, m in models.items()}
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "eip_board_config.h").write_text(board_config_header(M4, "qemu"))
    (gen / "memory.ld").write_text(memory_ld(M4))
    main = tmp_path / "main.c"
    main.write_text(render_main(list(models)))
    common = firmware_dir() / "boards" / "common"
    sources = [main, common / "startup.c", common / "fatal.c"]
    includes = [gen, common]
    for f in folders.values():
        s, inc = library_sources(f, "arduino")
        sources += s
        includes += inc
    elf = tmp_path / "app.elf"
    proc = subprocess.run([_need(CROSS + "gcc"), *M4.cpu_flags, *WARNINGS, "-O2", "-ffunction-sections",
                           "-fdata-sections", *(f"-I{d}" for d in includes), *map(str, sources), "-nostartfiles",
                           "--specs=nano.specs", "-Wl,--gc-sections", f"-L{gen}", f"-T{common / 'sections.ld'}",
                           "-o", str(elf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    run.mkdir()
    xs = write_inputs(run, models, 5)
    proc = subprocess.run([qemu, "-M", M4.qemu_machine, "-nographic", "-monitor", "none", "-serial", "null",
                           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                          cwd=run, capture_output=True, text=True, timeout=QEMU_TIMEOUT_S)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert_outputs_match_tflm(run, models, xs)


def test_names(tmp_path: Path) -> None:
    assert package.default_name(Path("runs/kws_ref_model.tflite")) == "kws_ref_model"
    assert package.default_name(Path("runs/96x96 person.tflite")) == "m_96x96_person"
    assert package.default_name(tmp_path / "shapes" / "model.tflite") == "shapes"   # convert's file name
    # the README's usual path, convert -o model/model.tflite: the nearest folder with a usable name
    assert package.default_name(tmp_path / "demo-out" / "model" / "model.tflite") == "demo_out"
    assert package.default_name(Path("/model/model.tflite")) == package.FALLBACK_NAME
    for bad in ("9lives", "has-dash", "eip_x", "model", "Model", "FixedPoint", "eip_kernels", "x" * 41):
        with pytest.raises(UsageError):
            package.check_name(bad)
    with pytest.raises(UsageError, match="core"):
        export(GOLDEN / "tiny.tflite", tmp_path / "out", "cmake", "tiny", core="cortex-a53")
    assert not (tmp_path / "out").exists()


@pytest.mark.qemu
@pytest.mark.parametrize("core", ["generic", "cortex-m4", "cortex-m55"])
def test_edgeimpro_firmware_builds_from_an_export_folder_and_runs_it_on_qemu(tmp_path: Path, core: str) -> None:
    """`edgeimpro build --model-dir FOLDER` on a self-contained export: model.h's generic names serve the
    firmware app, the folder's own (renamed) runtime runs the model, bit-exact; with a DSP core the folder's
    arm_dsp/ kernels are built too, with a Helium core its arm_mve/ kernels (and arm_dsp/ for the rest)."""
    from edgeimpro.boards.build import build_firmware
    from edgeimpro.link.emulator import Emulator

    _need("qemu-system-arm")
    model = mlperf_model("kws")
    folder = export(model, tmp_path / "kws_export", "cmake", "kws", core=core)
    assert any((folder / "arm_mve").glob("*.c")) == (core == "cortex-m55")
    assert not (folder / "conv2d.c").exists() if core != "generic" else (folder / "conv2d.c").is_file()
    board = "qemu-m55" if core == "cortex-m55" else "qemu-m4"
    out = tmp_path / "fw"
    build_firmware(board, folder, out, jobs=2)
    graph = load_graph(model)
    x = inputs_for(graph, 5, 7)
    expected = TflmReference(model).run(x)
    with Emulator(board, out) as emu:
        assert emu.device.info().model_sha256 == graph.sha256
        for i in range(len(x)):
            got = emu.device.infer(x[i].reshape(graph.input_tensors[0].shape)).outputs[0]
            np.testing.assert_array_equal(got.reshape(-1), expected[i].reshape(-1))


def test_cli_choices_match_the_package_tables() -> None:
    from edgeimpro.cli import export as cli

    assert cli.AOT_LAYOUTS == package.LAYOUTS and cli.AOT_DEFAULT_LAYOUT == package.DEFAULT_LAYOUT
    assert cli.AOT_CORES == tuple(package.CORE_KERNELS)


def test_cli_aot_export_says_where_the_runtime_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgeimpro.cli.main import main

    out = tmp_path / "person"
    assert main(["export", str(GOLDEN / "tiny.tflite"), "--target", "aot", "-o", str(out), "--layout", "arduino",
                 "--name", "person", "--no-tflm-arena"]) == 0
    text = capsys.readouterr().out
    assert f"{out / 'src'}: model.c, person.h" in text and "status.c" in text
    manifest = json.loads((out / "edgeimpro_export.json").read_text())
    assert manifest["layout"] == "arduino" and manifest["name"] == "person" and manifest["code_dir"] == "src/"
    assert main(["export", str(GOLDEN / "tiny.tflite"), "--target", "aot", "-o", str(tmp_path / "x"),
                 "--name", "9x"]) == 2
    assert "--name '9x'" in capsys.readouterr().err
