"""`edgeimpro export model.tflite --target TARGET -o OUT_DIR`: one function per target."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from edgeimpro.errors import UsageError


def _tflm(args: argparse.Namespace) -> int:
    from edgeimpro.codegen.tflm import export_tflm

    if args.core is not None:
        raise UsageError("--core applies to --target aot only",
                         hint="TFLite Micro picks its kernels when you build it (e.g. CMSIS-NN)")
    result = export_tflm(args.model, args.output, layout=args.layout or "plain", arena_size=args.arena_size,
                         name=args.name)
    print(f"TFLite Micro export ({result.layout} layout, {result.name}) in {result.out_dir}:")
    for f in result.files:
        print(f"  {f.relative_to(result.out_dir)}")
    print(f"activations: {result.activations}")
    print(f"resolver ({len(result.ops)} entries): "
          + ", ".join(f"{method}() [{'/'.join(result.op_types.get(op, []))}]" for op, method in result.ops))
    if result.layout == "arduino":
        print("needs the Arduino_TensorFlowLite library (library.properties: depends=)")
    print(f"arena: {result.arena.size:,} B ({result.arena.basis})")
    print(f"labels: {', '.join(result.labels) if result.labels else 'none (no model.json beside the model)'}")
    return 0


def _aot(args: argparse.Namespace) -> int:
    from edgeimpro.codegen.aot import export_aot

    layout = args.layout or AOT_DEFAULT_LAYOUT
    rep = export_aot(args.model, args.output, measure_tflm=not args.no_tflm_arena, layout=layout,
                     core=args.core, name=args.name, patches=args.patches)
    name, code = rep["name"], Path(args.output) / (rep["code_dir"] if rep["code_dir"] != "." else "")
    print(f"AOT C export in {args.output} ({layout} layout, model {name}, {rep['layers']} layers)")
    print(f"  {code}: model.c, {name}.h (every symbol starts with {name}_), model.h (generic eip_model_* names "
          f"for a one-model program), eip_model_kernels.h (the kernel paths its layers take) and the runtime it "
          f"needs, core {rep['core']}: "
          + ", ".join(s for s in rep["sources"] if s != "model.c"))
    print(f"  use: {AOT_USE[layout].format(name=name, name_upper=name.upper())}; #include \"{name}.h\", call {name}_invoke() "
          "(see README.md there)")
    print(f"  arena            {rep['arena_bytes']:>9,} B  (static memory plan)")
    print(f"  weights          {rep['weights_bytes']:>9,} B  (const, flash)")
    print(f"  op-order bound   {rep['ram_lower_bound']:>9,} B  -> arena / bound = {rep['arena_vs_lower_bound']:.3f}"
          f"  (every layer holding its whole input and output: activations {rep['activations_lower_bound']:,} B"
          f" + kernel scratch, at op {rep['ram_lower_bound_op']})")
    streamed = rep["streamed_layers"]
    print(f"  streamed bound   {rep['streamed_lower_bound']:>9,} B  ("
          + (f"{len(streamed)} layers write their output over input they have read: "
             + ", ".join(str(i) for i in streamed) if streamed else "no layer streams its output over its input")
          + ")")
    patch = rep["patches"]
    if patch is not None:
        print(f"  patches          layers {patch['layers'][0]}..{patch['layers'][-1]} in {patch['bands']} bands of "
              f"{patch['rows_per_band']} row(s): saves {patch['arena_saved']:,} B of arena "
              f"({patch['arena_without']:,} B without), costs {patch['extra_macs']:,} MACs recomputed "
              f"(+{patch['extra_macs'] / max(patch['model_macs'], 1):.1%}; `edgeimpro bench` counts the instructions)")
    else:
        print(f"  patches          none ({'--patches off' if args.patches == 'off' else 'none would pay'})")
    if rep["tflm_arena_bytes_32bit"]:
        print(f"  TFLM arena       {rep['tflm_arena_bytes_32bit']:>9,} B  (32-bit estimate; "
              f"{rep['tflm_arena_bytes_64bit']:,} B measured on this 64-bit host) "
              f"-> arena / TFLM = {rep['arena_vs_tflm_32bit']:.3f}")
    else:
        print(f"  TFLM arena       {rep['tflm_arena_note']}")
    for warning in rep["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


# target -> function(args) -> exit code. Targets add their own options in add_parser.
TARGETS: dict[str, Callable[[argparse.Namespace], int]] = {"tflm": _tflm, "aot": _aot}


TFLM_LAYOUTS = ("plain", "arduino")
AOT_LAYOUTS = ("cmake", "platformio", "arduino", "zephyr")   # edgeimpro.codegen.package.LAYOUTS
AOT_DEFAULT_LAYOUT = "cmake"
AOT_CORES = ("generic", "cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m23", "cortex-m4", "cortex-m7",
             "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85")   # edgeimpro.codegen.package.CORE_KERNELS
AOT_USE = {
    "cmake": "add_subdirectory(<folder>) and target_link_libraries(app PRIVATE {name})",
    "platformio": "copy the folder to lib/{name}/",
    "arduino": "copy the folder to your Arduino libraries/ folder",
    "zephyr": "add the folder to ZEPHYR_EXTRA_MODULES and set CONFIG_EDGEIMPRO_{name_upper}=y",
}


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a .tflite file")
    parser.add_argument("--target", choices=sorted(TARGETS), default="tflm", help="what to emit (default tflm)")
    parser.add_argument("-o", "--output", required=True, help="output folder (created; replaced if it holds "
                                                              "an earlier edgeimpro export)")
    parser.add_argument("--layout", choices=sorted(set(TFLM_LAYOUTS + AOT_LAYOUTS)), default=None,
                        help="tflm: plain (default; files and a model.cmake) or arduino (a library); "
                             "aot: cmake (default; a static library), platformio (library.json), arduino "
                             "(library.properties + src/) or zephyr (a module: zephyr/module.yml)")
    parser.add_argument("--name", default=None,
                        help="the model's name, a C identifier (default: the file name): aot prefixes every "
                             "exported symbol with it, so several models link into one program; tflm names "
                             "the Arduino library and the CMake target (model.cmake) after it")
    parser.add_argument("--core", choices=AOT_CORES, default=None,
                        help="aot: the Cortex-M core; cores with the DSP extension (M4, M7, M33, M55, ...) "
                             "get the Arm DSP kernels (default generic: the reference kernels, any C11 compiler)")
    parser.add_argument("--arena-size", type=int, default=None,
                        help="tflm: tensor arena in bytes (default: measured with tflite_micro + margin)")
    parser.add_argument("--no-tflm-arena", action="store_true",
                        help="aot: skip measuring TFLM's arena for comparison")
    parser.add_argument("--patches", default="auto", metavar="auto|N|off",
                        help="aot: run the first stage (the layers before the memory peak falls) in N row bands, "
                             "recomputing their halo; auto (default) only where that cuts the arena by more than "
                             "25%%")


def run(args: argparse.Namespace) -> int:
    return TARGETS[args.target](args)
