"""`edgeimpro export --target tflm`: the emitted C parses back to the model, the resolver holds exactly the
model's ops, the arena runs in tflite_micro, the layouts, atomic writes and the error messages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import CACHE_DIR, cached, mlperf_model
from tiny_models import tiny_model

from edgeimpro.cli.main import main
from edgeimpro.codegen import tflm
from edgeimpro.codegen.output import MANIFEST
from edgeimpro.codegen.tflm import export_tflm
from edgeimpro.errors import ModelError, UnsupportedOpError, UsageError
from edgeimpro.graph import load_graph
from edgeimpro.graph.validate import TFLM_OPS
from edgeimpro.modelcard import ModelCard
from edgeimpro.preprocess import Preprocessing

ARENA_CORTEX_M4 = {"vww": 100_660, "resnet8": 54_340}    # measured on a Cortex-M4 (DESIGN.md §7)
KWS_LABELS = ["silence", "unknown", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


@pytest.fixture(autouse=True)
def _needs_tflm() -> None:
    pytest.importorskip("tflite_micro")


def parse_c_array(text: str, name: str) -> tuple[bytes, str]:
    """The bytes of `<decl> name[] = { ... };` and the declaration before the name."""
    m = re.search(r"^([^\n]*)\b" + name + r"\[\]\s*=\s*\{(.*?)\};", text, re.S | re.M)
    assert m, f"no array {name}"
    values = [int(v, 0) for v in m.group(2).replace("\n", " ").split(",") if v.strip()]
    assert all(0 <= v <= 255 for v in values)
    return bytes(values), m.group(1)


def c_int(text: str, name: str) -> int:
    m = re.search(name + r"\s*=\s*(\d+)\s*;", text)
    assert m, f"no constant {name}"
    return int(m.group(1))


def resolver_calls(text: str) -> list[str]:
    return re.findall(r"resolver\.(Add\w+)\(\)", text)


@pytest.mark.unit
@pytest.mark.parametrize("name", ["vww", "resnet8", "kws"])
def test_export_parses_back_and_arena_runs(name: str, tmp_path: Path) -> None:
    from tflite_micro.python.tflite_micro import runtime

    model = mlperf_model(name)
    data = model.read_bytes()
    result = export_tflm(model, tmp_path / "out")
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"model_data.cc", "model_data.h", "model_ops.h", "model_config.h",
                                               "main.cc", "model.cmake", MANIFEST}

    cc = (out / "model_data.cc").read_text()
    array, decl = parse_c_array(cc, "g_model_data")
    assert array == data
    assert decl.strip() == "alignas(16) const unsigned char"
    assert c_int(cc, "g_model_data_len") == len(data)
    sha = load_graph(data).sha256
    assert f'g_model_sha256[] = "{sha}"' in cc
    assert "extern const unsigned char g_model_data[];" in (out / "model_data.h").read_text()

    graph = load_graph(data)
    ops_h = (out / "model_ops.h").read_text()
    calls = resolver_calls(ops_h)
    assert sorted(calls) == sorted(TFLM_OPS[op] for op in set(graph.opcodes))   # exactly, no duplicates
    assert c_int(ops_h, "kOpCount") == len(calls) == len(set(graph.opcodes))
    assert "MicroMutableOpResolver<kOpCount>" in ops_h

    config = (out / "model_config.h").read_text()
    arena = c_int(config, "kTensorArenaSize")
    assert arena == result.arena.size and arena % 16 == 0
    assert arena >= result.arena.measured_x86_64 + 16
    assert arena >= result.arena.estimate_32bit + result.arena.margin
    if name in ARENA_CORTEX_M4:
        assert arena >= ARENA_CORTEX_M4[name]
    inp = graph.input_tensors[0]
    assert f"kInputDims[4] = {{{', '.join(map(str, inp.shape))}}}" in config
    assert c_int(config, "kInputSize") == inp.size
    assert f"kInputZeroPoint = {inp.quantization.scalar[1]};" in config

    # tflite_micro runs the model with the declared arena and with the 64-bit measurement
    x = np.random.default_rng(0).integers(-128, 128, inp.shape, dtype=np.int8)
    outs = []
    for size in (arena, result.arena.measured_x86_64 + 16):
        interp = runtime.Interpreter.from_bytes(array, arena_size=size)
        interp.set_input(x, 0)
        interp.invoke()
        outs.append(interp.get_output(0))
    assert np.array_equal(outs[0], outs[1])

    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["model_sha256"] == sha and manifest["arena"]["size"] == arena
    assert manifest["ops"] == graph.opcodes


@pytest.mark.unit
def test_labels_from_model_card(tmp_path: Path) -> None:
    model = tmp_path / "kws.tflite"
    shutil.copyfile(mlperf_model("kws"), model)
    ModelCard(labels=KWS_LABELS, preprocessing=Preprocessing(49, 10, "grayscale"),
              tflite_sha256=load_graph(model).sha256).save(model.with_name("model.json"))
    result = export_tflm(model, tmp_path / "out")
    assert result.labels == KWS_LABELS
    config = (tmp_path / "out" / "model_config.h").read_text()
    assert c_int(config, "kLabelCount") == 12
    assert 'kLabelNames[kLabelCount] = {"silence", "unknown", "yes", "no", ' in config

    ModelCard(labels=KWS_LABELS, preprocessing=Preprocessing(49, 10, "grayscale"),
              tflite_sha256="0" * 64).save(model.with_name("model.json"))
    with pytest.raises(ModelError, match="describes another model"):
        export_tflm(model, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


@pytest.mark.unit
def test_arduino_layout_is_named_after_the_model_and_depends_on_tflm(tmp_path: Path) -> None:
    out = tmp_path / "ard"
    export_tflm(mlperf_model("kws"), out, layout="arduino")
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files == {"library.properties", "src/model_data.h", "src/model_data.cpp", "src/model_ops.h",
                     "src/model_config.h", "examples/kws_ref_model_example/kws_ref_model_example.ino", MANIFEST}
    props = dict(line.split("=", 1) for line in (out / "library.properties").read_text().splitlines())
    assert props["name"] == "kws_ref_model" and props["architectures"] == "*"   # the model's, not "ard"
    assert props["depends"] == "Arduino_TensorFlowLite"
    array, _ = parse_c_array((out / "src/model_data.cpp").read_text(), "g_model_data")
    assert array == mlperf_model("kws").read_bytes()
    ino = (out / "examples/kws_ref_model_example/kws_ref_model_example.ino").read_text()
    assert "void setup()" in ino and "AllocateTensors()" in ino and "Invoke()" in ino
    export_tflm(mlperf_model("kws"), tmp_path / "named", layout="arduino", name="wake_word")
    assert "name=wake_word\n" in (tmp_path / "named" / "library.properties").read_text()


@pytest.mark.unit
def test_hybrid_and_uint8_models_are_refused_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"^hybrid model: op \d+ "):
        export_tflm(tiny_model("hybrid"), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_unsupported_op_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOpError, match=r"TFLite Micro has no kernel for GELU"):
        export_tflm(tiny_model("gelu"), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.unit
def test_reexport_replaces_and_foreign_folder_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_tflm(mlperf_model("kws"), out)
    (out / "main.cc").write_text("edited")
    export_tflm(mlperf_model("resnet8"), out)                 # our own export: replaced whole
    assert (out / "main.cc").read_text() != "edited"
    assert json.loads((out / MANIFEST).read_text())["model"] == "pretrainedResnet_quant.tflite"

    foreign = tmp_path / "firmware"
    foreign.mkdir()
    (foreign / "main.c").write_text("int main(void) { return 0; }\n")
    with pytest.raises(UsageError, match="not empty and was not written by `edgeimpro export`"):
        export_tflm(mlperf_model("kws"), foreign)
    assert [p.name for p in foreign.iterdir()] == ["main.c"]


@pytest.mark.unit
def test_failure_while_writing_keeps_the_previous_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    export_tflm(mlperf_model("kws"), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*args: object, **kwargs: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(tflm, "render_main", boom)
    with pytest.raises(OSError, match="disk full"):
        export_tflm(mlperf_model("resnet8"), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]     # no temporary folders left behind


@pytest.mark.unit
def test_cli_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["export", str(mlperf_model("kws")), "--target", "tflm", "-o", str(out)]) == 0
    assert (out / "model_data.cc").exists()
    assert main(["export", str(tiny_model("hybrid")), "--target", "tflm", "-o", str(tmp_path / "f")]) == 4
    err = capsys.readouterr().err
    assert err.startswith("error: hybrid model") and "hint: convert without quantization" in err
    assert main(["export", str(mlperf_model("kws")), "-o", str(tmp_path / "a"), "--arena-size", "30000"]) == 0
    assert c_int((tmp_path / "a" / "model_config.h").read_text(), "kTensorArenaSize") == 30000


@pytest.mark.host
def test_model_data_compiles_aligned(tmp_path: Path) -> None:
    """The C++ compiler reads the array back to the exact bytes, 16-byte aligned."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not installed")
    out = tmp_path / "out"
    export_tflm(mlperf_model("kws"), out)
    (tmp_path / "dump.cc").write_text(
        '#include <cstdint>\n#include <cstdio>\n#include "model_data.h"\n#include "model_config.h"\n'
        "int main() {\n"
        "  if (reinterpret_cast<uintptr_t>(g_model_data) % 16 != 0) return 2;\n"
        "  fwrite(g_model_data, 1, g_model_data_len, stdout);\n"
        "  return model::kTensorArenaSize > 0 ? 0 : 3;\n}\n")
    exe = tmp_path / "dump"
    subprocess.run([gxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I", str(out), str(tmp_path / "dump.cc"),
                    str(out / "model_data.cc"), "-o", str(exe)], check=True, capture_output=True)
    r = subprocess.run([str(exe)], capture_output=True, check=True)
    assert r.stdout == mlperf_model("kws").read_bytes()


# --- models TFLM runs besides full int8: float32 and 16x8 (int16 activations, int8 weights) ---------------

def _tflm_models(out: Path) -> None:
    """A tiny float32 CNN (hello_world-style: float in, float out) and the same CNN with 16x8 quantization
    (int16 activations and interface, as micro_speech_lstm)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(zlib.crc32(b"tflm-export"))
    inp = keras.Input((8, 8, 3), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    (out / "float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    conv.representative_dataset = lambda: ([rng.random((1, 8, 8, 3), dtype=np.float32)] for _ in range(8))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int16
    (out / "int16x8.tflite").write_bytes(conv.convert())


def tflm_model(name: str) -> Path:
    if not (CACHE_DIR / "tflm-export-models-v1" / ".complete").exists():
        pytest.importorskip("tensorflow")
    return cached("tflm-export-models-v1", _tflm_models) / f"{name}.tflite"


@pytest.mark.unit
@pytest.mark.parametrize(("name", "activations", "dtype"), [("float", "float32", "float32"),
                                                             ("int16x8", "int16x8", "int16")])
def test_models_tflm_runs_besides_int8_are_exported(name: str, activations: str, dtype: str,
                                                    tmp_path: Path) -> None:
    from tflite_micro.python.tflite_micro import runtime

    model = tflm_model(name)
    graph = load_graph(model)
    assert graph.input_tensors[0].dtype == dtype
    result = export_tflm(model, tmp_path / "out")
    assert result.activations == activations
    ops_h = (tmp_path / "out" / "model_ops.h").read_text()
    assert sorted(resolver_calls(ops_h)) == sorted(TFLM_OPS[op] for op in set(graph.opcodes))
    assert f"// FULLY_CONNECTED on {dtype}" in ops_h
    assert result.op_types["CONV_2D"] == [dtype]
    main_cc = (tmp_path / "out" / "main.cc").read_text()
    field = {"float32": "f", "int16": "i16"}[dtype]
    assert f"input->data.{field}[i]" in main_cc and f"output->data.{field}[i]" in main_cc
    assert "data.int8" not in main_cc
    if dtype == "float32":
        assert "kInputScale" not in (tmp_path / "out" / "model_config.h").read_text()
    # the declared arena runs the model in tflite_micro
    arena = c_int((tmp_path / "out" / "model_config.h").read_text(), "kTensorArenaSize")
    interp = runtime.Interpreter.from_bytes(model.read_bytes(), arena_size=arena)
    interp.set_input(np.ones(graph.input_tensors[0].shape, dtype), 0)
    interp.invoke()
    assert interp.get_output(0).shape == tuple(graph.output_tensors[0].shape)


@pytest.mark.unit
def test_a_model_tflm_cannot_invoke_is_refused_with_tflms_words(tmp_path: Path) -> None:
    """Verification runs the model in tflite_micro: a float model whose input was edited to int32 passes
    the static checks (int32 tensors are legal), TFLM's CONV_2D refuses it, and the error says so."""
    from tiny_models import edit_model

    def to_int32_input(m) -> None:   # the float model's input made int32: no TFLM conv kernel takes it
        sg = m.subgraphs[0]
        sg.tensors[sg.inputs[0]].type = 2   # INT32
    data = edit_model(tflm_model("float").read_bytes(), to_int32_input)
    (tmp_path / "bad.tflite").write_bytes(data)
    with pytest.raises(ModelError, match=r"TFLite Micro cannot prepare the model: .*CONV_2D.*failed to prepare"):
        export_tflm(tmp_path / "bad.tflite", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.host
def test_model_cmake_adds_the_model_to_a_users_cmake_project(tmp_path: Path) -> None:
    for tool in ("cmake", "ninja", "g++"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    out = tmp_path / "kws export"
    export_tflm(mlperf_model("kws"), out, name="kws")
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.cc").write_text(
        '#include <cstdio>\n#include <cstring>\n#include "model_data.h"\n#include "model_config.h"\n'
        "int main() {\n  if (std::strcmp(g_model_sha256, model::kModelSha256) != 0) return 2;\n"
        "  fwrite(g_model_data, 1, g_model_data_len, stdout);\n  return 0;\n}\n")
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app CXX)\nset(CMAKE_CXX_FLAGS \"-Wall -Wextra -Werror\")\n"
        f'include("{out}/model.cmake")\nadd_executable(app main.cc)\ntarget_link_libraries(app PRIVATE kws)\n')
    for cmd in (["cmake", "-S", str(app), "-B", str(app / "build"), "-G", "Ninja"],
                ["cmake", "--build", str(app / "build")]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    r = subprocess.run([str(app / "build" / "app")], capture_output=True, check=True)
    assert r.stdout == mlperf_model("kws").read_bytes()
