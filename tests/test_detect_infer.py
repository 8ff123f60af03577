"""`edgeimpro infer` on a centroid detector: a card-less FOMO model with --task detect prints counts and
centroids (--json parses, and equals the same model run with its model card and tflite_micro's output
decoded independently), annotated frames are written, the errors name the fix, and the light path
(compare, infer, a detector run on tflite_micro) never imports TensorFlow."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from test_detect_compare import tiny_detector

from edgeimpro.cli.main import main
from edgeimpro.errors import ModelError, UsageError

TINY = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"     # a classifier: 8x8x3 in, 3 classes out


def run_json(argv: list[str]) -> list[dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(argv) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def card_less(tmp_path: Path) -> Path:
    model = tmp_path / "third-party" / "fomo.tflite"
    model.parent.mkdir()
    shutil.copy(tiny_detector() / "model" / "model.tflite", model)
    return model


@pytest.mark.slow
def test_card_less_detector_prints_counts_and_centroids(tmp_path: Path) -> None:
    pytest.importorskip("tflite_micro")
    from edgeimpro.modelcard import ModelCard
    from edgeimpro.references import TflmReference

    folder = tiny_detector()
    carded = folder / "model" / "model.tflite"
    head = ModelCard.load(carded.with_name("model.json")).detection_head()
    images = sorted((folder / "crowd-test").glob("*.png"))[:3]
    model = card_less(tmp_path)
    frames = run_json(["infer", str(model), *map(str, images), "--task", "detect", "--json", "--runtime",
                       "tflite-micro", "--threshold", str(head.threshold)])
    assert [f["name"] for f in frames] == [p.name for p in images]
    from edgeimpro.infer import InferenceSession

    session = InferenceSession(model, runtime="tflite-micro", task="detect", threshold=head.threshold)
    ref = TflmReference(model.read_bytes())
    for f, path in zip(frames, images, strict=True):
        assert f["count"] == len(f["objects"]) == f["counts"]["class_1"] and "top" not in f
        out = ref.run(session.prepare(path)).astype(np.int64).reshape(head.grid_height, head.grid_width, 2)
        want = {(int(r), int(c)) for r, c in zip(*np.nonzero((out[:, :, 1] + 128) / 256 >= head.threshold),
                                                  strict=True)}
        assert {(o["row"], o["col"]) for o in f["objects"]} == want     # face probability (q + 128) / 256
        for o in f["objects"]:
            assert o["label"] == "class_1" and o["index"] == 0
            assert (o["x"], o["y"]) == ((o["col"] + 0.5) * 8, (o["row"] + 0.5) * 8)
            assert o["score"] == round((out[o["row"], o["col"], 1] + 128) / 256, 6)     # JSON keeps 6 digits
    assert sum(f["count"] for f in frames) > 0
    # the same model with its card: the card's threshold and class name, the same centroids
    with_card = run_json(["infer", str(carded), *map(str, images), "--json", "--runtime", "tflite-micro"])
    assert [[(o["row"], o["col"], o["score"]) for o in f["objects"]] for f in with_card] == \
        [[(o["row"], o["col"], o["score"]) for o in f["objects"]] for f in frames]
    assert {o["label"] for f in with_card for o in f["objects"]} <= {"face"}
    named = run_json(["infer", str(model), str(images[0]), "--task", "detect", "--json", "--runtime", "tflite-micro",
                      "--class-names", "person"])
    assert set(named[0]["counts"]) == {"person"}


@pytest.mark.slow
def test_annotated_frames_and_text_output(tmp_path: Path) -> None:
    from PIL import Image

    folder = tiny_detector()
    images = sorted((folder / "crowd-test").glob("*.png"))[:2]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["infer", str(folder / "model" / "model.tflite"), *map(str, images), "--runtime", "tflite-micro",
                     "--save-annotated", str(tmp_path / "ann")]) == 0
    saved = sorted((tmp_path / "ann").glob("*.png"))
    assert [p.name for p in saved] == ["000000_crowd_0000.png", "000001_crowd_0001.png"]
    for p in saved:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.width >= 320


@pytest.mark.slow
def test_detector_errors_name_the_fix(tmp_path: Path) -> None:
    pytest.importorskip("tflite_micro")
    from edgeimpro.infer import InferenceSession

    folder = tiny_detector()
    model = card_less(tmp_path)
    with pytest.raises(ModelError, match="--class-names lists 2 names; the model output has 2 channels"):
        InferenceSession(model, runtime="tflite-micro", task="detect", class_names=["a", "b"])
    with pytest.raises(UsageError, match="--task classify, and the model card beside the model says task detect"):
        InferenceSession(folder / "model" / "model.tflite", runtime="tflite-micro", task="classify")
    with pytest.raises(UsageError, match="--threshold applies to detectors"):
        InferenceSession(model, runtime="tflite-micro", threshold=0.5)
    with pytest.raises(UsageError, match=r"--threshold must be in \(0, 1\]"):
        InferenceSession(model, runtime="tflite-micro", task="detect", threshold=1.5)


@pytest.mark.unit
def test_detect_on_a_classifier_output_is_refused() -> None:
    pytest.importorskip("tflite_micro")
    from edgeimpro.infer import InferenceSession

    with pytest.raises(ModelError, match=r"outputs \(1, grid height, grid width, classes \+ 1\)"):
        InferenceSession(TINY, runtime="tflite-micro", task="detect")


@pytest.mark.unit
def test_class_names_option_takes_a_file_or_a_list(tmp_path: Path) -> None:
    from edgeimpro.cli.infer import class_names_arg

    (tmp_path / "names.txt").write_text("cat\ndog\n")
    assert class_names_arg(str(tmp_path / "names.txt")) == ["cat", "dog"]
    assert class_names_arg("cat, dog") == ["cat", "dog"] and class_names_arg(None) is None
    with pytest.raises(UsageError, match="empty name"):
        class_names_arg("cat,,dog")


@pytest.mark.unit
def test_detection_light_path_never_imports_tensorflow() -> None:
    code = ("import sys\n"
            "import edgeimpro.compare, edgeimpro.compare.detect, edgeimpro.compare.report, edgeimpro.infer\n"
            "from edgeimpro.infer import InferenceSession, annotate_image\n"
            "import edgeimpro.infer.draw, edgeimpro.cli.infer, edgeimpro.cli.compare\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
            "assert 'keras' not in sys.modules, 'keras was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.slow
def test_a_detector_runs_without_tensorflow(tmp_path: Path) -> None:
    pytest.importorskip("tflite_micro")
    folder = tiny_detector()
    model = card_less(tmp_path)
    image = sorted((folder / "crowd-test").glob("*.png"))[0]
    code = ("import sys\n"
            "from edgeimpro.infer import InferenceSession\n"
            f"s = InferenceSession({str(model)!r}, runtime='tflite-micro', task='detect')\n"
            f"p = s.predict({str(image)!r})\n"
            "assert p.objects is not None and p.counts == {'class_1': len(p.objects)}\n"
            "from pathlib import Path\n"
            "from edgeimpro.sources import Frame\n"
            f"assert s.annotate(Frame(0, 'x', path=Path({str(image)!r})), p).shape[1] >= 320\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
