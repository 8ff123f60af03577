"""`edgeimpro convert`: full-int8 conversion, float vs int8 agreement in tflite_micro, the card, atomicity, errors.

Self-contained: a tiny shapes dataset and a small CNN are made here (cached across runs), so these tests do
not depend on the training package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CACHE_DIR, cached

from edgeimpro.datasets.folder import load_images, scan_image_folder, split_items
from edgeimpro.errors import DataError, ModelError, UnsupportedOpError, UsageError
from edgeimpro.graph import load_graph
from edgeimpro.modelcard import ModelCard, sha256_file
from edgeimpro.preprocess import Preprocessing

pytestmark = pytest.mark.slow

CLASSES = ("circle", "square", "triangle")
IMAGE_SIZE = 40          # files are 40x40; the model takes 32x32: preprocessing resizes
MODEL_SIZE = 32
PER_CLASS = 80
VAL_SPLIT = 0.25
SEED = 1
CACHE_NAME = "convert-shapes-v1"


# --- fixtures: a tiny shapes dataset and a trained model with its card -----------------------------------

def write_shapes(folder: Path, per_class: int, size: int, seed: int) -> None:
    """Circles, squares and triangles of random colour, scale and position on noisy backgrounds (PNG)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for cls in CLASSES:
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            bg = rng.integers(0, 256, 3)
            px = np.clip(bg + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
            img = Image.fromarray(px)
            draw = ImageDraw.Draw(img)
            r = rng.uniform(0.25, 0.42) * size
            cx, cy = rng.uniform(r, size - r, 2)
            dark = bg.mean() > 127                 # a shape that stands out from its background
            colour = tuple(int(c) for c in (rng.integers(0, 90, 3) if dark else rng.integers(165, 256, 3)))
            if cls == "circle":
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
            elif cls == "square":
                draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
            else:
                draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
            img.save(folder / cls / f"{i:03d}.png")


def _build_trained(tmp: Path) -> None:
    import keras

    data = tmp / "data"
    write_shapes(data, PER_CLASS, IMAGE_SIZE, seed=0)
    keras.utils.set_random_seed(SEED)
    prep = Preprocessing(height=MODEL_SIZE, width=MODEL_SIZE, color="rgb")
    folder = scan_image_folder(data)
    train, _ = split_items(folder.items, VAL_SPLIT, SEED)
    loaded = load_images(train, prep)
    # Dynamic batch and an augmentation layer on purpose: convert must fix the batch and drop the augmentation.
    model = keras.Sequential([
        keras.Input((MODEL_SIZE, MODEL_SIZE, 3)),
        keras.layers.RandomFlip("horizontal", name="augment_flip"),
        keras.layers.Rescaling(1 / 255.0, name="rescale"),
        keras.layers.Conv2D(12, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(24, 3, activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(name="pool2"),
        keras.layers.Conv2D(32, 3, activation="relu", name="conv3"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(len(CLASSES), activation="softmax", name="classes"),
    ], name="shapes_cnn")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(loaded.x, loaded.y, epochs=30, batch_size=16, verbose=0)
    run = tmp / "run"
    run.mkdir()
    model.save(run / "model.keras")
    final_data = CACHE_DIR / CACHE_NAME / "data"      # where `cached` moves the folder when done
    ModelCard(labels=list(folder.classes), preprocessing=prep,
              training={"data_dir": str(final_data), "val_split": VAL_SPLIT, "seed": SEED}
              ).save(run / "model.json")


@pytest.fixture(scope="module")
def trained() -> Path:
    """Folder with data/ (class subfolders) and run/ (model.keras + model.json)."""
    return cached(CACHE_NAME, _build_trained)


@pytest.fixture
def run_copy(trained: Path, tmp_path: Path) -> Path:
    """A private copy of run/ (convert writes beside it)."""
    dst = tmp_path / "run"
    shutil.copytree(trained / "run", dst)
    return dst


@pytest.fixture(scope="module")
def converted(trained: Path, tmp_path_factory: pytest.TempPathFactory):
    from edgeimpro.quantize import convert_model

    run = tmp_path_factory.mktemp("converted") / "run"
    shutil.copytree(trained / "run", run)
    return convert_model(run / "model.keras", run / "model.tflite", samples=100)


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --- the converted model -------------------------------------------------------------------------------------

def test_converted_model_is_full_int8_with_batch_1(converted):
    g = load_graph(converted.tflite_path)
    (inp,), (out,) = g.input_tensors, g.output_tensors
    assert (inp.dtype, out.dtype) == ("int8", "int8")
    assert inp.shape == (1, MODEL_SIZE, MODEL_SIZE, 3) and not inp.dynamic
    assert out.shape == (1, len(CLASSES)) and not out.dynamic
    assert not {"SHAPE", "STRIDED_SLICE", "PACK", "DEQUANTIZE"} & set(g.opcodes)
    # The augmentation layer is gone; every activation is int8.
    assert all(g.tensors[i].dtype == "int8" for i in g.activation_tensors())
    assert not any("flip" in t.name.lower() for t in g.tensors)


def test_int8_model_runs_in_tflite_micro_and_agrees_with_float(converted, trained):
    """Independent of edgeimpro.quantize.evaluate: re-split, re-run both models, compare top-1."""
    import keras
    from tflite_micro.python.tflite_micro import runtime

    card = ModelCard.load(converted.card_path)
    folder = scan_image_folder(trained / "data")
    _, held_out = split_items(folder.items, VAL_SPLIT, SEED)
    assert len(held_out) == converted.accuracy.samples == 60
    x = load_images(held_out, card.preprocessing).x
    float_top1 = np.argmax(keras.models.load_model(trained / "run" / "model.keras").predict(x, verbose=0), axis=1)
    interp = runtime.Interpreter.from_file(str(converted.tflite_path), arena_size=200_000)
    int8_top1 = []
    for sample in x:
        interp.set_input(card.preprocessing.quantize(sample)[None], 0)
        interp.invoke()
        int8_top1.append(int(np.argmax(interp.get_output(0))))
    agreement = float(np.mean(float_top1 == np.array(int8_top1)))
    assert agreement >= 0.9
    assert converted.accuracy.agreement == pytest.approx(agreement)
    labels = np.array([y for _, y in held_out])
    assert converted.accuracy.int8_accuracy == pytest.approx(np.mean(np.array(int8_top1) == labels))
    assert converted.accuracy.float_accuracy == pytest.approx(np.mean(float_top1 == labels))
    assert converted.accuracy.float_accuracy >= 0.6      # the model learned something: agreement means something


def test_model_card_describes_the_file_written(converted):
    card = ModelCard.load(converted.card_path)
    assert converted.card_path == converted.tflite_path.with_name("model.json")
    assert card.tflite_sha256 == sha256_file(converted.tflite_path)
    assert card.tflite_file == "model.tflite"
    assert card.labels == list(CLASSES)
    g = load_graph(converted.tflite_path)
    for key, t in (("input", g.input_tensors[0]), ("output", g.output_tensors[0])):
        q = card.quantization[key]
        assert (q["scale"], q["zero_point"]) == t.quantization.scalar
        assert q["shape"] == list(t.shape) and q["dtype"] == "int8"
    assert (card.preprocessing.input_scale, card.preprocessing.input_zero_point) == g.input_tensors[0].quantization.scalar
    assert (card.preprocessing.height, card.preprocessing.width) == (MODEL_SIZE, MODEL_SIZE)
    assert card.training["val_split"] == VAL_SPLIT          # the training record is carried over
    conv = card.conversion
    assert conv["size_bytes"] == converted.tflite_path.stat().st_size
    assert conv["agreement"] == converted.accuracy.agreement
    assert conv["calibration"]["samples"] == 100
    assert conv["evaluation"]["samples"] == 60 and conv["evaluation"]["seed"] == SEED


def test_five_worst_layers_named_after_keras_layers(converted):
    worst = ModelCard.load(converted.card_path).conversion["worst_layers"]
    assert len(worst) == 5
    errors = [w["rmse_over_scale"] for w in worst]
    assert errors == sorted(errors, reverse=True) and all(e >= 0 for e in errors)
    keras_names = {"rescale", "conv1", "pool1", "conv2", "pool2", "conv3", "gap", "classes"}
    assert sum(w["layer"] in keras_names for w in worst) >= 4
    assert {w["op"] for w in worst} <= {"CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX", "MUL", "ADD"}


def test_cli_end_to_end_json(run_copy, tmp_path, capsys):
    from edgeimpro.cli.main import main

    out = tmp_path / "device" / "model.tflite"
    assert main(["convert", str(run_copy / "model.keras"), "-o", str(out), "--samples", "40",
                 "--eval-samples", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert Path(report["tflite"]) == out and out.exists()
    assert report["sha256"] == sha256_file(out)
    assert report["conversion"]["evaluation"]["samples"] == 30
    assert report["conversion"]["agreement"] >= 0.9
    assert ModelCard.load(out.with_name("model.json")).tflite_sha256 == report["sha256"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.json", "model.tflite"]


def test_cli_human_report(converted, monkeypatch, capsys):
    """The text report (no --json) shows the accuracies, the agreement and the five worst layers."""
    import edgeimpro.quantize
    from edgeimpro.cli.main import main

    monkeypatch.setattr(edgeimpro.quantize, "convert_model", lambda *args, **kwargs: converted)
    assert main(["convert", str(converted.tflite_path.with_suffix(".keras"))]) == 0
    out = capsys.readouterr().out
    acc = converted.accuracy
    assert f"held-out images: {acc.samples} " in out
    assert f"int8 {acc.int8_accuracy:6.1%}" in out and f"top-1 agreement {acc.agreement:6.1%}" in out
    table = out.split("largest quantization error")[1].splitlines()[1:]
    assert [line.split()[0] for line in table] == [e.layer for e in converted.worst_layers]


def test_collapse_recorded_by_training_is_repeated(run_copy, capsys):
    """A card whose training check says 'collapsed' gets a WARNING from convert (stderr, so --json stays
    JSON) and in the JSON report; the recorded check is kept in the new card."""
    from edgeimpro.cli.main import main
    from edgeimpro.training.collapse import check_collapse

    card = ModelCard.load(run_copy / "model.json")
    recorded = check_collapse([0, 1, 2] * 10, [1] * 30, card.labels).to_dict()
    card.training["collapse"] = recorded
    card.save(run_copy / "model.json")
    assert main(["convert", str(run_copy / "model.keras"), "--samples", "20", "--eval-samples", "20",
                 "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert len(report["warnings"]) == 1
    assert report["warnings"][0].startswith("training recorded (model.json) that this model learned nothing useful: "
                                            "it predicts 'square' for 30 of 30 validation images")
    assert captured.err.splitlines()[-1] == f"WARNING: {report['warnings'][0]}"
    assert ModelCard.load(run_copy / "model.json").training["collapse"] == recorded


def test_healthy_model_and_a_card_without_a_check_convert_without_warning(converted):
    # The fixture's card predates collapse checks (no training.collapse): it loads and converts as before,
    # and convert checks the int8 model itself on the held-out images.
    assert "collapse" not in converted.card.training
    assert converted.warnings == []
    check = converted.card.conversion["collapse"]
    assert check["collapsed"] is False and check["evaluated_on"] == "held-out (int8)"
    assert check["images"] == converted.accuracy.samples and check["reasons"] == []


def test_int8_collapse_is_warned(monkeypatch):
    """Float fine, int8 answering one class: the warning blames quantization."""
    from edgeimpro.quantize import converter
    from edgeimpro.quantize.evaluate import AccuracyReport

    y = np.array([0, 1, 2] * 10)
    report = AccuracyReport(30, 1.0, 1 / 3, 1 / 3, 20, "softmax", "tflite_micro", float_top1=y.copy(),
                            int8_top1=np.zeros(30, np.int64))
    check, warnings = converter._collapse_checks({}, report, y, list(CLASSES))
    assert check.collapsed and check.evaluated_on == "held-out (int8)"
    assert len(warnings) == 1 and warnings[0].startswith("the int8 model (the float model is fine: quantization "
                                                         "broke it) learned nothing useful: it predicts 'circle'")


@pytest.mark.unit
def test_evaluation_on_data_the_model_trained_on_is_marked(tmp_path):
    """A model trained with --val-split 0 has no held-out images: the card and report say so."""
    from PIL import Image

    from edgeimpro.quantize.data import plan_data

    for cls in CLASSES:
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    trained_on_all = plan_data(tmp_path, "model card", list(CLASSES), {"val_split": 0.0, "seed": 3}, samples=4)
    assert trained_on_all.seen_in_training and trained_on_all.val_fraction == 0.2
    assert len(trained_on_all.evaluation) == 3 and len(trained_on_all.calibration) == 4
    assert not plan_data(tmp_path, "model card", list(CLASSES), {"val_split": 0.25, "seed": 3},
                         samples=4).seen_in_training


# --- atomicity --------------------------------------------------------------------------------------------

def test_failing_calibration_writes_nothing_and_keeps_old_files(run_copy, monkeypatch):
    from edgeimpro.quantize import converter

    (run_copy / "model.tflite").write_bytes(b"old tflite")
    before = _listing(run_copy)
    real = converter.make_converter

    def broken(model, calibration):
        conv = real(model, calibration)

        def representative():
            yield [calibration[:1].astype(np.float32)]
            raise OSError("disk vanished while reading calibration images")

        conv.representative_dataset = representative
        return conv

    monkeypatch.setattr(converter, "make_converter", broken)
    with pytest.raises(Exception, match="disk vanished"):
        converter.convert_model(run_copy / "model.keras", run_copy / "model.tflite", samples=10)
    assert _listing(run_copy) == before


def test_ctrl_c_after_conversion_writes_nothing(run_copy, monkeypatch):
    from edgeimpro.quantize import converter

    before = _listing(run_copy)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(converter, "compare_float_int8", interrupted)
    with pytest.raises(KeyboardInterrupt):
        converter.convert_model(run_copy / "model.keras", samples=10)
    assert _listing(run_copy) == before


@pytest.mark.unit
def test_interrupted_rename_restores_previous_pair(tmp_path, monkeypatch):
    from edgeimpro import modelcard

    (tmp_path / "model.tflite").write_bytes(b"old tflite")
    (tmp_path / "model.json").write_bytes(b"old card")
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(Path(dst).name)
        if len(calls) == 2:                # the .tflite is in place, the card is not: Ctrl-C now
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(modelcard.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        modelcard.write_all_or_nothing([(tmp_path / "model.tflite", b"new tflite"),
                                        (tmp_path / "model.json", b"new card")])
    monkeypatch.setattr(modelcard.os, "replace", real_replace)
    assert _listing(tmp_path) == {"model.json": b"old card", "model.tflite": b"old tflite"}
    assert not list(tmp_path.glob(".*"))

    new_dir = tmp_path / "fresh" / "sub"
    calls.clear()
    monkeypatch.setattr(modelcard.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        modelcard.write_all_or_nothing([(new_dir / "model.tflite", b"t"), (new_dir / "model.json", b"c")])
    assert not (tmp_path / "fresh").exists()   # folders made for the output are removed again


@pytest.mark.unit
def test_written_files_get_normal_permissions(tmp_path):
    from edgeimpro.modelcard import write_all_or_nothing

    (tmp_path / "model.json").write_bytes(b"old")
    (tmp_path / "model.json").chmod(0o640)
    write_all_or_nothing([(tmp_path / "model.tflite", b"t"), (tmp_path / "model.json", b"c")])
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "model.tflite").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "model.json").stat().st_mode & 0o777 == 0o640     # an existing file keeps its mode
    assert _listing(tmp_path) == {"model.json": b"c", "model.tflite": b"t"}


def test_sigmoid_head_thresholds_dequantized_int8_output():
    """One-unit sigmoid head: top-1 is p > 0.5 on the float side and on the dequantized int8 side."""
    import keras

    from edgeimpro.quantize import to_int8_tflite
    from edgeimpro.quantize.evaluate import compare_float_int8

    inp = keras.Input((8, 8, 1), batch_size=1)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inp))
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inp, dense(x))
    dense.set_weights([np.array([[20.0]], np.float32), np.array([-10.0], np.float32)])  # bright -> class 1
    rng = np.random.default_rng(0)
    levels = np.concatenate([rng.uniform(10, 100, 20), rng.uniform(160, 250, 20)])
    images = np.broadcast_to(levels[:, None, None, None], (40, 8, 8, 1)).astype(np.float32)
    labels = (levels > 127).astype(np.int64)
    tflite = to_int8_tflite(model, images)
    graph = load_graph(tflite)
    prep = Preprocessing(8, 8, "grayscale").with_quantization(*graph.input_tensors[0].quantization.scalar)
    report = compare_float_int8(lambda b: model.predict(b, batch_size=1, verbose=0), tflite, graph,
                                images, labels, prep)
    assert report.head == "sigmoid" and report.samples == 40
    assert report.float_accuracy == report.int8_accuracy == report.agreement == 1.0


# --- errors -----------------------------------------------------------------------------------------------

@pytest.mark.unit
def test_missing_model_file(tmp_path):
    from edgeimpro.quantize import convert_model

    with pytest.raises(ModelError, match="model file not found") as e:
        convert_model(tmp_path / "nope.keras")
    assert "edgeimpro train" in e.value.hint


@pytest.mark.unit
def test_not_a_keras_model(tmp_path):
    from edgeimpro.quantize import convert_model

    bad = tmp_path / "model.keras"
    bad.write_text("this is not a zip")
    with pytest.raises(ModelError, match="is not a Keras model"):
        convert_model(bad, calibration_dir=tmp_path)
    tfl = tmp_path / "model.tflite"
    tfl.write_bytes(b"x")
    with pytest.raises(ModelError, match="not a Keras model file") as e:
        convert_model(tfl, tmp_path / "out.tflite")
    assert "inspect" in e.value.hint


def test_missing_calibration_folder(run_copy, tmp_path):
    from edgeimpro.cli.main import main
    from edgeimpro.quantize import convert_model

    with pytest.raises(DataError, match="dataset folder not found: .*nowhere"):
        convert_model(run_copy / "model.keras", calibration_dir=tmp_path / "nowhere")
    assert main(["convert", str(run_copy / "model.keras"), "--calibration", str(tmp_path / "nowhere")]) == 3
    assert not (run_copy / "model.tflite").exists()


def test_calibration_folder_without_images(run_copy, tmp_path):
    from edgeimpro.quantize import convert_model

    empty = tmp_path / "empty"
    (empty / "circle").mkdir(parents=True)
    (empty / "circle" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="needs at least 1 class subfolders with images; found none"):
        convert_model(run_copy / "model.keras", calibration_dir=empty)


def test_calibration_folder_with_unknown_classes(run_copy, tmp_path):
    from edgeimpro.quantize import convert_model

    write_shapes(tmp_path / "other", 2, 24, seed=5)
    (tmp_path / "other" / "square").rename(tmp_path / "other" / "hexagon")
    with pytest.raises(DataError, match="class folders the model does not know: hexagon"):
        convert_model(run_copy / "model.keras", calibration_dir=tmp_path / "other")


def test_calibration_folder_of_other_image_size_is_resized(run_copy, tmp_path):
    """A --calibration folder of 56x56 images (model: 32x32) converts; its held-out split is evaluated."""
    from edgeimpro.quantize import convert_model

    write_shapes(tmp_path / "big", 12, 56, seed=7)
    result = convert_model(run_copy / "model.keras", tmp_path / "out" / "model.tflite",
                           calibration_dir=tmp_path / "big", samples=20)
    assert result.data.source == "--calibration"
    assert result.calibration_samples == 20 and result.accuracy.samples == 9   # 36 images, 25% held out
    assert result.card.conversion["calibration"]["data_dir"] == str(tmp_path / "big")


@pytest.mark.unit
def test_no_card_and_no_calibration(tmp_path):
    import zipfile

    from edgeimpro.quantize import convert_model
    model = tmp_path / "model.keras"
    with zipfile.ZipFile(model, "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(UsageError, match="no model.json beside"):
        convert_model(model)


def test_op_without_int8_kernel_is_refused():
    """The converter silently keeps float islands (DEQUANTIZE -> SIN -> QUANTIZE); we refuse them."""
    import keras

    from edgeimpro.quantize import check_full_int8, to_int8_tflite

    inp = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(4, 3)(inp)
    x = keras.layers.Lambda(lambda t: keras.ops.sin(t), name="wave")(x)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    calib = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    tflite = to_int8_tflite(keras.Model(inp, out), calib)
    with pytest.raises(UnsupportedOpError, match=r"ops left in float: SIN \(.*wave.*\)") as e:
        check_full_int8(load_graph(tflite))
    assert "replace that layer" in e.value.hint
    # An op with no TFLite builtin at all fails in the converter: named, with its Keras layer.
    x = keras.layers.Lambda(lambda t: keras.ops.erf(t), name="smooth")(keras.layers.Conv2D(4, 3)(inp))
    with pytest.raises(UnsupportedOpError, match=r"uses Erf \(in layer smooth\)"):
        to_int8_tflite(keras.Model(inp, keras.layers.Flatten()(x)), calib)


@pytest.mark.unit
def test_top1_of_sigmoid_softmax_and_logit_heads():
    from edgeimpro.quantize import Head

    assert Head("sigmoid", 1).top1(np.array([[0.2], [0.5], [0.51]])).tolist() == [0, 0, 1]
    assert Head("logits", 1).top1(np.array([[-0.1], [0.3]])).tolist() == [0, 1]
    assert Head("softmax", 3).top1(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])).tolist() == [1, 0]


@pytest.mark.unit
def test_cli_default_samples_is_the_library_default():
    from edgeimpro.cli import convert as cli_convert
    from edgeimpro.quantize import DEFAULT_SAMPLES

    assert cli_convert.DEFAULT_SAMPLES == DEFAULT_SAMPLES


@pytest.mark.unit
def test_importing_convert_does_not_load_tensorflow():
    code = ("import sys, edgeimpro.quantize, edgeimpro.cli.convert; "
            "sys.exit(int('tensorflow' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent).returncode == 0


@pytest.mark.unit
def test_card_without_preprocessing_is_a_clear_error(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"format": "edgeimpro-model-card", "version": 1,
                                                     "labels": ["a", "b"]}))
    with pytest.raises(ModelError, match="model.json has no preprocessing section") as e:
        ModelCard.load(tmp_path / "model.json")
    assert "edgeimpro convert" in e.value.hint
