"""TFLite Micro export: the C++ a TFLM user drops into their firmware.

Files (plain layout; the Arduino layout puts them under src/ with .cpp sources and adds
library.properties and an example sketch):
  model_data.h / model_data.cc  the .tflite bytes as an `alignas(16)` const array, its length and sha256
  model_ops.h                   `model::OpResolver` (MicroMutableOpResolver<N>) and `model::RegisterOps()`
                                with exactly the model's ops
  model_config.h                arena size, input/output shapes and quantization, labels
  main.cc                       a short example: AllocateTensors, fill the input, Invoke, read the output
  edgeimpro_export.json         what was exported from what (marks the folder as ours for re-export)

Arena size = the 32-bit estimate of TFLM's measured need (edgeimpro.references.estimate_arena_32bit)
plus ARENA_MARGIN_FRACTION (at least ARENA_MARGIN_MIN), never below the 64-bit measurement + 16 B so the
same config also runs in a host build. The margin covers kernel scratch buffers of optimized kernels
(CMSIS-NN im2col / depthwise buffers, which the reference kernels measured here do not need) and the
alignment of the arena start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeimpro import __version__
from edgeimpro.codegen.output import check_out_dir, read_model, write_export
from edgeimpro.errors import ModelError, UsageError
from edgeimpro.escape import c_comment, c_string, one_line
from edgeimpro.graph.loader import load_graph
from edgeimpro.graph.model import Graph, Tensor
from edgeimpro.graph.validate import TFLM_OPS, resolver_ops, validate_int8
from edgeimpro.modelcard import find_card

EXPORT_FORMAT_VERSION = 1
LAYOUTS = ("plain", "arduino")
ARENA_MARGIN_FRACTION = 0.05
ARENA_MARGIN_MIN = 1024
ARENA_ALIGNMENT = 16
MODEL_ALIGNMENT = 16                    # TFLM reads the flatbuffer in place: unaligned arrays hard-fault


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

    def to_dict(self) -> dict[str, Any]:
        return {"target": "tflm", "out_dir": str(self.out_dir), "layout": self.layout,
                "files": [str(f) for f in self.files], "arena": self.arena.to_dict(),
                "ops": [{"op": op, "resolver": m} for op, m in self.ops],
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
                arena_size: int | None = None, supported_ops: Collection[str] = TFLM_OPS) -> TflmExport:
    """Validate `model_path` for TFLM's int8 path and write the export to `out_dir` atomically."""
    model_path, out_dir = Path(model_path), Path(out_dir)
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r}", hint="use " + " or ".join(LAYOUTS))
    check_out_dir(out_dir)
    data = read_model(model_path)
    graph = load_graph(data)
    validate_int8(graph, supported_ops, "TFLite Micro")
    ops = resolver_ops(graph, {k: TFLM_OPS[k] for k in TFLM_OPS if k in supported_ops})
    arena = size_arena(data, arena_size)
    labels = _labels(model_path, graph)

    src = "src/" if layout == "arduino" else ""
    cc = ".cpp" if layout == "arduino" else ".cc"
    files: dict[str, str] = {
        f"{src}model_data.h": render_model_data_h(graph, model_path.name),
        f"{src}model_data{cc}": render_model_data_cc(data, graph, model_path.name),
        f"{src}model_ops.h": render_model_ops_h(ops, model_path.name),
        f"{src}model_config.h": render_model_config_h(graph, arena, labels, model_path.name),
    }
    if layout == "arduino":
        lib = _arduino_name(out_dir.name)
        files["library.properties"] = render_library_properties(lib, model_path.name)
        files[f"examples/{lib}_example/{lib}_example.ino"] = render_main(model_path.name, arduino=True)
    else:
        files["main.cc"] = render_main(model_path.name, arduino=False)
    manifest = {"format": "edgeimpro-export", "version": EXPORT_FORMAT_VERSION, "edgeimpro": __version__,
                "target": "tflm", "layout": layout, "model": model_path.name, "model_sha256": graph.sha256,
                "model_bytes": len(data), "arena": arena.to_dict(),
                "ops": [op for op, _ in ops], "files": sorted(files)}
    write_export(out_dir, files, manifest)
    return TflmExport(out_dir, layout, [out_dir / f for f in sorted(files)], arena, ops, graph.sha256,
                      len(data), labels)


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


def render_model_ops_h(ops: list[tuple[str, str]], model_name: str) -> str:
    calls = "\n".join(f"  if (resolver.{method}() != kTfLiteOk) return kTfLiteError;  // {c_comment(op)}"
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
           f"constexpr size_t {prefix}Size = {t.size};   // elements (= bytes for int8)"]
    if t.quantization is not None and not t.quantization.per_channel:
        scale, zp = t.quantization.scalar
        out += [f"constexpr float {prefix}Scale = {scale!r}f;  // real = scale * (q - zero_point)",
                f"constexpr int32_t {prefix}ZeroPoint = {zp};"]
    return out + [""]


def render_main(model_name: str, arduino: bool) -> str:
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

  // Fill the input with a preprocessed image quantized as q = round(x / kInputScale) + kInputZeroPoint.
  TfLiteTensor* input = interpreter.input(0);
  for (size_t i = 0; i < model::kInputSize; ++i) input->data.int8[i] = (int8_t)model::kInputZeroPoint;

  if (interpreter.Invoke() != kTfLiteOk) return -1;

  const TfLiteTensor* output = interpreter.output(0);
  if (model::kOutputSize == 1) {  // one sigmoid score: class 1 when it exceeds 0.5
    return (output->data.int8[0] - model::kOutputZeroPoint) * model::kOutputScale > 0.5f ? 1 : 0;
  }
  int best = 0;
  for (size_t i = 1; i < model::kOutputSize; ++i) {
    if (output->data.int8[i] > output->data.int8[best]) best = (int)i;
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
    return _banner(model_name, "example use") + "\n" + includes + body + tail


def render_library_properties(lib: str, model_name: str) -> str:
    return (f"name={lib}\nversion=1.0.0\nauthor=edgeimpro\nmaintainer=edgeimpro\n"
            f"sentence=TFLite Micro model {one_line(model_name)}, exported by edgeimpro {__version__}.\n"
            "paragraph=Model array, op resolver and arena size; needs a TensorFlow Lite Micro Arduino "
            "library (Arduino_TensorFlowLite) installed.\n"
            "category=Data Processing\nurl=https://github.com/tensorflow/tflite-micro\narchitectures=*\n"
            "includes=model_data.h,model_ops.h,model_config.h\n")


def _arduino_name(name: str) -> str:
    lib = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "edgeimpro_model"
    return lib if lib[0].isalpha() else "m_" + lib


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
