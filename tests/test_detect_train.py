"""Centroid detection: the metric functions on hand-made grids, the fomo architecture, `train --task detect`,
`convert` of a detector (full int8, runtime ops only), the model card, and the errors that name the fix."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeimpro.cli.main import main
from edgeimpro.datasets.demo import write_demo
from edgeimpro.datasets.detection import AnnotatedImage, Box
from edgeimpro.detect_metrics import (
    Centroid,
    DetectionHead,
    best_threshold,
    decode_grid,
    detection_metrics,
    grid_metrics,
    match_centroids,
    precision_recall_f1,
    truth_centroids,
)
from edgeimpro.errors import DataError, ModelError, UsageError
from edgeimpro.modelcard import ModelCard
from edgeimpro.preprocess import Preprocessing
from edgeimpro.training.detect_data import detection_parts, split_by_content

ROOT = Path(__file__).resolve().parent.parent


def probs_grid(cells: dict[tuple[int, int], list[float]], shape: tuple[int, int], channels: int) -> np.ndarray:
    """A (H, W, channels) probability grid: background 1 except the given cells."""
    p = np.zeros((*shape, channels), np.float32)
    p[:, :, 0] = 1.0
    for (r, c), v in cells.items():
        p[r, c] = v
    return p


# --- decode, match and score (exact, hand-made grids) ----------------------------------------------

@pytest.mark.unit
def test_decode_takes_the_best_object_class_at_the_threshold() -> None:
    p = probs_grid({(0, 1): [0.4, 0.6, 0.0], (1, 2): [0.2, 0.3, 0.5], (2, 0): [0.51, 0.49, 0.0],
                    (2, 3): [0.2, 0.4, 0.4], (1, 1): [0.5, 0.0, 0.5]}, (3, 4), 3)
    assert decode_grid(p, 0.5) == [Centroid(0, 1, 0, pytest.approx(0.6)), Centroid(1, 1, 1, 0.5),
                                   Centroid(1, 2, 1, 0.5)]
    # Below the threshold the cell is background even when an object class beats background; a tie
    # between object classes goes to the lower class index.
    assert [(c.row, c.col, c.class_index) for c in decode_grid(p, 0.4)] == [
        (0, 1, 0), (1, 1, 1), (1, 2, 1), (2, 0, 0), (2, 3, 0)]
    with pytest.raises(UsageError, match=r"\(height, width, classes \+ 1\)"):
        decode_grid(np.zeros((3, 4)), 0.5)


@pytest.mark.unit
def test_truth_centroids_read_the_grid_labels() -> None:
    g = np.array([[0, 2, 0], [1, 0, 0]], np.int32)
    assert truth_centroids(g) == [Centroid(0, 1, 1), Centroid(1, 0, 0)]


@pytest.mark.unit
def test_matching_is_greedy_one_to_one_within_one_cell_of_the_same_class() -> None:
    truth = [Centroid(2, 2, 0), Centroid(5, 5, 0), Centroid(0, 0, 1)]
    dets = [
        Centroid(3, 3, 0, 0.7),     # diagonal neighbour of (2, 2): within one cell
        Centroid(2, 3, 0, 0.9),     # the best score takes (2, 2) first: (3, 3) then finds nothing left
        Centroid(5, 7, 0, 0.8),     # two cells off: a false positive, and (5, 5) is missed
        Centroid(0, 1, 0, 0.6),     # next to (0, 0) but of another class
    ]
    m = match_centroids(dets, truth)
    assert m.pairs == [(dets[1], truth[0])]
    assert m.false_positives == [dets[2], dets[0], dets[3]]
    assert m.false_negatives == [truth[1], truth[2]]
    # A detection between two true centroids takes the nearer (Euclidean), then the first row-major.
    near = match_centroids([Centroid(1, 1, 0, 0.5)], [Centroid(0, 0, 0), Centroid(1, 2, 0)])
    assert near.pairs[0][1] == Centroid(1, 2, 0)
    tie = match_centroids([Centroid(1, 1, 0, 0.5)], [Centroid(2, 1, 0), Centroid(0, 1, 0)])
    assert tie.pairs[0][1] == Centroid(0, 1, 0)
    # Radius 0: only the very cell.
    assert match_centroids([Centroid(2, 3, 0, 0.9)], [Centroid(2, 2, 0)], radius=0).pairs == []


@pytest.mark.unit
def test_precision_recall_f1_conventions() -> None:
    assert precision_recall_f1(3, 1, 2) == (0.75, 0.6, pytest.approx(2 * 0.75 * 0.6 / 1.35))
    assert precision_recall_f1(0, 0, 0) == (1.0, 1.0, 1.0)     # nothing to find, nothing claimed
    assert precision_recall_f1(0, 0, 4) == (1.0, 0.0, 0.0)     # everything missed
    assert precision_recall_f1(0, 2, 0) == (0.0, 1.0, 0.0)     # only false detections


@pytest.mark.unit
def test_detection_metrics_count_every_image_exactly() -> None:
    shape = (4, 4)
    truth = np.zeros((3, *shape), np.int32)
    truth[0][0, 0] = truth[0][2, 2] = 1          # image 0: two objects of class 0
    truth[1][1, 1] = 2                           # image 1: one of class 1 ...
    truth[1][3, 3] = 1                           # ... and one of class 0
    # image 2: no object
    dets = [
        [Centroid(0, 1, 0, 0.9), Centroid(2, 2, 0, 0.8), Centroid(3, 0, 0, 0.7)],   # 2 TP, 1 FP
        [Centroid(1, 1, 0, 0.9)],                # class 0 on a class-1 object: FP; both objects missed
        [Centroid(0, 3, 1, 0.6)],                # FP on an empty image
    ]
    counts = np.array([[2, 0], [1, 2], [0, 0]])  # image 1 has two class-1 objects sharing one cell
    m = detection_metrics(dets, truth, ["a", "b"], counts)
    assert (m.images, m.tp, m.fp, m.fn) == (3, 2, 3, 2)
    assert (m.precision, m.recall) == (0.4, 0.5)
    assert m.f1 == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    # found per (image, class): [3, 0], [1, 0], [0, 1] against [2, 0], [1, 2], [0, 0]
    assert m.count_mae == pytest.approx((1 + 0 + 0 + 2 + 0 + 1) / 6)
    assert m.count_mape == pytest.approx((1 / 2 + 0 / 1 + 2 / 2) / 3)
    assert m.count_exact == 0.0
    assert (m.per_class["a"].tp, m.per_class["a"].fp, m.per_class["a"].fn) == (2, 2, 1)
    assert (m.per_class["b"].tp, m.per_class["b"].fp, m.per_class["b"].fn) == (0, 1, 1)
    assert m.per_class["b"].count_mae == pytest.approx(1.0)
    # Without counts the truth cells are counted: image 1 then holds one class-1 object.
    assert detection_metrics(dets, truth, ["a", "b"]).count_mae == pytest.approx((1 + 0 + 0 + 1 + 0 + 1) / 6)


@pytest.mark.unit
def test_grid_metrics_and_the_best_threshold() -> None:
    truth = np.zeros((1, 3, 3), np.int32)
    truth[0][0, 0] = truth[0][2, 2] = 1
    probs = probs_grid({(0, 0): [0.1, 0.9], (2, 2): [0.4, 0.6], (1, 0): [0.35, 0.65], (0, 2): [0.3, 0.7]},
                       (3, 3), 2)[None]
    at_half = grid_metrics(probs, truth, ["x"], threshold=0.5)
    # (0, 0) and (1, 0) both claim the object at (0, 0): the higher score matches, the other is false.
    assert (at_half.tp, at_half.fp, at_half.fn) == (2, 2, 0)
    best = best_threshold(probs, truth, ["x"], candidates=(0.5, 0.6, 0.75))
    assert best.threshold == 0.75 and (best.tp, best.fp, best.fn) == (1, 0, 1)
    # 0.6 (TP 2, FP 2: F1 2/3) and 0.75 (TP 1, FN 1: F1 2/3) tie on F1; 0.75 counts exactly (MAE 1 vs 2).
    assert best.f1 == pytest.approx(2 / 3) and best.count_mae == 1.0
    with pytest.raises(UsageError, match="do not hold 2 classes"):
        grid_metrics(probs, truth, ["x", "y"])


@pytest.mark.unit
def test_metrics_module_never_imports_tensorflow() -> None:
    code = ("import sys, edgeimpro.detect_metrics, edgeimpro.modelcard; "
            "sys.exit(int('tensorflow' in sys.modules or 'keras' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# --- the model card ---------------------------------------------------------------------------------

@pytest.mark.unit
def test_card_records_the_task_and_the_detection_head(tmp_path: Path) -> None:
    head = DetectionHead(["face", "hat"], 12, 10, 8, threshold=0.65, object_weight=5.0)
    card = ModelCard(labels=["face", "hat"], preprocessing=Preprocessing(96, 80), task="detect",
                     detection=head.to_dict())
    card.save(tmp_path / "model.json")
    raw = json.loads((tmp_path / "model.json").read_text())
    assert raw["task"] == "detect"
    assert raw["detection"]["grid"] == {"height": 12, "width": 10, "stride": 8}
    assert raw["detection"]["classes"] == ["face", "hat"] and raw["detection"]["background_channel"] == 0
    assert raw["detection"]["threshold"] == 0.65 and raw["detection"]["object_weight"] == 5.0
    loaded = ModelCard.load(tmp_path / "model.json")
    assert loaded.is_detector and loaded.detection_head() == head and loaded.detection_head().channels == 3


@pytest.mark.unit
def test_classifier_cards_old_and_new_read_as_classify(tmp_path: Path) -> None:
    card = ModelCard(labels=["a", "b"], preprocessing=Preprocessing(32, 32))
    d = card.to_dict()
    assert d["task"] == "classify" and "detection" not in d
    del d["task"]                                    # a card written before the task existed
    old = ModelCard.from_dict(d)
    assert old.task == "classify" and not old.is_detector
    with pytest.raises(ModelError, match="describes a classifier, not a detector"):
        old.detection_head()
    with pytest.raises(ModelError, match="task detect but has no detection section"):
        ModelCard.from_dict({**d, "task": "detect"})
    with pytest.raises(ModelError, match="unknown task 'segment'"):
        ModelCard.from_dict({**d, "task": "segment"})
    with pytest.raises(ModelError, match="incomplete detection section"):
        ModelCard.from_dict({**d, "task": "detect", "detection": {"classes": ["a"]}}).detection_head()


# --- the validation split by content ----------------------------------------------------------------

@pytest.mark.unit
def test_validation_split_keeps_copies_together_and_is_seeded(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = []
    for i in range(30):
        path = tmp_path / f"{i:02d}.png"
        source = i - 1 if i % 10 == 9 else i     # every tenth file is a copy of the one before
        Image.fromarray(np.random.default_rng(source).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
        boxes = [Box(0, 1, 1, 4, 4)] * int(rng.integers(0, 3))
        images.append(AnnotatedImage(path, 8, 8, boxes))
    train, val = split_by_content(images, 0.3, seed=4)
    assert sorted(im.path for im in train + val) == sorted(im.path for im in images)
    assert 6 <= len(val) <= 12
    held = {im.path.name for im in val}
    for i in range(9, 30, 10):                   # a copy lands where its original does
        assert (f"{i:02d}.png" in held) == (f"{i - 1:02d}.png" in held)
    assert [im.path for im in split_by_content(images, 0.3, seed=4)[1]] == [im.path for im in val]
    assert [im.path for im in train] == sorted(im.path for im in train)     # the dataset's order kept


# --- CLI and data errors that name the fix -----------------------------------------------------------

@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo("crowd", tmp_path_factory.mktemp("data") / "crowd", count=40, seed=7).path


def class_folder(root: Path) -> Path:
    for k in range(2):
        (root / f"c{k}").mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((16, 16, 3), 60 * k + i, np.uint8)).save(root / f"c{k}" / f"{i}.png")
    return root


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.unit
def test_task_options_are_refused_for_the_other_task(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, err = run_cli(["train", str(tmp_path), "-o", str(tmp_path / "r"), "--arch", "fomo"], capsys)
    assert code == 2 and "--arch fomo is a detector" in err and "add --task detect" in err
    code, err = run_cli(["train", str(tmp_path), "-o", str(tmp_path / "r"), "--threshold", "0.5"], capsys)
    assert code == 2 and "--threshold applies to --task detect only" in err
    code, err = run_cli(["train", str(tmp_path), "-o", str(tmp_path / "r"), "--task", "detect", "--arch",
                         "mobilenet"], capsys)
    assert code == 2 and "--arch mobilenet is a classifier" in err and "--arch fomo" in err


@pytest.mark.slow
def test_detect_on_a_classification_folder_and_classify_on_boxes(tmp_path: Path, crowd: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    folder = class_folder(tmp_path / "classes")
    code, err = run_cli(["train", str(folder), "-o", str(tmp_path / "r"), "--task", "detect"], capsys)
    assert code == 3
    assert "image-classification folder (class subfolders c0, c1)" in err
    assert "drop --task detect" in err
    code, err = run_cli(["train", str(crowd), "-o", str(tmp_path / "r")], capsys)
    assert code == 3 and "holds object boxes (a detection dataset)" in err and "--task detect --arch fomo" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_input_size_not_a_multiple_of_the_stride(tmp_path: Path, crowd: Path, capsys: pytest.CaptureFixture) -> None:
    code, err = run_cli(["train", str(crowd), "-o", str(tmp_path / "r"), "--task", "detect", "--input-size",
                         "90x90"], capsys)
    assert code == 2
    assert "input size 90x90 is not a multiple of the grid stride 8" in err and "use 88x88 or 96x96" in err
    code, err = run_cli(["train", str(crowd), "-o", str(tmp_path / "r"), "--task", "detect", "--input-size",
                         "8x16"], capsys)
    assert code == 2 and "a 1x2 grid at stride 8" in err and "--input-size 16x16" in err


@pytest.mark.unit
def test_cli_detect_defaults_are_the_library_defaults() -> None:
    from edgeimpro.cli import train as cli_train
    from edgeimpro.training.detect import DEFAULT_OBJECT_WEIGHT, DetectConfig
    from edgeimpro.training.fomo import DETECTION_ARCHITECTURES, STRIDES

    d = DetectConfig()
    assert cli_train.DETECT_ARCHS == DETECTION_ARCHITECTURES and cli_train.STRIDES == STRIDES
    assert cli_train.DETECT_DEFAULTS == {"arch": d.arch, "epochs": d.epochs, "batch_size": d.batch_size,
                                         "patience": d.patience}
    assert cli_train.DETECT_OBJECT_WEIGHT == DEFAULT_OBJECT_WEIGHT == d.object_weight
    assert d.stride == 8 and d.threshold is None and d.resolved_alpha == 0.35


# --- the architecture ----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("size, stride, classes, grid", [
    ((96, 96, 3), 8, 1, (12, 12)), ((96, 96, 3), 4, 1, (24, 24)), ((64, 96, 1), 8, 3, (8, 12)),
])
def test_fomo_output_grid(size: tuple[int, int, int], stride: int, classes: int, grid: tuple[int, int]) -> None:
    from edgeimpro.training.fomo import FomoSpec

    model = FomoSpec(*size, classes, alpha=0.35, stride=stride).build()
    assert model.input_shape == (1, *size)
    assert model.output_shape == (1, *grid, classes + 1)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert kinds <= {"InputLayer", "Rescaling", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Add",
                     "Softmax"}
    assert type(model.layers[-1]).__name__ == "Softmax"


@pytest.mark.slow
def test_board_too_small_refuses_with_a_detector_that_fits() -> None:
    from edgeimpro.boards.registry import get_board
    from edgeimpro.errors import BoardFitError
    from edgeimpro.training.detect import require_detector_fit
    from edgeimpro.training.estimate import estimate_model
    from edgeimpro.training.fomo import FomoSpec

    board = replace(get_board("stm32f405"), ram_bytes=48 * 1024)
    spec = FomoSpec(96, 96, 3, 1)
    with pytest.raises(BoardFitError, match=r"int8 activations .* board stm32f405 has 48 KiB RAM") as e:
        require_detector_fit(spec, estimate_model(spec.build()), board)
    assert e.value.hint.startswith("try --input-size ")
    h, w = (int(v) for v in e.value.hint.split()[2].split("x"))
    assert h % 8 == 0 and w == h and h < 96
    require_detector_fit(spec.at_size(h, w), estimate_model(spec.at_size(h, w).build()), board)


# --- train and convert end to end -------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(crowd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import contextlib
    import io

    run = tmp_path_factory.mktemp("runs") / "crowd"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", str(crowd), "-o", str(run), "--task", "detect", "--arch", "fomo", "--alpha", "0.25",
                     "--input-size", "48x48", "--epochs", "2", "--batch-size", "16", "--object-weight", "10",
                     "--board", "stm32f405", "-q"])
    assert code == 0
    return run


@pytest.mark.slow
def test_run_folder_and_card(trained: Path, crowd: Path) -> None:
    from edgeimpro.training.detect import RUN_FILES

    assert {p.name for p in trained.iterdir()} == set(RUN_FILES)
    card = ModelCard.load(trained / "model.json")
    assert card.task == "detect" and card.labels == ["face"]
    head = card.detection_head()
    assert (head.grid_height, head.grid_width, head.stride) == (6, 6, 8)
    assert head.classes == ["face"] and head.object_weight == 10.0 and 0.3 <= head.threshold <= 0.95
    t = card.training
    assert t["arch"] == "fomo" and t["alpha"] == 0.25 and t["stride"] == 8 and t["format"] == "coco"
    assert t["data_dir"] == str(crowd.resolve()) and t["splits"] == {"train": None, "validation": None}
    assert t["images"]["train"] + t["images"]["validation"] == 40 and 6 <= t["images"]["validation"] <= 10
    assert t["metrics"]["threshold"] == head.threshold and t["metrics"]["epochs_run"] == 2
    assert 0 <= t["metrics"]["val_f1"] <= 1 and t["metrics"]["val_count_mae"] >= 0
    assert t["board"]["board"] == "stm32f405" and t["board"]["fits"]
    assert card.preprocessing == Preprocessing(48, 48, "rgb")
    with open(trained / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"loss", "val_loss", "val_f1", "val_precision", "val_recall", "val_count_mae",
                               "val_count_mape", "val_threshold"} <= set(rows[0])
    for png in ("curves.png", "predictions.png"):
        with Image.open(trained / png) as im:
            assert im.format == "PNG" and im.size[0] > 500


@pytest.mark.slow
def test_validation_part_is_the_one_convert_uses(trained: Path, crowd: Path) -> None:
    t = ModelCard.load(trained / "model.json").training
    parts = detection_parts(crowd, t["val_split"], t["seed"])
    assert len(parts.validation) == t["images"]["validation"]
    assert not {im.path for im in parts.validation} & {im.path for im in parts.train}


@pytest.mark.slow
def test_convert_detector_to_full_int8_with_runtime_ops(trained: Path, tmp_path: Path) -> None:
    from edgeimpro import ops
    from edgeimpro.graph import load_graph
    from edgeimpro.quantize import DetectorConversion, convert_model

    result = convert_model(trained / "model.keras", tmp_path / "model.tflite", samples=16, debug_samples=2)
    assert isinstance(result, DetectorConversion)
    graph = load_graph((tmp_path / "model.tflite").read_bytes())
    assert set(graph.opcodes) <= set(ops.supported())
    for op in graph.ops:                       # TFLM's Prepare and the runtime's params accept every op
        ops.op_params(graph, op)
    assert [t.dtype for t in graph.input_tensors + graph.output_tensors] == ["int8", "int8"]
    assert list(graph.output_tensors[0].shape) == [1, 6, 6, 2]
    card = ModelCard.load(tmp_path / "model.json")
    assert card.task == "detect" and card.detection == ModelCard.load(trained / "model.json").detection
    d = card.conversion["detection"]
    assert d["samples"] == card.training["images"]["validation"] and d["threshold"] == card.detection_head().threshold
    assert 0 <= d["float"]["f1"] <= 1 and 0 <= d["int8"]["f1"] <= 1
    assert d["f1_delta"] == pytest.approx(d["int8"]["f1"] - d["float"]["f1"])
    assert 0.5 <= d["cell_agreement"] <= 1
    assert card.quantization["output"]["scale"] == pytest.approx(1 / 256)
    assert card.quantization["output"]["zero_point"] == -128


@pytest.mark.slow
def test_convert_evaluates_a_separate_test_set(trained: Path, tmp_path: Path) -> None:
    from edgeimpro.quantize.detect import _plan

    test = write_demo("crowd", tmp_path / "crowd-test", count=5, seed=1, split="test").path
    card = ModelCard.load(trained / "model.json")
    calib, held, data, seen = _plan(None, test, card.training, card.detection_head(), trained, 10, None)
    assert len(calib.images) == 10 and len(held.images) == 5 and not seen
    assert data["evaluation"]["images"] == f"--eval-data {test}"
    assert not {im.path for im in calib.images} & {im.path for im in held.images}
    with pytest.raises(DataError, match=r"crowd has the classes face; the detector was trained on cat"):
        _plan(None, test, card.training, DetectionHead(["cat"], 6, 6, 8), trained, 10, None)


@pytest.mark.unit
def test_eval_data_is_refused_for_a_classifier(tmp_path: Path) -> None:
    import zipfile

    from edgeimpro.quantize import convert_model

    with zipfile.ZipFile(tmp_path / "m.keras", "w") as z:      # refused before the model is read
        z.writestr("config.json", "{}")
    ModelCard(labels=["a", "b"], preprocessing=Preprocessing(8, 8, "grayscale")).save(tmp_path / "model.json")
    with pytest.raises(UsageError, match="--eval-data applies to detectors"):
        convert_model(tmp_path / "m.keras", eval_data=tmp_path)
