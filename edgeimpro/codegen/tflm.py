"""TFLite Micro export: the C++ a TFLM user drops into their firmware.

Files (plain layout; the Arduino layout puts them under src/ with .cpp sources and adds
library.properties, named after the model and depending on the Arduino_TensorFlowLite library, and an
example sketch):
  model_data.h / model_data.cc  the .tflite bytes as an `alignas(16)` const array, its length and sha256
  model_ops.h                   `model::OpResolver` (MicroMutableOpResolver<N>) and `model::RegisterOps()`
                                with exactly the model's ops
  model_config.h                arena size, input/output shapes and quantization, labels
  main.cc                       a short example: AllocateTensors, fill the input, Invoke, read the output
  model.cmake                   (plain) `include()` it from a CMake project: the library NAME (model_data.cc,
                                this folder on the include path), to link beside your TFLM library
  edgeimpro_export.json         what was exported from what (marks the folder as ours for re-export)

Models: whatever TFLM's reference kernels run, not only full int8: float32, and int16 activations with int8
weights (16x8 quantization, as in micro_speech_lstm). Hybrid and uint8 (TF1-style) models are refused.
A model that is not full int8 is also run once in the tflite_micro interpreter (zero inputs, in a child
process), so a kernel that refuses its types fails the export, not the device.

Arena size = the 32-bit estimate of TFLM's measured need (edgeimpro.references.estimate_arena_32bit)
plus ARENA_MARGIN_FRACTION (at least ARENA_MARGIN_MIN), never below the 64-bit measurement + 16 B so the
same config also runs in a host build. The margin covers kernel scratch buffers of optimized kernels
(CMSIS-NN im2col / depthwise buffers, which the reference kernels measured here do not need) and the
alignment of the arena start.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeimpro import __version__
from edgeimpro.codegen.output import check_out_dir, write_export
from edgeimpro.errors import ModelError, UsageError
from edgeimpro.escape import c_comment, c_string, one_line
from edgeimpro.graph.loader import load_graph, read_model_bytes
from edgeimpro.graph.model import Graph, Tensor
from edgeimpro.graph.validate import (
    TFLM_OPS,
    check_ops,
    check_single_subgraph,
    check_static_shapes,
    check_tflm_aborts,
    check_tflm_prepare,
    resolver_ops,
)
from edgeimpro.modelcard import find_card

EXPORT_FORMAT_VERSION = 1
LAYOUTS = ("plain", "arduino")
ARENA_MARGIN_FRACTION = 0.05
ARENA_MARGIN_MIN = 1024
ARENA_ALIGNMENT = 16
MODEL_ALIGNMENT = 16                    # TFLM reads the flatbuffer in place: unaligned arrays hard-fault
ARDUINO_TFLM_LIBRARY = "Arduino_TensorFlowLite"   # the TFLM Arduino library (tflite-micro-arduino-examples)
# TFLite type -> the TfLiteTensor data member the example reads and writes
_DATA_FIELD = {"int8": "int8", "int16": "i16", "float32": "f"}
_WEIGHT_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL",
                         "UNIDIRECTIONAL_SEQUENCE_LSTM", "SVDF", "EMBEDDING_LOOKUP"})


@dataclass(frozen=True)
class ArenaSizing:
    size: int                           # what model_config.h declares
    measured_x86_64: int | None         # TFLM RecordingMicroAllocator total on this host
    estimate_32bit: int | None
    margin: int
    basis: str                          # one line saying where `size` comes from

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class TflmExport:
    out_dir: Path
    layout: str
    files: list[Path]
    arena: ArenaSizing
    ops: list[tuple[str, str]]          # (TFLite op, resolver method)
    model_sha256: str
    model_bytes: int
    labels: list[str] = field(default_factory=list)
    name: str = "model"                 # the Arduino library / CMake target
    activations: str = "int8"           # int8, int16x8, float32, or a mix such as "float32+int8"
    op_types: dict[str, list[str]] = field(default_factory=dict)   # op -> activation types it runs on

    def to_dict(self) -> dict[str, Any]:
        return {"target": "tflm", "out_dir": str(self.out_dir), "layout": self.layout, "name": self.name,
                "files": [str(f) for f in self.files], "arena": self.arena.to_dict(),
                "activations": self.activations,
                "ops": [{"op": op, "resolver": m, "types": self.op_types.get(op, [])} for op, m in self.ops],
                "model_sha256": self.model_sha256, "model_bytes": self.model_bytes, "labels": self.labels}


def size_arena(model: bytes, arena_size: int | None = None) -> ArenaSizing:
    """The arena for model_config.h: measured with tflite_micro unless `arena_size` is given."""
    if arena_size is not None:
        if arena_size <= 0:
            raise UsageError(f"--arena-size must be positive, got {arena_size}")
        size = _align(arena_size, ARENA_ALIGNMENT)
        return ArenaSizing(size, None, None, 0, f"given: {arena_size:,} B (rounded up to {ARENA_ALIGNMENT})")
    from edgeimpro.references import measure_tflm_arena  # lazy: tflite_micro is an optional dependency

    m = measure_tflm_arena(model)
    est = m.estimate_32bit
    margin = max(ARENA_MARGIN_MIN, math.ceil(est * ARENA_MARGIN_FRACTION))
    size = max(_align(est + margin, ARENA_ALIGNMENT), _align(m.total + ARENA_ALIGNMENT, ARENA_ALIGNMENT))
    basis = (f"TFLM needs {m.total:,} B on x86-64 (measured), about {est:,} B on a 32-bit MCU; "
             f"+ {margin:,} B margin ({ARENA_MARGIN_FRACTION:.0%}, at least {ARENA_MARGIN_MIN} B) "
             "for optimized-kernel scratch buffers")
    return ArenaSizing(size, m.total, est, margin, basis)


def export_tflm(model_path: str | Path, out_dir: str | Path, layout: str = "plain",
                arena_size: int | None = None, supported_ops: Collection[str] = TFLM_OPS,
                name: str | None = None) -> TflmExport:
    """Validate `model_path` for TFLM and write the export to `out_dir` atomically. `name` (default: from
    the file name) names the Arduino library and the CMake target."""
    from edgeimpro.codegen.package import check_name, default_name

    model_path, out_dir = Path(model_path), Path(out_dir)
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r} for --target tflm", hint="use " + " or ".join(LAYOUTS))
    name = check_name(name) if name is not None else default_name(model_path)
    check_out_dir(out_dir)
    data = read_model_bytes(model_path)
    graph = load_graph(data)
    activations = validate_tflm(graph, supported_ops)
    ops = resolver_ops(graph, {k: TFLM_OPS[k] for k in TFLM_OPS if k in supported_ops})
    if activations != "int8":                   # prove TFLM runs it (in a child: it may crash on odd files)
        from edgeimpro.references import check_runs_on_tflm  # lazy: tflite_micro is an optional dependency

        check_runs_on_tflm(data)
    op_types = _op_types(graph)
    arena = size_arena(data, arena_size)
    labels = _labels(model_path, graph)

    src = "src/" if layout == "arduino" else ""
    cc = ".cpp" if layout == "arduino" else ".cc"
    files: dict[str, str] = {
        f"{src}model_data.h": render_model_data_h(graph, model_path.name),
        f"{src}model_data{cc}": render_model_data_cc(data, graph, model_path.name),
        f"{src}model_ops.h": render_model_ops_h(ops, model_path.name, op_types),
        f"{src}model_config.h": render_model_config_h(graph, arena, labels, model_path.name),
    }
    if layout == "arduino":
        files["library.properties"] = render_library_properties(name, model_path.name)
        files[f"examples/{name}_example/{name}_example.ino"] = render_main(model_path.name, arduino=True,
                                                                            graph=graph)
    else:
        files["main.cc"] = render_main(model_path.name, arduino=False, graph=graph)
        files["model.cmake"] = render_model_cmake(name, model_path.name)
    manifest = {"format": "edgeimpro-export", "version": EXPORT_FORMAT_VERSION, "edgeimpro": __version__,
                "target": "tflm", "layout": layout, "name": name, "model": model_path.name,
                "model_sha256": graph.sha256, "model_bytes": len(data), "arena": arena.to_dict(),
                "activations": activations, "ops": [op for op, _ in ops], "files": sorted(files)}
    write_export(out_dir, files, manifest)
    return TflmExport(out_dir, layout, [out_dir / f for f in sorted(files)], arena, ops, graph.sha256,
                      len(data), labels, name, activations, op_types)


# ---------------------------------------------------------------------------------------------- checks


def validate_tflm(graph: Graph, supported_ops: Collection[str] = TFLM_OPS) -> str:
    """Raise ModelError / UnsupportedOpError for the first reason TFLM cannot run `graph`; return the kind
    of its activations: "int8", "int16x8" (int16 activations, int8 weights), "float32", or a mix."""
    check_single_subgraph(graph)
    acts = [graph.tensors[t] for t in graph.activation_tensors()]
    float_acts = {t.index for t in acts if t.dtype == "float32"}
    for op in graph.ops:   # hybrid: float activations into an op whose weights are integers
        if op.opcode in _WEIGHT_OPS and op.inputs and op.inputs[0] in float_acts:
            w = next((t for t in op.input_tensors(graph)[1:] if t is not None and t.is_constant
                      and t.dtype in ("int8", "uint8", "int4")), None)
            if w is not None:
                raise ModelError(
                    f"hybrid model: op {op.index} {op.opcode} takes float32 activations with {w.dtype} weights "
                    f"'{w.name}' (dynamic-range quantization); TFLite Micro does not run hybrid models",
                    hint="convert without quantization (float32), or with full-integer quantization: "
                         "`edgeimpro convert model.keras -o model.tflite`")
    for t in acts:
        if t.dtype not in _DATA_FIELD and t.dtype not in ("int32", "bool"):
            raise ModelError(f"tensor '{t.name}' is {t.dtype}; TFLite Micro's kernels take float32, int8 and "
                             "int16 activations" + (" (uint8 is TF1-style quantization)" if t.dtype == "uint8"
                                                    else ""),
                             hint="convert again: float32, full int8 (`edgeimpro convert`) or 16x8 "
                                  "(EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8)")
        if t.dtype in ("int8", "int16") and t.quantization is None:
            raise ModelError(f"{t.dtype} tensor '{t.name}' has no quantization parameters",
                             hint="the model file is not a quantized model; convert it again")
    check_static_shapes(graph)
    check_ops(graph, supported_ops, "TFLite Micro")
    kinds = {t.dtype for t in acts if t.dtype in _DATA_FIELD}
    if kinds <= {"int8"}:
        check_tflm_aborts(graph)
    check_tflm_prepare(graph)
    if "int16" in kinds:
        kinds = (kinds - {"int16", "int8"}) | {"int16x8"}
    return "+".join(sorted(kinds)) or "int8"


def _op_types(graph: Graph) -> dict[str, list[str]]:
    """op -> the types of the first input it runs on (what its kernel must handle)."""
    out: dict[str, list[str]] = {}
    for op in graph.ops:
        first = next((graph.tensors[i] for i in op.inputs if i >= 0), None)
        dtype = first.dtype if first is not None else "none"
        if dtype not in out.setdefault(op.opcode, []):
            out[op.opcode].append(dtype)
    return out


# ---------------------------------------------------------------------------------------------- files


def _banner(model_name: str, what: str) -> str:
    return (f"// Generated by edgeimpro {__version__} from {c_comment(model_name)}: {what}.\n"
            "// Do not edit: re-run `edgeimpro export` instead.\n")


def render_model_data_h(graph: Graph, model_name: str) -> str:
    return (_banner(model_name, "the model flatbuffer") + f"""
#ifndef EDGEIMPRO_MODEL_DATA_H_
#define EDGEIMPRO_MODEL_DATA_H_

#define EDGEIMPRO_EXPORT_FORMAT_VERSION {EXPORT_FORMAT_VERSION}
#define EDGEIMPRO_MODEL_SHA256 "{graph.sha256}"

// The .tflite bytes, {MODEL_ALIGNMENT}-byte aligned (TFLM reads them in place), in flash.
extern const unsigned char g_model_data[];
extern const unsigned int g_model_data_len;
// sha256 of g_model_data, to check at start-up against model_config.h (same export or not).
extern const char g_model_sha256[];

#endif  // EDGEIMPRO_MODEL_DATA_H_
""")


def render_model_data_cc(data: bytes, graph: Graph, model_name: str) -> str:
    rows = []
    for i in range(0, len(data), 16):
        rows.append("    " + ", ".join(f"0x{b:02x}" for b in data[i:i + 16]) + ",")
    body = "\n".join(rows)
    return (_banner(model_name, f"{len(data):,} bytes, sha256 {graph.sha256}") + f"""
#include "model_data.h"

alignas({MODEL_ALIGNMENT}) const unsigned char g_model_data[] = {{
{body}
}};
const unsigned int g_model_data_len = {len(data)};
const char g_model_sha256[] = "{graph.sha256}";
""")


def render_model_ops_h(ops: list[tuple[str, str]], model_name: str,
                       op_types: dict[str, list[str]] | None = None) -> str:
    def note(op: str) -> str:
        types = (op_types or {}).get(op)
        return f" on {', '.join(types)}" if types else ""

    calls = "\n".join(f"  if (resolver.{method}() != kTfLiteOk) return kTfLiteError;  // {c_comment(op + note(op))}"
                      for op, method in ops)
    return (_banner(model_name, "the op resolver") + f"""
#ifndef EDGEIMPRO_MODEL_OPS_H_
#define EDGEIMPRO_MODEL_OPS_H_

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

namespace model {{

// Exactly the {len(ops)} ops the model uses: unused kernels are not linked in.
constexpr unsigned int kOpCount = {len(ops)};
using OpResolver = tflite::MicroMutableOpResolver<kOpCount>;

inline TfLiteStatus RegisterOps(OpResolver& resolver) {{
{calls}
  return kTfLiteOk;
}}

}}  // namespace model

#endif  // EDGEIMPRO_MODEL_OPS_H_
""")


def render_model_config_h(graph: Graph, arena: ArenaSizing, labels: list[str], model_name: str) -> str:
    lines = [_banner(model_name, "sizes, shapes and quantization"),
             "#ifndef EDGEIMPRO_MODEL_CONFIG_H_", "#define EDGEIMPRO_MODEL_CONFIG_H_", "",
             "#include <stddef.h>", "#include <stdint.h>", "", "namespace model {", "",
             f"// {c_comment(arena.basis)}.",
             f"constexpr size_t kTensorArenaSize = {arena.size};", "",
             f'constexpr char kModelSha256[] = "{graph.sha256}";', ""]
    for kind, tensors in (("Input", graph.input_tensors), ("Output", graph.output_tensors)):
        for k, t in enumerate(tensors):
            prefix = f"k{kind}" if k == 0 else f"k{kind}{k}"
            lines += _tensor_constants(prefix, t)
    lines += [f"constexpr int kInputCount = {len(graph.inputs)};",
              f"constexpr int kOutputCount = {len(graph.outputs)};", ""]
    lines.append(f"constexpr int kLabelCount = {len(labels)};")
    if labels:
        quoted = ", ".join(c_string(label) for label in labels)
        lines.append(f"constexpr const char* kLabelNames[kLabelCount] = {{{quoted}}};")
        lines.append("constexpr const char* const* kLabels = kLabelNames;")
    else:
        lines.append("// No labels: there was no model.json beside the model.")
        lines.append("constexpr const char* const* kLabels = nullptr;")
    lines += ["", "}  // namespace model", "", "#endif  // EDGEIMPRO_MODEL_CONFIG_H_", ""]
    return "\n".join(lines)


def _tensor_constants(prefix: str, t: Tensor) -> list[str]:
    dims = ", ".join(str(d) for d in t.shape)
    out = [f"// {c_comment(t.name)}: {t.dtype} [{dims}]",
           f"constexpr int {prefix}Rank = {len(t.shape)};",
           f"constexpr int {prefix}Dims[{max(len(t.shape), 1)}] = {{{dims or '1'}}};",
           f"constexpr size_t {prefix}Size = {t.size};   // elements of {t.dtype} ({t.nbytes} bytes)"]
    if t.quantization is not None and not t.quantization.per_channel:
        scale, zp = t.quantization.scalar
        out += [f"constexpr float {prefix}Scale = {scale!r}f;  // real = scale * (q - zero_point)",
                f"constexpr int32_t {prefix}ZeroPoint = {zp};"]
    return out + [""]


def render_main(model_name: str, arduino: bool, graph: Graph | None = None) -> str:
    in_t = graph.input_tensors[0] if graph is not None else None
    out_t = graph.output_tensors[0] if graph is not None else None
    in_field = _DATA_FIELD.get(in_t.dtype, "int8") if in_t is not None else "int8"
    out_field = _DATA_FIELD.get(out_t.dtype, "int8") if out_t is not None else "int8"
    if in_field == "f":
        fill = "  // Fill the input with a preprocessed image (float32).\n" \
               "  for (size_t i = 0; i < model::kInputSize; ++i) input->data.f[i] = 0.0f;"
    else:
        ctype = "int8_t" if in_field == "int8" else "int16_t"
        fill = ("  // Fill the input with a preprocessed image quantized as q = round(x / kInputScale) + kInputZeroPoint.\n"
                f"  for (size_t i = 0; i < model::kInputSize; ++i) input->data.{in_field}[i] = "
                f"({ctype})model::kInputZeroPoint;")
    score = ("output->data.f[0] > 0.5f" if out_field == "f" else
             f"(output->data.{out_field}[0] - model::kOutputZeroPoint) * model::kOutputScale > 0.5f")
    includes = ("#include <TensorFlowLite.h>\n" if arduino else "") + "#include <stdio.h>\n#include <string.h>\n\n"
    body = """#include "model_config.h"
#include "model_data.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {
alignas(16) uint8_t tensor_arena[model::kTensorArenaSize];
}  // namespace

// One inference; returns the index of the best-scoring class, or -1 on an error.
static int RunOnce() {
  if (strcmp(g_model_sha256, model::kModelSha256) != 0) return -1;  // model_data and config differ
  const tflite::Model* m = tflite::GetModel(g_model_data);
  if (m->version() != TFLITE_SCHEMA_VERSION) return -1;

  static model::OpResolver resolver;
  if (model::RegisterOps(resolver) != kTfLiteOk) return -1;
  static tflite::MicroInterpreter interpreter(m, resolver, tensor_arena, model::kTensorArenaSize);
  if (interpreter.AllocateTensors() != kTfLiteOk) return -1;  // arena too small: see model_config.h

  TfLiteTensor* input = interpreter.input(0);
@FILL@

  if (interpreter.Invoke() != kTfLiteOk) return -1;

  const TfLiteTensor* output = interpreter.output(0);
  if (model::kOutputSize == 1) {  // one sigmoid score: class 1 when it exceeds 0.5
    return @SCORE@ ? 1 : 0;
  }
  int best = 0;
  for (size_t i = 1; i < model::kOutputSize; ++i) {
    if (output->data.@OUT@[i] > output->data.@OUT@[best]) best = (int)i;
  }
  return best;
}
"""
    if arduino:
        tail = """
void setup() {
  Serial.begin(115200);
  while (!Serial) {}
  int best = RunOnce();
  Serial.print("best class: ");
  Serial.println(best);
  if (best >= 0 && best < model::kLabelCount) Serial.println(model::kLabels[best]);
}

void loop() {}
"""
    else:
        tail = """
int main() {
  int best = RunOnce();
  if (best < 0) {
    printf("inference failed\\n");
    return 1;
  }
  printf("best class: %d %s\\n", best, best < model::kLabelCount ? model::kLabels[best] : "");
  return 0;
}
"""
    body = body.replace("@FILL@", fill).replace("@SCORE@", score).replace("@OUT@", out_field)
    return _banner(model_name, "example use") + "\n" + includes + body + tail


def render_library_properties(lib: str, model_name: str) -> str:
    return (f"name={lib}\nversion=1.0.0\nauthor=edgeimpro\nmaintainer=edgeimpro\n"
            f"sentence=TFLite Micro model {one_line(model_name)}, exported by edgeimpro {__version__}.\n"
            "paragraph=Model array, op resolver and arena size for TensorFlow Lite Micro (the "
            f"{ARDUINO_TFLM_LIBRARY} library).\n"
            "category=Data Processing\nurl=https://github.com/tensorflow/tflite-micro\narchitectures=*\n"
            f"depends={ARDUINO_TFLM_LIBRARY}\n"
            "includes=model_data.h,model_ops.h,model_config.h\n")


_MODEL_CMAKE = """\
# Generated by edgeimpro @VERSION@ from @MODEL@: the model of a TensorFlow Lite Micro project.
# In your CMakeLists.txt:
#   include(path/to/this/folder/model.cmake)
#   target_link_libraries(app PRIVATE @NAME@ <your TFLM library>)
# The library @NAME@ holds model_data.cc (the model array) and puts this folder on the include path
# (model_data.h, model_ops.h, model_config.h); model_ops.h includes TFLM's headers, from your TFLM library.
if(NOT TARGET @NAME@)
  add_library(@NAME@ STATIC "${CMAKE_CURRENT_LIST_DIR}/model_data.cc")
  target_include_directories(@NAME@ PUBLIC "${CMAKE_CURRENT_LIST_DIR}")
  target_compile_features(@NAME@ PUBLIC cxx_std_11)
endif()
"""


def render_model_cmake(name: str, model_name: str) -> str:
    return (_MODEL_CMAKE.replace("@VERSION@", __version__).replace("@MODEL@", one_line(model_name))
            .replace("@NAME@", name))


# ---------------------------------------------------------------------------------------------- io


def _labels(model_path: Path, graph: Graph) -> list[str]:
    card = find_card(model_path)
    if card is None or not card.labels:
        return []
    if card.tflite_sha256 and card.tflite_sha256 != graph.sha256:
        raise ModelError(f"{model_path.with_name('model.json')} describes another model (sha256 "
                         f"{card.tflite_sha256[:12]}..., {model_path.name} is {graph.sha256[:12]}...)",
                         hint="re-run `edgeimpro convert`, or move the stale model.json away")
    bad = [label for label in card.labels if not isinstance(label, str)]
    if bad:
        raise ModelError(f"{model_path.with_name('model.json')} lists {len(bad)} label(s) that are not strings, "
                         f"e.g. {bad[0]!r}", hint='write "labels" as a list of strings, one per model output')
    classes = graph.output_tensors[0].shape[-1] if graph.output_tensors and graph.output_tensors[0].shape else 0
    if len(card.labels) != classes and not (classes == 1 and len(card.labels) == 2):
        raise ModelError(f"model.json lists {len(card.labels)} labels but the model outputs {classes} scores",
                         hint="re-run `edgeimpro convert` so model.json matches the model")
    return list(card.labels)


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a
