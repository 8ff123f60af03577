"""`edgeimpro compare` on a centroid detector: the detection summary on hand-made records (exact numbers),
results.jsonl round trips, a tiny trained detector compared with a tflite_micro-backed fake device (truth
from the crowd set's boxes, checked against an independent decoding; plain images: counts only), --labels
refused, and on the emulated qemu-m4 board, where the device equals tflite_micro exactly."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import CACHE_DIR, cached
from test_compare import FakeDevice, check_report, records

from edgeimpro.cli.main import main
from edgeimpro.compare import CompareOptions, Comparison
from edgeimpro.compare.detect import DetectionResult, summarize_detection
from edgeimpro.compare.records import DeviceResult, InputRecord
from edgeimpro.detect_metrics import DetectionHead, decode_grid, detection_metrics, truth_centroids
from edgeimpro.errors import UsageError

DETECTOR_CACHE = "detect-compare-v1"
TEST_IMAGES = 6


# ---------------------------------------------------------------------------------------------- helpers


def tiny_detector() -> Path:
    """A cached folder: crowd/ (24 training images), crowd-test/ (6 unseen), model/model.tflite (a 48x48
    FOMO detector trained one epoch, its model.json beside it, 6x6 grid, class face)."""
    if not (CACHE_DIR / DETECTOR_CACHE / ".complete").exists():
        pytest.importorskip("tensorflow")
    return cached(DETECTOR_CACHE, _build_detector)


def _build_detector(out: Path) -> None:
    from edgeimpro.datasets.demo import write_demo

    write_demo("crowd", out / "crowd", count=24, seed=3)
    write_demo("crowd", out / "crowd-test", count=TEST_IMAGES, seed=1, split="test")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", str(out / "crowd"), "-o", str(out / "run"), "--task", "detect", "--arch", "fomo",
                     "--alpha", "0.25", "--input-size", "48x48", "--epochs", "1", "--batch-size", "8",
                     "--seed", "0", "-q"]) == 0
        assert main(["convert", str(out / "run" / "model.keras"), "-o", str(out / "model" / "model.tflite"),
                     "--samples", "8"]) == 0


def _record(position: int, det: DetectionResult) -> InputRecord:
    dev = DeviceResult(top1=0, score=0.0, count=None, count_kind="none", seconds=0.0, link_bytes=0, retries=0)
    return InputRecord(key=f"k{position}", position=position, name=f"img{position}.png", label=None, truth=None,
                       device=dev, refs={}, layers=None, seconds=0.0, detection=det)


# ---------------------------------------------------------------------------------------------- unit


@pytest.mark.unit
def test_detection_summary_of_hand_made_records() -> None:
    head = DetectionHead(["a", "b"], 4, 4, 8, threshold=0.5)
    first = DetectionResult(
        device=[[0, 1, 0, 0.9], [3, 3, 1, 0.8], [1, 3, 0, 0.6]],    # (0,1) a ~ true (0,0); (3,3) b ~ (2,2); (1,3) false
        refs={"tflm": [[0, 1, 0, 0.9], [3, 3, 1, 0.8], [1, 3, 0, 0.6]], "litert": [[0, 1, 0, 0.85]]},
        truth=[[0, 0, 0], [2, 2, 1]], true_counts=[1, 1])
    second = DetectionResult(device=[], refs={"tflm": [], "litert": []},
                             truth=[[1, 1, 0]], true_counts=[2, 0])                 # two objects share a cell
    s = summarize_detection([_record(1, second), _record(0, first)], head, {"tflm": "tflite_micro",
                                                                              "litert": "LiteRT"})
    assert (s["images"], s["labelled"]) == (2, 2)
    dev = s["predictors"]["device"]
    assert (dev["objects"], dev["mean_count"], dev["same_centroids_as_device"]) == (3, 1.5, 2)
    assert s["predictors"]["tflm"]["same_centroids_as_device"] == 2
    assert s["predictors"]["litert"]["same_centroids_as_device"] == 1
    m = dev["metrics"]
    assert (m["tp"], m["fp"], m["fn"]) == (2, 1, 1)
    assert m["precision"] == m["recall"] == m["f1"] == pytest.approx(2 / 3)
    assert m["count_mae"] == 0.75                 # |2-1| + |1-1| + |0-2| + |0-0| over 4 (image, class)
    assert m["count_mape"] == pytest.approx(2 / 3)     # 1/1, 0/1, 2/2
    assert m["count_exact"] == 0.0
    lit = s["predictors"]["litert"]["metrics"]
    assert (lit["tp"], lit["fp"], lit["fn"]) == (1, 0, 2)
    rows = s["per_image"]
    assert [r["name"] for r in rows] == ["img0.png", "img1.png"]
    assert [(r["tp"], r["fp"], r["fn"], r["count_error"], r["true_count"]) for r in rows] == [
        (2, 1, 0, 1, 2), (0, 0, 1, 2, 2)]
    assert rows[0]["counts"] == {"device": 3, "tflm": 3, "litert": 1}


@pytest.mark.unit
def test_unlabelled_images_give_counts_only_and_records_round_trip() -> None:
    head = DetectionHead(["a"], 2, 2, 8)
    det = DetectionResult(device=[[0, 0, 0, 0.75]], refs={"tflm": [[0, 0, 0, 0.75]]})
    rec = _record(0, det)
    assert InputRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec
    s = summarize_detection([rec], head, {"tflm": "tflite_micro"})
    assert s["labelled"] == 0 and "metrics" not in s["predictors"]["device"]
    assert s["per_image"] == [{"name": "img0.png", "key": "k0", "counts": {"device": 1, "tflm": 1}}]
    classifier = _record(1, det)
    assert "detection" not in InputRecord.from_json({**classifier.to_json(), "detection": None}).to_json()


# ---------------------------------------------------------------------------------------------- fake device


def _expected_metrics(report: Path, folder: Path, head: DetectionHead) -> dict:
    """F1 and counts recomputed from the device's stored int8 outputs and the COCO boxes, by another route:
    dequantize, decode_grid, detection_metrics on load_detection's grids."""
    from edgeimpro.datasets.detection import load_detection, read_detection
    from edgeimpro.modelcard import ModelCard

    card = ModelCard.load(folder.parent / "model" / "model.json")
    loaded = load_detection(read_detection(folder), card.preprocessing, (head.grid_height, head.grid_width))
    by_path = {p.resolve(): (y, c) for p, y, c in zip(loaded.paths, loaded.y, loaded.counts, strict=True)}
    zp, scale = card.quantization["output"]["zero_point"], card.quantization["output"]["scale"]
    found, truth, counts = [], [], []
    for r in sorted(records(report), key=lambda r: r.position):
        probs = (np.array(r.device.output, np.float64) - zp) * scale
        found.append(decode_grid(probs.reshape(head.grid_height, head.grid_width, head.channels), head.threshold))
        y, c = by_path[Path(r.key.removeprefix("file:"))]
        truth.append(y)
        counts.append(c)
        assert sorted(map(tuple, r.detection.truth)) == sorted((t.row, t.col, t.class_index)
                                                               for t in truth_centroids(y))
    return detection_metrics(found, np.stack(truth), head.classes, np.stack(counts), head.threshold).to_dict()


@pytest.mark.slow
def test_compare_a_detector_on_a_detection_dataset(tmp_path: Path) -> None:
    from edgeimpro.modelcard import ModelCard

    folder = tiny_detector()
    model = folder / "model" / "model.tflite"
    head = ModelCard.load(model.with_name("model.json")).detection_head()
    report = tmp_path / "report"
    c = Comparison(model, CompareOptions(report_dir=report, references=("tflm",), gallery=3))
    source = c.open_source([folder / "crowd-test"])
    outcome = c.run(FakeDevice(model), source)
    assert outcome.passed and outcome.summary["references"]["tflm"]["exact_inputs"] == TEST_IMAGES
    det = outcome.summary["detection"]
    assert (det["images"], det["labelled"]) == (TEST_IMAGES, TEST_IMAGES)
    assert det["grid"] == {"height": 6, "width": 6, "stride": 8} and det["classes"] == ["face"]
    assert det["predictors"]["tflm"]["same_centroids_as_device"] == TEST_IMAGES
    got = det["predictors"]["device"]["metrics"]
    want = _expected_metrics(report, folder / "crowd-test", head)
    assert {k: got[k] for k in ("tp", "fp", "fn", "count_mae", "count_mape", "count_exact", "f1")} == \
        {k: want[k] for k in ("tp", "fp", "fn", "count_mae", "count_mape", "count_exact", "f1")}
    assert got == det["predictors"]["tflm"]["metrics"]
    assert json.loads((report / "summary.json").read_text())["detection"] == det
    ids = check_report(report / "report.html")
    assert "gallery" in ids
    html = (report / "report.html").read_text()
    assert "Detection and counting" in html and "true count" in html
    thumbs = sorted((report / "thumbs").glob("*.png"))
    assert len(thumbs) == 3
    from PIL import Image

    with Image.open(thumbs[0]) as im:
        assert im.width == 192


@pytest.mark.slow
def test_compare_a_detector_on_plain_images_counts_only(tmp_path: Path) -> None:
    folder = tiny_detector()
    model = folder / "model" / "model.tflite"
    plain = tmp_path / "plain"
    plain.mkdir()
    for p in sorted((folder / "crowd-test").glob("*.png"))[:2]:
        shutil.copy(p, plain / p.name)
    c = Comparison(model, CompareOptions(report_dir=tmp_path / "r", references=("tflm",)))
    outcome = c.run(FakeDevice(model), c.open_source([plain]))
    det = outcome.summary["detection"]
    assert (det["images"], det["labelled"]) == (2, 0) and "metrics" not in det["predictors"]["device"]
    assert all(r.detection.truth is None for r in records(tmp_path / "r"))
    with pytest.raises(UsageError, match="--labels gives one class per input"):
        Comparison(model, CompareOptions(report_dir=tmp_path / "r2", references=("tflm",),
                                         labels=tmp_path / "labels.txt"))


# ---------------------------------------------------------------------------------------------- qemu


@pytest.mark.qemu
@pytest.mark.xdist_group("qemu-compare")
def test_detector_on_qemu_m4_equals_tflite_micro(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)")
    pytest.importorskip("tflite_micro")
    monkeypatch.setenv("EDGEIMPRO_CACHE", str(CACHE_DIR / "compare-firmware"))
    folder = tiny_detector()
    report = tmp_path / "report"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["compare", "--model", str(folder / "model" / "model.tflite"), "--emulate", "qemu-m4",
                     str(folder / "crowd-test"), "--report", str(report), "--no-litert"])
    assert code == 0, out.getvalue()
    s = json.loads((report / "summary.json").read_text())
    assert s["references"]["tflm"]["exact_inputs"] == s["inputs"] == TEST_IMAGES
    assert s["device_performance"]["count_kind"] == "instructions"
    det = s["detection"]
    assert det["labelled"] == TEST_IMAGES
    assert det["predictors"]["device"]["metrics"] == det["predictors"]["tflm"]["metrics"]
