"""`edgeimpro infer` and the frame sources: files, folders, .npy, video, cameras, runtimes, no TensorFlow.

The model with a card is a tiny colour classifier (channel means -> red / green / blue), built once with
TensorFlow and cached: every source can be checked for the right answer, channel order included."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CACHE_DIR, ROOT, cached, mlperf_model
from PIL import Image

from edgeimpro.cli.main import main
from edgeimpro.errors import DataError, DependencyError, UsageError
from edgeimpro.infer import (
    FramePreparer,
    InferenceSession,
    annotated_name,
    open_runtime,
    preprocessing_from_input,
)
from edgeimpro.preprocess import Preprocessing
from edgeimpro.references import LiteRTReference, TensorInfo
from edgeimpro.sources import CameraFrames, Chain, Frame, NpyFrames, open_source

pytestmark = pytest.mark.unit

COLOUR_CACHE = "infer-colour-model-v1"
LABELS = ["red", "green", "blue"]
H, W = 24, 32                     # not square: catches a swapped height and width
COLOURS = {"red": (220, 40, 30), "green": (30, 200, 60), "blue": (40, 50, 210)}
TINY = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"
RUNTIME_MODULES = ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime",
                   "tflite_runtime.interpreter", "tensorflow")


@pytest.fixture(autouse=True)
def _needs_litert() -> None:
    pytest.importorskip("ai_edge_litert")


# ---------------------------------------------------------------------------------------------- fixtures


def colour_model() -> Path:
    """model.tflite (int8, 24x32 RGB) + model.json: class = the largest channel mean."""
    if not (CACHE_DIR / COLOUR_CACHE / ".complete").exists() and importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is needed to build the test model")
    return cached(COLOUR_CACHE, _build_colour_model) / "model.tflite"


def _build_colour_model(out: Path) -> None:
    import warnings

    import keras
    import tensorflow as tf

    from edgeimpro.graph import load_graph
    from edgeimpro.modelcard import ModelCard, sha256_file

    warnings.filterwarnings("ignore", message="Statistics for quantized inputs")

    inp = keras.Input((H, W, 3), batch_size=1)
    x = keras.layers.Rescaling(1 / 255)(inp)                       # the repo's convention: pixels in
    conv = keras.layers.Conv2D(3, 1, use_bias=False, activation="relu")
    x = keras.layers.GlobalAveragePooling2D()(conv(x))
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inp, dense(x))
    conv.set_weights([np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)])
    dense.set_weights([6 * np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])
    rng = np.random.default_rng(0)

    def calibration():
        for _ in range(32):
            img = rng.integers(0, 256, (1, 1, 1, 3)) + rng.normal(0, 20, (1, H, W, 3))
            yield [np.clip(img, 0, 255).astype(np.float32)]

    conv_ = tf.lite.TFLiteConverter.from_keras_model(model)
    conv_.optimizations = [tf.lite.Optimize.DEFAULT]
    conv_.representative_dataset = calibration
    conv_.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv_.inference_input_type = tf.int8
    conv_.inference_output_type = tf.int8
    path = out / "model.tflite"
    path.write_bytes(conv_.convert())
    graph = load_graph(path)
    scale, zero = graph.tensors[graph.inputs[0]].quantization.scalar
    card = ModelCard(labels=LABELS, preprocessing=Preprocessing(H, W, "rgb").with_quantization(scale, zero),
                     training={"note": "test fixture: class = largest channel mean"},
                     tflite_file="model.tflite", tflite_sha256=sha256_file(path))
    card.save(out / "model.json")


def colour_image(name: str, size: tuple[int, int] = (30, 40), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.array(COLOURS[name], np.float32) + rng.normal(0, 12, (*size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()                          # drop what building a fixture printed
    rc = main(["infer", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------- sources


def test_image_files_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = []
    for k, (name, suffix) in enumerate((("red", ".png"), ("green", ".jpg"), ("blue", ".bmp"))):
        p = tmp_path / f"{name}{suffix}"
        Image.fromarray(colour_image(name, (30 + 7 * k, 40 + 5 * k), seed=k)).save(p)
        files.append(p)
    rc, out, err = run_cli(capsys, colour_model(), *files, "--json", "--top-k", "2")
    assert rc == 0, err
    lines = json_lines(out)                                  # stdout holds only the frame lines
    assert [d["index"] for d in lines] == [0, 1, 2]
    assert [d["name"] for d in lines] == [p.name for p in files]
    assert [d["top"][0]["label"] for d in lines] == ["red", "green", "blue"]
    for d in lines:
        assert len(d["top"]) == 2 and d["top"][0]["score"] >= d["top"][1]["score"]
        assert d["preprocess_ms"] > 0 and d["invoke_ms"] > 0 and d["latency_ms"] >= d["invoke_ms"]
        assert d["label"] is None and "correct" not in d
    assert lines[0]["fps"] is None and lines[2]["fps"] > 0
    assert "model card model.json" in err                     # the header went to stderr


def test_folder_gives_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    for name in LABELS:
        (data / name).mkdir(parents=True)
        for k in range(2):
            Image.fromarray(colour_image(name, seed=k)).save(data / name / f"{k}.png")
    (data / "red" / "notes.txt").write_text("not an image")           # ignored like the dataset scanner does
    Image.fromarray(colour_image("green", seed=9)).save(data / "loose.png")   # no class: no label
    rc, out, err = run_cli(capsys, colour_model(), data, "--json")
    assert rc == 0, err
    lines = json_lines(out)
    assert [d["name"] for d in lines][:3] == ["loose.png", "blue/0.png", "blue/1.png"]   # class folders sorted
    assert lines[0]["label"] is None and "correct" not in lines[0]
    labelled = lines[1:]
    assert [d["label"] for d in labelled] == [n for n in sorted(LABELS) for _ in range(2)]
    assert all(d["correct"] is True and d["top"][0]["label"] == d["label"] for d in labelled)

    session = InferenceSession(colour_model())
    preds = [p for _, p in session.run(open_source([data]))]
    assert len(preds) == 7 and session.stats.labelled == 6 and session.stats.accuracy == 1.0


def write_video(path: Path, names: list[str], size: tuple[int, int] = (48, 64)) -> None:
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (size[1], size[0]))
    assert writer.isOpened()
    for k, name in enumerate(names):
        writer.write(cv2.cvtColor(colour_image(name, size, seed=k), cv2.COLOR_RGB2BGR))   # OpenCV writes BGR
    writer.release()


def test_video_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["red"] * 3 + ["green"] * 3 + ["blue"] * 3
    video = tmp_path / "clip.avi"
    write_video(video, names)
    rc, out, err = run_cli(capsys, colour_model(), "--video", video, "--json")
    assert rc == 0, err
    lines = json_lines(out)
    assert [d["top"][0]["label"] for d in lines] == names       # RGB order right: red is not blue
    assert [d["name"] for d in lines][:2] == ["clip.avi#0", "clip.avi#1"]
    # a video given as a SOURCE works the same; sources chain with running indices
    Image.fromarray(colour_image("blue")).save(tmp_path / "b.png")
    rc, out, err = run_cli(capsys, colour_model(), tmp_path / "b.png", video, "--json", "--top-k", "1")
    assert rc == 0, err
    lines = json_lines(out)
    assert [d["index"] for d in lines] == list(range(10))
    assert [d["top"][0]["label"] for d in lines] == ["blue", *names]


def test_npy_tensors_and_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session = InferenceSession(colour_model())
    images = np.stack([colour_image(n, (H, W), seed=3) for n in LABELS])
    tensors = np.concatenate([session.prepare(img) for img in images])       # (3, H, W, 3) int8
    np.save(tmp_path / "x.npy", tensors)
    np.save(tmp_path / "img.npy", images)
    rc, out, err = run_cli(capsys, colour_model(), tmp_path / "x.npy", tmp_path / "img.npy", "--json")
    assert rc == 0, err
    lines = json_lines(out)
    assert [d["name"] for d in lines][:2] == ["x.npy[0]", "x.npy[1]"]
    assert [d["top"][0]["label"] for d in lines] == LABELS * 2
    assert [d["top"] for d in lines[:3]] == [d["top"] for d in lines[3:]]    # same input, same scores
    np.save(tmp_path / "bad.npy", np.zeros((2, 5, 5, 3), np.int8))
    rc, _, err = run_cli(capsys, colour_model(), tmp_path / "bad.npy")
    assert rc == DataError.exit_code and "does not fit the model input int8 [1, 24, 32, 3]" in err
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3), np.int64))
    with pytest.raises(DataError, match="holds int64"):
        NpyFrames(tmp_path / "wrong.npy")


# ---------------------------------------------------------------------------------------------- results


def test_top_k_order_matches_the_runtime() -> None:
    model = colour_model()
    session = InferenceSession(model)
    img = np.zeros((H, W, 3), np.uint8)
    img[...] = (200, 90, 140)                 # red > blue > green, all distinct
    pred = session.predict(img, top_k=3)
    assert [c.label for c in pred.top] == ["red", "blue", "green"]
    raw = LiteRTReference(model).run(session.prepare(img))[0]
    out = session.output
    assert [c.index for c in pred.top] == list(np.argsort(-raw.astype(int), kind="stable"))
    assert [c.score for c in pred.top] == [pytest.approx((int(raw[c.index]) - out.zero_point) * out.scale)
                                           for c in pred.top]
    assert len(session.predict(img, top_k=10).top) == 3        # never more than the classes
    assert [c.label for c in session.predict(img, top_k=1).top] == ["red"]
    img[...] = (255, 0, 0)                    # green and blue tie: the lower class index comes first
    assert [c.label for c in session.predict(img).top] == ["red", "green", "blue"]
    with pytest.raises(UsageError, match="top-k"):
        list(session.run(Chain([]), top_k=0))


def test_annotated_frames_saved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "v.avi"
    write_video(video, ["green", "blue"])
    out_dir = tmp_path / "annotated"
    rc, out, err = run_cli(capsys, colour_model(), video, "--save-annotated", out_dir)
    assert rc == 0, err
    files = sorted(out_dir.iterdir())
    assert [f.name for f in files] == ["000000_v.avi_0.png", "000001_v.avi_1.png"]
    with Image.open(files[0]) as im:
        arr = np.asarray(im.convert("RGB"))
    assert arr.shape[1] >= 320                                 # small frames are enlarged for the text
    plain = np.asarray(Image.fromarray(colour_image("green", (48, 64))).resize(im.size, Image.Resampling.NEAREST))
    assert np.abs(arr.astype(int) - plain).mean() > 5          # something was drawn
    assert "2 annotated frames in" in out
    assert annotated_name(type("P", (), {"index": 3, "name": "cats/001.jpg"})()) == "000003_cats_001.png"


def test_fast_path_is_the_one_preprocessing() -> None:
    rng = np.random.default_rng(5)
    cases = [
        Preprocessing(24, 32, "rgb", 1.0, 0.0, 1.0, -128),                   # raw pixels: xor
        Preprocessing(24, 32, "rgb", 1 / 255, 0.0, 1 / 255, -128),           # pixel/255: xor
        Preprocessing(24, 32, "rgb", 1 / 127.5, -1.0, 2 / 255, 0),           # [-1, 1]: a table
        Preprocessing(8, 8, "grayscale", 1 / 255, 0.0, 0.0123, -7),          # 64 elements < 256 values
        Preprocessing(16, 16, "rgb", 1 / 255, 0.0),                          # float model
    ]
    for prep in cases:
        dtype = "int8" if prep.input_scale is not None else "float32"
        convert = prep.to_int8 if dtype == "int8" else prep.to_float
        preparer = FramePreparer(prep, dtype, (1, *prep.shape))
        assert preparer.table is not None
        for cv2_on in (True, False):
            if not cv2_on:
                preparer._cv2 = None                         # the numpy table path
            shapes = [prep.shape, (prep.height + 5, prep.width + 3, 3), (prep.height, prep.width, 4 - prep.channels)]
            if prep.channels == 1:
                shapes.append((prep.height, prep.width))           # a grey frame without a channel axis
            for shape in shapes:                                   # at size (fast path) and not (Pillow)
                img = rng.integers(0, 256, shape, dtype=np.uint8)
                got = preparer(Frame(0, "f", image=img))
                assert got.dtype == np.dtype(dtype) and got.shape == (1, *prep.shape)
                assert np.array_equal(got[0], convert(img)), (prep, shape, preparer.fast_path)
    assert FramePreparer(cases[0], "int8", (1, 24, 32, 3)).fast_path == "xor 0x80"


def test_input_back_to_pixels() -> None:
    """What the gallery and --save-annotated show for a raw tensor: the preprocessing undone."""
    img = np.random.default_rng(2).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    for prep in (Preprocessing(24, 32, "rgb", 1.0, 0.0, 1.0, -128),
                 Preprocessing(24, 32, "rgb", 1 / 255, 0.0, 1 / 255, -128)):
        assert np.array_equal(prep.to_rgb(prep.to_int8(img)), img)
    grey = Preprocessing(24, 32, "grayscale", 1.0, 0.0, 1.0, -128)
    back = grey.to_rgb(grey.to_int8(img[:, :, 0]))
    assert back.shape == (24, 32, 3) and np.array_equal(back[:, :, 2], img[:, :, 0])


# ---------------------------------------------------------------------------------------------- models


def test_model_without_card_size_and_colour_given_or_inferred(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    vww = mlperf_model("vww")
    img = tmp_path / "person.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(img)
    rc, out_inferred, err = run_cli(capsys, vww, img, "--json")
    assert rc == 0, err
    assert "no model card" in err and "pixel / 255" in err
    rc, out_given, err = run_cli(capsys, vww, img, "--json", "--size", "96x96", "--color", "rgb")
    assert rc == 0, err
    inferred, given = json_lines(out_inferred)[0], json_lines(out_given)[0]
    assert inferred["top"] == given["top"] and [c["label"] for c in given["top"]] in (["0", "1"], ["1", "0"])
    session = InferenceSession(vww)
    assert session.preprocessing.pixel_scale == pytest.approx(1 / 255) and session.preprocessing.shape == (96, 96, 3)
    rc, _, err = run_cli(capsys, vww, img, "--size", "64x64")
    assert rc == UsageError.exit_code and "--size 64x64 does not match the model input 96x96" in err
    rc, _, err = run_cli(capsys, vww, img, "--color", "grayscale")
    assert rc == UsageError.exit_code and "use --color rgb" in err


def test_pixel_convention_from_input_quantization() -> None:
    def info(scale: float | None, zp: int | None, shape=(1, 32, 32, 3), dtype="int8") -> TensorInfo:
        return TensorInfo(0, "input", shape, dtype, scale, zp)

    for (scale, zp), (pixel_scale, offset) in {
        (1 / 255, -128): (1 / 255, 0.0), (1.0, -128): (1.0, 0.0), (2 / 255, 0): (1 / 127.5, -1.0),
        (1 / 128, 0): (1 / 127.5, -1.0), (0.98, -128): (1.0, 0.0),
    }.items():
        prep, origin = preprocessing_from_input(info(scale, zp))
        assert (prep.pixel_scale, prep.pixel_offset) == pytest.approx((pixel_scale, offset)), (scale, zp)
        assert (prep.input_scale, prep.input_zero_point) == (scale, zp)
    assert preprocessing_from_input(info(1.0, -128, (1, 49, 10, 1)))[0].color == "grayscale"
    with pytest.raises(UsageError, match="none of the pixel ranges"):
        preprocessing_from_input(info(0.5847, 83, (1, 49, 10, 1)))         # the KWS model's input
    with pytest.raises(UsageError, match="pixel scaling is unknown"):
        preprocessing_from_input(info(None, None, dtype="float32"))
    resnet = InferenceSession(mlperf_model("resnet8"))                      # scale 1, zp -128: raw pixels
    assert resnet.preprocessing.pixel_scale == 1.0 and resnet.preparer.fast_path == "xor 0x80"


def test_stale_card_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = colour_model()
    (tmp_path / "model.tflite").write_bytes(src.read_bytes())
    card = json.loads(src.with_name("model.json").read_text())
    card["tflite"]["sha256"] = "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(card))
    Image.fromarray(colour_image("red")).save(tmp_path / "r.png")
    rc, _, err = run_cli(capsys, tmp_path / "model.tflite", tmp_path / "r.png")
    assert rc == 4 and "written for another version" in err
    card["tflite"]["file"] = "other.tflite"                 # a card for another model in the folder: ignored
    (tmp_path / "model.json").write_text(json.dumps(card))
    rc, out, err = run_cli(capsys, tmp_path / "model.tflite", tmp_path / "r.png", "--json")
    assert rc == 0 and "no model card" in err and json_lines(out)[0]["top"][0]["label"] == "0"


def test_tflite_micro_runtime_agrees() -> None:
    pytest.importorskip("tflite_micro")
    fast = InferenceSession(colour_model())
    exact = InferenceSession(colour_model(), runtime="tflite-micro")
    assert (fast.runtime_name, exact.runtime_name) == ("litert", "tflite-micro")
    for name in LABELS:
        img = colour_image(name, (H, W))
        assert fast.predict(img).best.label == exact.predict(img).best.label == name
    with pytest.raises(UsageError, match="one thread"):
        InferenceSession(colour_model(), runtime="tflite-micro", threads=2)


# ---------------------------------------------------------------------------------------------- errors


def test_no_camera_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_cli(capsys, TINY, "--camera", "99")
    assert rc == DataError.exit_code
    assert "camera 99" in err and "hint:" in err and "--picamera" in err
    if sys.platform.startswith("linux"):
        assert "/dev/video99 does not exist" in err
    with pytest.raises(DataError, match="camera 99"):
        list(CameraFrames(99))
    with pytest.raises(UsageError, match="cannot be combined with input files"):
        open_source([TINY], camera=0)


def test_picamera_absent_names_the_apt_package(capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("picamera2") is not None:
        pytest.skip("picamera2 is installed here")
    rc, _, err = run_cli(capsys, TINY, "--picamera")
    assert rc == DependencyError.exit_code and "sudo apt install python3-picamera2" in err


class FakePicamera2:
    """picamera2's API as used by PiCameraFrames; frames in its RGB888 layout (B, G, R in memory)."""
    last: FakePicamera2 | None = None
    colours = ["red", "green", "blue"]

    def __init__(self, camera: int = 0) -> None:
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self.started = self.closed = False
        FakePicamera2.last = self

    def create_video_configuration(self, main: dict) -> dict:
        return {"main": main}

    def configure(self, config: dict) -> None:
        assert config["main"]["format"] == "RGB888"
        self.size = config["main"]["size"]

    def start(self) -> None:
        self.started = True

    def capture_array(self, name: str = "main") -> np.ndarray:
        if self.frames == len(self.colours):
            raise KeyboardInterrupt                  # the user presses Ctrl-C
        w, h = self.size
        rgb = colour_image(self.colours[self.frames], (h, w), seed=self.frames)
        self.frames += 1
        return np.ascontiguousarray(rgb[:, :, ::-1])

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


def test_picamera_frames_until_ctrl_c(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    fake = types.ModuleType("picamera2")
    fake.Picamera2 = FakePicamera2
    monkeypatch.setitem(sys.modules, "picamera2", fake)
    rc, out, err = run_cli(capsys, colour_model(), "--picamera", "--json")
    assert rc == 0, err                                      # Ctrl-C ends a live run normally
    assert [d["top"][0]["label"] for d in json_lines(out)] == FakePicamera2.colours
    cam = FakePicamera2.last
    assert cam.size == (W, H) and cam.closed and not cam.started   # asked for the model's size; released
    assert "3 frames on litert" in err and "(stopped)" in err


def test_show_without_display(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    Image.fromarray(colour_image("red")).save(tmp_path / "r.png")
    rc, _, err = run_cli(capsys, TINY, tmp_path / "r.png", "--show")
    assert rc == UsageError.exit_code and "--save-annotated" in err
    if _opencv_is_headless():                   # a display, but an OpenCV without windows
        monkeypatch.setenv("DISPLAY", ":99")
        rc, out, err = run_cli(capsys, TINY, tmp_path / "r.png", "--show")
        assert rc == DependencyError.exit_code and "pip install opencv-python" in err and out == ""


def _opencv_is_headless() -> bool:
    from importlib import metadata

    def installed(name: str) -> bool:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return False
        return True

    return installed("opencv-python-headless") and not installed("opencv-python")


def test_wrong_image_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    rc, out, err = run_cli(capsys, TINY, bad)
    assert rc == DataError.exit_code and f"cannot read image {bad}" in err and "hint:" in err
    (tmp_path / "notes.txt").write_text("x")
    rc, _, err = run_cli(capsys, TINY, tmp_path / "notes.txt")
    assert rc == DataError.exit_code and "do not know how to read" in err
    rc, _, err = run_cli(capsys, TINY, tmp_path / "missing.png")
    assert rc == DataError.exit_code and "missing.png" in err
    rc, _, err = run_cli(capsys, TINY)
    assert rc == UsageError.exit_code and "no input given" in err


def test_missing_runtime_gives_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in RUNTIME_MODULES:
        monkeypatch.setitem(sys.modules, mod, None)         # what an uninstalled package looks like to import
    with pytest.raises(DependencyError, match="no TFLite runtime is installed") as e:
        open_runtime(TINY)
    assert "pip install ai-edge-litert" in e.value.hint and "edgeimpro[pi]" in e.value.hint
    Image.fromarray(colour_image("red")).save(tmp_path / "r.png")
    rc, out, err = run_cli(capsys, TINY, tmp_path / "r.png")
    assert rc == DependencyError.exit_code and out == ""
    assert err.count("error:") == 1 and err.count("hint:") == 1 and "ai-edge-litert" in err
    with pytest.raises(DependencyError, match="LiteRT") as e:         # asked for by name: its own message
        open_runtime(TINY, "litert")
    assert "pip install ai-edge-litert" in e.value.hint
    with pytest.raises(DependencyError, match="tflite-runtime is not usable") as e:
        open_runtime(TINY, "tflite-runtime")
    assert ("numpy<2" in e.value.hint) and "ai-edge-litert" in e.value.hint


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_auto_runtime_falls_back_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    for mod in RUNTIME_MODULES[:4]:                         # no LiteRT, no tflite-runtime: TensorFlow
        monkeypatch.setitem(sys.modules, mod, None)
    session = InferenceSession(colour_model())
    assert session.runtime_name == "tensorflow"
    for name in LABELS:
        assert session.predict(colour_image(name, (H, W))).best.label == name


def test_light_path_never_imports_tensorflow(tmp_path: Path) -> None:
    img = tmp_path / "x.png"
    Image.fromarray(colour_image("red", (8, 8))).save(img)
    code = (
        "import sys\n"
        "import edgeimpro.infer, edgeimpro.sources, edgeimpro.cli.infer\n"
        "from edgeimpro.cli.main import main\n"
        f"rc = main(['infer', {str(TINY)!r}, {str(img)!r}, '--json', '--runtime', 'litert'])\n"
        "assert rc == 0, rc\n"
        "bad = sorted(m for m in sys.modules if m == 'tensorflow' or m.startswith('tensorflow.'))\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["top"][0]["label"] in ("0", "1", "2")


def test_compare_imports_only_the_preprocessing_of_infer() -> None:
    """compare prepares inputs as infer does (infer.preprocessing, infer.lut) without the session loop or the
    drawing; the package's re-exports are lazy, and every one resolves."""
    code = (
        "import sys\n"
        "import edgeimpro.compare.inputs, edgeimpro.compare\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('edgeimpro.infer.'))\n"
        "assert loaded == ['edgeimpro.infer.lut', 'edgeimpro.infer.preprocessing'], loaded\n"
        "import edgeimpro.infer as infer\n"
        "for name in infer.__all__:\n"
        "    assert getattr(infer, name) is not None, name\n"
        "assert {m for m in sys.modules if m.startswith('edgeimpro.infer.')} == {\n"
        "    'edgeimpro.infer.' + m for m in ('runtime', 'preprocessing', 'lut', 'prediction', 'session', 'draw')}\n"
        "bad = sorted(m for m in sys.modules if m == 'tensorflow' or m.startswith('tensorflow.'))\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_pi_extra_does_not_pull_tensorflow() -> None:
    tomllib = pytest.importorskip("tomllib")               # Python >= 3.11
    pi = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["pi"]
    names = [req.split(";")[0].strip().lower() for req in pi]
    assert not [n for n in names if n.startswith(("tensorflow", "tf-", "keras"))], names
    assert any(n.startswith("ai-edge-litert") for n in names)


def test_person_detect_quirk_runs_with_default_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1-D biases quantized along "dimension 3" (TFLM's person_detect.tflite): LiteRT refuses them as they
    are; infer runs the model with its defaults and answers what the unquirked model answers."""
    from tiny_models import bias_quantized_along_dimension_3

    original = mlperf_model("vww")
    quirk = tmp_path / "person_detect_like.tflite"
    quirk.write_bytes(bias_quantized_along_dimension_3(original.read_bytes()))
    img = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (120, 100, 3), dtype=np.uint8)).save(img)
    answers = []
    for model in (quirk, original):
        rc, out, err = run_cli(capsys, model, img, "--json")
        assert rc == 0 and "Traceback" not in err
        answers.append(json.loads(out.splitlines()[0])["top"])
    assert answers[0] == answers[1]
