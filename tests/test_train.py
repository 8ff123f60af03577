"""`edgeimpro train`: architectures, int8 estimates and board fit, tiny training runs, run folders, errors."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import SHAPES_SIZE, trained_shapes_model
from PIL import Image

from edgeimpro.boards.registry import get_board
from edgeimpro.cli.main import main
from edgeimpro.datasets.demo import SHAPE_CLASSES, write_demo
from edgeimpro.datasets.folder import load_images, scan_image_folder, split_items
from edgeimpro.errors import BoardFitError, DataError, DependencyError, UsageError
from edgeimpro.graph.analysis import RUNTIME_RAM_ALLOWANCE
from edgeimpro.modelcard import ModelCard
from edgeimpro.preprocess import Preprocessing

pytest.importorskip("keras")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from edgeimpro.training import TrainConfig, build_model, check_fit, estimate_model, train  # noqa: E402
from edgeimpro.training import fit as fit_module  # noqa: E402

pytestmark = pytest.mark.slow

RUN_FILES = {"model.keras", "labels.txt", "model.json", "history.csv", "curves.png", "confusion.png"}


@pytest.fixture(scope="module")
def tiny_shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 12 generated 32x32 shapes."""
    return write_demo("shapes", tmp_path_factory.mktemp("data") / "shapes", count=12, seed=5, size=32).path


def noise_folder(root: Path, classes: int, per_class: int, size: int = 32, seed: int = 0) -> Path:
    """Random-noise images under random class names: nothing generalises, so validation loss rises."""
    rng = np.random.default_rng(seed)
    for k in range(classes):
        (root / f"c{k}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"c{k}" / f"{i}.png")
    return root


# --- architectures and estimates (no training) -----------------------------------------------------

@pytest.mark.parametrize("arch", ["seed-cnn", "mobilenet", "dscnn", "resnet8", "mobilenetv2"])
def test_architectures_build_static_batch_one(arch: str) -> None:
    model = build_model(arch, (32, 32, 3), 3)
    assert model.input_shape == (1, 32, 32, 3)
    assert model.output_shape == (1, 3)
    assert type(model.layers[1]).__name__ == "Rescaling"


def test_seed_cnn_is_the_workshop_cnn() -> None:
    model = build_model("seed-cnn", (150, 150, 3), 2)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [16, 32, 64, 128]
    assert all(c.kernel_size == (3, 3) for c in convs)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("MaxPooling2D") == 4 and "GlobalAveragePooling2D" in kinds and "Dropout" in kinds
    assert model.layers[-1].units == 1 and model.layers[-1].activation.__name__ == "sigmoid"
    assert build_model("seed-cnn", (32, 32, 3), 4).layers[-1].activation.__name__ == "softmax"


def test_estimates_match_the_mlperf_reference_models() -> None:
    # DESIGN.md §7: ResNet-8 12.50 M MACs, RAM lower bound 49,152 B; VWW (MobileNetV1 0.25 at 96x96)
    # 7.49 M MACs, 55,296 B.
    resnet = estimate_model(build_model("resnet8", (32, 32, 3), 10))
    assert resnet.macs == 12_501_632 and resnet.peak_ram_bytes == 49_152
    assert 75_000 < resnet.params < 80_000
    vww = estimate_model(build_model("mobilenet", (96, 96, 3), 2, alpha=0.25))
    assert vww.macs == 7_489_664 and vww.peak_ram_bytes == 55_296
    assert 205_000 < vww.params < 215_000
    # the AOT planner on the Keras shapes (streamed layers; kernel scratch aside): the converted MLPerf
    # models plan to 34,512 B and 37,936 B with their scratch
    assert resnet.planned_ram_bytes == 33_360 and vww.planned_ram_bytes == 37_808


def test_workshop_cnn_150_activation_estimate() -> None:
    est = estimate_model(build_model("seed-cnn", (150, 150, 3), 2))
    # conv1 output 150x150x16 and pool1 output 75x75x16 live together (int8): 360,000 + 90,000 bytes.
    assert est.peak_ram_bytes == 450_000 and est.peak_layer == "pool1"
    # All its activations together (no reuse) come to the ~0.9 MB usually quoted for it.
    assert est.total_activation_bytes == 901_885
    # Planned as the AOT export plans it (each conv fused with its pool, layers streamed over their inputs):
    # under 100 KB, which fits an STM32F405's 128 KB with the runtime.
    assert est.planned_ram_bytes == 98_816
    assert check_fit(est, get_board("stm32f405")).fits


def test_estimate_reads_sequential_and_nested_models() -> None:
    import keras

    seq = keras.Sequential([keras.Input((32, 32, 3), batch_size=1), keras.layers.RandomFlip(),
                            keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(8, 3, name="c"),
                            keras.layers.MaxPooling2D(name="p"), keras.layers.Flatten(),
                            keras.layers.Dense(3, name="d")])
    est = estimate_model(seq)
    assert [layer.name for layer in est.layers] == ["c", "p", "d"]     # augmentation, rescale, flatten fold away
    assert est.peak_ram_bytes == 32 * 32 * 3 + 30 * 30 * 8 and est.macs == 30 * 30 * 8 * 27 + 15 * 15 * 8 * 3
    inputs = keras.Input((32, 32, 3))
    wrapped = keras.Model(inputs, seq(inputs))
    assert estimate_model(wrapped).to_dict() == est.to_dict()


def test_mobilenetv2_imagenet_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(DependencyError, match="ImageNet weights are not in Keras's cache") as e:
        build_model("mobilenetv2", (96, 96, 3), 3, weights="imagenet")
    expected = tmp_path / "keras" / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert str(expected) in e.value.message
    assert "--weights none" in e.value.hint
    assert not (tmp_path / "keras" / "models").exists()      # nothing was downloaded or created


def test_option_errors() -> None:
    with pytest.raises(UsageError, match="--alpha applies to mobilenet and mobilenetv2, not seed-cnn"):
        build_model("seed-cnn", (32, 32, 3), 3, alpha=0.5)
    with pytest.raises(UsageError, match="--weights applies to mobilenetv2, not resnet8"):
        build_model("resnet8", (32, 32, 3), 3, weights="imagenet")
    with pytest.raises(UsageError, match="--val-split must be in"):
        TrainConfig(val_split=1.0).validate()


# --- board fit -------------------------------------------------------------------------------------

def test_board_too_small_refuses_with_numbers(tiny_shapes: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    config = TrainConfig(input_size=(256, 256))
    events = []
    with pytest.raises(BoardFitError) as e:
        train(tiny_shapes, tmp_path / "run", config, board=get_board("stm32f405"),
              on_event=lambda name, payload: events.append((name, payload)))
    # The estimate is reported before the refusal; no image was loaded.
    assert [name for name, _ in events] == ["data", "input", "estimate"]
    assert events[1][1].size_from == "option" and events[1][1].color == "rgb"   # colour from the data
    fit = events[2][1].fit
    assert fit.board == "stm32f405" and fit.fits_flash and not fit.fits_ram
    assert e.value.message == ("model needs a 274 KiB arena for its int8 activations (planned as export --target "
                               "aot plans it; 1.25 MiB at pool1 if every layer held its whole input and output) + "
                               "13 KiB for the runtime, board stm32f405 has 128 KiB RAM")
    assert e.value.hint.startswith("try --input-size 136x136 or --arch mobilenet --alpha 0.25")
    assert not (tmp_path / "run").exists()
    # The same through the CLI: exit code of BoardFitError, message on stderr, nothing written.
    code = main(["train", str(tiny_shapes), "-o", str(tmp_path / "run"), "--input-size", "256x256",
                 "--board", "stm32f405"])
    assert code == BoardFitError.exit_code
    assert "has 128 KiB RAM" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_suggested_size_fits() -> None:
    from edgeimpro.training import ModelSpec
    from edgeimpro.training.boardfit import SUGGESTION_BUDGET, largest_fitting_size

    board = get_board("stm32f405")
    spec = ModelSpec("seed-cnn", 256, 256, 3, 2)
    assert largest_fitting_size(spec, board) == (136, 136)
    assert check_fit(estimate_model(spec.at_size(136, 136).build()), board).fits
    # 144x144 would squeeze into RAM, but leaves less than the quarter kept for the runtime.
    assert estimate_model(spec.at_size(144, 144).build()).planned_ram_bytes > SUGGESTION_BUDGET * board.ram_bytes - 8192


# --- end to end through the CLI ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, int, str]:
    """`edgeimpro train` with --augment on 32x32 shapes plus one corrupt image: (data, run, corrupt, code, out)."""
    import contextlib
    import io

    base = tmp_path_factory.mktemp("cli")
    data = write_demo("shapes", base / "data", count=12, seed=2, size=40).path
    corrupt = data / "square" / "zz_corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    run = base / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", str(data), "-o", str(run), "--input-size", "32x32", "--epochs", "2",
                     "--batch-size", "8", "--augment", "--seed", "3", "--val-split", "0.25",
                     "--board", "stm32f405"])
    return data, run, corrupt, code, out.getvalue()


def test_cli_writes_the_run_folder(cli_run) -> None:
    data, run, corrupt, code, _ = cli_run
    assert code == 0
    assert {p.name for p in run.iterdir()} == RUN_FILES
    card = ModelCard.load(run / "model.json")
    assert card.labels == list(SHAPE_CLASSES)
    assert (run / "labels.txt").read_text().splitlines() == list(SHAPE_CLASSES)
    assert card.preprocessing == Preprocessing(32, 32, "rgb", pixel_scale=1.0, pixel_offset=0.0)
    t = card.training
    assert t["arch"] == "seed-cnn" and t["data_dir"] == str(data.resolve())
    assert t["val_split"] == 0.25 and t["seed"] == 3 and t["options"]["augment"] is True
    assert t["output"] == {"activation": "softmax", "units": 3}
    assert t["metrics"]["epochs_run"] == 2 and 0 <= t["metrics"]["val_accuracy"] <= 1
    assert t["estimate"]["peak_ram_bytes"] > 0 and t["estimate"]["flash_bytes"] > 0
    assert t["board"]["board"] == "stm32f405" and t["board"]["fits"]
    assert t["board"]["ram_needed"] == t["estimate"]["planned_ram_bytes"] + RUNTIME_RAM_ALLOWANCE
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    for png in ("curves.png", "confusion.png"):
        with Image.open(run / png) as im:
            assert im.format == "PNG" and im.size[0] > 300


def test_corrupt_image_reported_and_training_continues(cli_run) -> None:
    data, run, corrupt, code, out = cli_run
    assert code == 0
    card = json.loads((run / "model.json").read_text())
    assert card["training"]["images"]["unreadable"] == [str(corrupt)]
    assert card["training"]["images"]["train"] + card["training"]["images"]["validation"] == 36
    assert str(corrupt) in out and "unreadable images: 1" in out


def test_saved_model_converts_to_a_static_int8_graph_without_augmentation(cli_run) -> None:
    import keras
    import tensorflow as tf

    _, run, _, _, _ = cli_run
    model = keras.models.load_model(run / "model.keras")
    assert not any(type(layer).__name__.startswith("Random") for layer in model.layers)
    rng = np.random.default_rng(0)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rng.uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)]
                                           for _ in range(8))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    flat = conv.convert()
    interp = tf.lite.Interpreter(model_content=flat)
    ops = {d["op_name"] for d in interp._get_ops_details()}
    assert ops == {"CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    assert interp.get_input_details()[0]["shape_signature"].tolist() == [1, 32, 32, 3]
    # The flash estimate made before training is within 5% of the converted model's size.
    estimate = ModelCard.load(run / "model.json").training["estimate"]["flash_bytes"]
    assert abs(len(flat) - estimate) / len(flat) < 0.05


# --- tiny runs of every architecture ----------------------------------------------------------------

@pytest.mark.parametrize("arch, color, optimizer, epochs", [
    ("mobilenet", "rgb", "adagrad", 1),
    ("dscnn", "grayscale", "rmsprop", 2),
    ("resnet8", "rgb", "sgd", 2),
])
def test_every_architecture_trains(arch: str, color: str, optimizer: str, epochs: int, tiny_shapes: Path,
                                   tmp_path: Path) -> None:
    import keras

    config = TrainConfig(arch=arch, input_size=(32, 32), color=color, optimizer=optimizer, epochs=epochs,
                         batch_size=8, val_split=0.25, seed=1)
    result = train(tiny_shapes, tmp_path / "run", config)
    assert {p.name for p in (tmp_path / "run").iterdir()} == RUN_FILES
    assert result.metrics["epochs_run"] == epochs and np.isfinite(result.metrics["val_loss"])
    channels = 3 if color == "rgb" else 1
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.input_shape == (1, 32, 32, channels) and model.output_shape == (1, 3)
    assert result.card.preprocessing.color == color
    assert result.card.training["options"]["learning_rate"] == fit_module.OPTIMIZERS[optimizer]


def test_mobilenetv2_transfer_learning_freezes_the_base(tiny_shapes: Path, tmp_path: Path) -> None:
    """--weights PATH: the base keeps the file's weights through training; no validation split."""
    import keras

    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    base.save_weights(tmp_path / "base.weights.h5")
    model = build_model("mobilenetv2", (32, 32, 3), 3, weights=str(tmp_path / "base.weights.h5"))
    assert [w.path for w in model.trainable_weights] == ["classes/kernel", "classes/bias"]
    config = TrainConfig(arch="mobilenetv2", input_size=(32, 32), weights=str(tmp_path / "base.weights.h5"),
                         optimizer="adadelta", epochs=1, batch_size=8, val_split=0.0)
    result = train(tiny_shapes, tmp_path / "run", config)
    trained = keras.models.load_model(tmp_path / "run" / "model.keras")
    for name in ("Conv1", "bn_Conv1", "block_16_project"):
        for before, after in zip(base.get_layer(name).get_weights(), trained.get_layer(name).get_weights(),
                                 strict=True):
            assert np.array_equal(before, after)
    assert result.confusion_set == "training" and "train_accuracy" in result.metrics
    assert result.card.training["images"]["validation"] == 0
    with pytest.raises(UsageError, match="weights file not found"):
        build_model("mobilenetv2", (32, 32, 3), 3, weights=str(tmp_path / "missing.h5"))


# --- early stopping, atomicity, data errors -----------------------------------------------------------

def test_early_stopping_restores_best_weights(tmp_path: Path) -> None:
    import keras

    data = noise_folder(tmp_path / "noise", classes=3, per_class=16)
    config = TrainConfig(input_size=(32, 32), epochs=15, batch_size=8, patience=2, lr=3e-3, val_split=0.25)
    result = train(data, tmp_path / "run", config)
    m, h = result.metrics, result.history
    assert m["early_stopped"] and m["best_epoch"] < m["epochs_run"] < 15
    best = m["best_epoch"]
    assert best == int(np.argmin(h["val_loss"])) + 1
    assert m["val_loss"] == pytest.approx(h["val_loss"][best - 1], rel=1e-4)
    assert m["val_accuracy"] == pytest.approx(h["val_accuracy"][best - 1])
    assert m["val_loss"] < h["val_loss"][-1]
    # The saved model holds those best weights: re-evaluate it on the held-out split the card records.
    card = result.card
    folder = scan_image_folder(card.training["data_dir"])
    _, val = split_items(folder.items, card.training["val_split"], card.training["seed"])
    loaded = load_images(val, card.preprocessing)
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    probs = model.predict(loaded.x, verbose=0)
    loss = -np.mean(np.log(probs[np.arange(len(loaded.y)), loaded.y]))
    assert loss == pytest.approx(m["val_loss"], rel=1e-4)


def test_interrupted_run_leaves_nothing(tiny_shapes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "plot_confusion", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_shapes, tmp_path / "run", TrainConfig(input_size=(16, 16), epochs=1))
    assert list(tmp_path.iterdir()) == []


def test_existing_run_folder_refused_before_training(tiny_shapes: Path, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.keras").write_text("old")
    with pytest.raises(UsageError, match="run folder .* already exists and is not empty"):
        train(tiny_shapes, tmp_path / "run", TrainConfig(input_size=(16, 16), epochs=1))
    assert (tmp_path / "run" / "model.keras").read_text() == "old"


def test_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset folder not found"):
        train(tmp_path / "missing", tmp_path / "run", TrainConfig())
    (tmp_path / "one" / "cats").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "one" / "cats" / "a.png")
    with pytest.raises(DataError, match=r"needs at least 2 class subfolders with images; found 1 \(cats\)"):
        train(tmp_path / "one", tmp_path / "run", TrainConfig())
    for cls in ("a", "b"):
        (tmp_path / "bad" / cls).mkdir(parents=True)
        for i in range(2):
            (tmp_path / "bad" / cls / f"{i}.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"all 4 images are unreadable \(first: .*0.jpg\)"):
        train(tmp_path / "bad", tmp_path / "run", TrainConfig(input_size=(16, 16)))
    assert not (tmp_path / "run").exists()


# --- the shared trained model -------------------------------------------------------------------------

def test_shapes_model_is_well_above_chance() -> None:
    import keras

    run = trained_shapes_model()
    card = ModelCard.load(run / "model.json")
    assert card.labels == list(SHAPE_CLASSES)
    assert card.preprocessing == Preprocessing(SHAPES_SIZE, SHAPES_SIZE, "rgb")
    assert card.training["metrics"]["val_accuracy"] >= 0.85          # chance is 0.33
    # The recorded metric is what the saved model scores on the recorded split.
    folder = scan_image_folder(card.training["data_dir"])
    _, val = split_items(folder.items, card.training["val_split"], card.training["seed"])
    loaded = load_images(val, card.preprocessing)
    model = keras.models.load_model(run / "model.keras")
    accuracy = float(np.mean(np.argmax(model.predict(loaded.x, verbose=0), axis=1) == loaded.y))
    assert accuracy == pytest.approx(card.training["metrics"]["val_accuracy"])


def test_cli_defaults_are_the_library_defaults() -> None:
    from edgeimpro.cli.main import build_parser

    parser, _ = build_parser(["train"])
    args = parser.parse_args(["train", "data", "-o", "run"])
    d = TrainConfig()
    assert (args.arch, args.color, args.epochs, args.batch_size, args.optimizer, args.lr, args.patience,
            args.val_split, args.augment, args.seed, args.alpha) == (
        d.arch, d.color, d.epochs, d.batch_size, d.optimizer, d.lr, d.patience, d.val_split, d.augment, d.seed,
        d.alpha)
    assert args.input_size is None and d.input_size is None and args.color is None   # from the data
    assert args.weights == "none" and d.weights is None      # mobilenetv2 never needs a download by default
    # The CLI keeps its own copies of the choices (so --help does not import the library): same values.
    from edgeimpro.cli import train as cli_train
    from edgeimpro.training import ARCHITECTURES, OPTIMIZERS

    assert cli_train.ARCHS == ARCHITECTURES and cli_train.OPTIMIZERS == tuple(OPTIMIZERS)


# --- defaults from the data ---------------------------------------------------------------------------

def image_folder(root: Path, size: tuple[int, int], mode: str = "L", per_class: int = 6, classes: int = 2,
                 grey_content: bool = False, seed: int = 0) -> Path:
    """`classes` x `per_class` PNGs of `size` (h, w): random blobs, so something is learnable by class."""
    rng = np.random.default_rng(seed)
    h, w = size
    for k in range(classes):
        (root / f"c{k}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            px = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
            px[: h // 2] += np.uint8(150) if k == 0 else np.uint8(0)     # class 0: a bright top half
            if grey_content:
                px[:] = px[:, :, :1]
            img = Image.fromarray(px).convert(mode)
            img.save(root / f"c{k}" / f"{i}.png")
    return root


def _paths(folder: Path) -> list[Path]:
    return [p for p, _ in scan_image_folder(folder).items]


def test_train_defaults_to_the_datasets_own_size_and_colour(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = image_folder(tmp_path / "grey20", (20, 20), "L", per_class=8)
    code = main(["train", str(data), "-o", str(tmp_path / "run"), "--epochs", "1", "--val-split", "0.25", "-q"])
    assert code == 0
    out = capsys.readouterr().out
    assert "input    20x20 grayscale (the dataset's own size and colour)" in out.splitlines()
    card = ModelCard.load(tmp_path / "run" / "model.json")
    assert card.preprocessing == Preprocessing(20, 20, "grayscale")
    assert card.training["input"]["size_from"] == "data" and card.training["input"]["color_from"] == "data"
    assert card.training["options"]["input_size"] == "20x20" and card.training["options"]["color"] == "grayscale"
    assert card.training["estimate"]["macs"] < estimate_model(build_model("seed-cnn", (64, 64, 3), 2)).macs / 9


def test_input_choice_rules(tmp_path: Path) -> None:
    from edgeimpro.training import ModelSpec
    from edgeimpro.training.datashape import MAX_DEFAULT_SIDE, choose_input

    def choose(folder: Path, arch: str = "seed-cnn", **kw):
        return choose_input(_paths(folder), ModelSpec(arch, 1, 1, 3, 2), input_size=kw.get("size"),
                            color=kw.get("color"), board=kw.get("board"))

    grey = image_folder(tmp_path / "grey", (20, 20), "L")
    # The options win over the data.
    c = choose(grey, size=(32, 40), color="rgb")
    assert (c.size, c.color, c.size_from, c.color_from, c.survey) == ((32, 40), "rgb", "option", "option", None)
    # An architecture that needs more is scaled up to its minimum, and says so.
    c = choose(grey, "mobilenetv2")
    assert c.size == (72, 72) and c.size_from == "minimum" and c.color == "grayscale"
    assert "mobilenetv2 downsamples 32x and needs about 72x72" in c.reason and "20x20" in c.reason
    assert choose(image_folder(tmp_path / "grey12", (12, 12), "L"), "seed-cnn").size == (16, 16)
    # Grey pixels stored as RGB are grey; colour ones are not.
    assert choose(image_folder(tmp_path / "rgbgrey", (20, 20), "RGB", grey_content=True)).color == "grayscale"
    c = choose(image_folder(tmp_path / "colour", (20, 20), "RGB"))
    assert c.color == "rgb" and "colour" in c.reason
    # Mixed sizes: the most common one; large images scaled down to the default limit, aspect kept.
    mixed = image_folder(tmp_path / "mixed", (150, 200), "RGB", per_class=2)
    for k in range(2):
        Image.fromarray(np.full((30, 30, 3), (200, 10, 10), np.uint8)).save(mixed / f"c{k}" / "small.png")
    c = choose(mixed)
    assert c.size == (72, MAX_DEFAULT_SIDE) and c.size_from == "data-capped"
    assert "150x200" in c.reason and "most common of 2 sizes" in c.reason


def test_input_choice_capped_to_fit_the_board(tmp_path: Path) -> None:
    from edgeimpro.training import ModelSpec
    from edgeimpro.training.datashape import choose_input

    board = get_board("stm32f405")
    big = image_folder(tmp_path / "big", (96, 96), "RGB", per_class=2)
    spec = ModelSpec("resnet8", 1, 1, 3, 2)   # its skip connections keep whole tensors: ~290 KB at 96x96
    assert not check_fit(estimate_model(spec.at_size(96, 96).build()), board).fits
    c = choose_input(_paths(big), spec, input_size=None, color=None, board=board)
    assert c.size == (48, 48) and c.size_from == "board" and "stm32f405" in c.reason and "96x96" in c.reason
    assert check_fit(estimate_model(spec.at_size(*c.size).build()), board).fits
    # Small images that fit keep their size; an explicit size is never changed (the fit check refuses it).
    small = image_folder(tmp_path / "small", (20, 20), "L", per_class=2)
    assert choose_input(_paths(small), spec, input_size=None, color=None, board=board).size == (20, 20)
    assert choose_input(_paths(big), spec, input_size=(150, 150), color=None, board=board).size == (150, 150)


def test_every_preset_builds_at_the_demo_sizes() -> None:
    from edgeimpro.training.architectures import ARCHITECTURES, min_input_size

    for arch in ARCHITECTURES:
        for side in (25, 28):
            size = max(side, min_input_size(arch))
            model = build_model(arch, (size, size, 1), 10)
            assert model.output_shape == (1, 10)
    with pytest.raises(UsageError, match=r"seed-cnn needs an input of at least 16x16, got 12x12") as e:
        build_model("seed-cnn", (12, 12, 1), 2)
    assert "--input-size 16x16" in e.value.hint


# --- batch-norm statistics --------------------------------------------------------------------------

def test_batchnorm_statistics_are_the_training_datas(tmp_path: Path) -> None:
    """After train, every BN layer's moving mean/variance equal the statistics of its input on the training
    images (no moving-average lag): the inference model is the one validation measured."""
    import keras

    from edgeimpro.training.batchnorm import batchnorm_layers, bn_sample

    data = image_folder(tmp_path / "d", (16, 16), "L", per_class=10)
    result = train(data, tmp_path / "run", TrainConfig(arch="dscnn", epochs=2, batch_size=4, val_split=0.2))
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    folder = scan_image_folder(data)
    tr, _ = split_items(folder.items, 0.2, 0)
    x = bn_sample(load_images(tr, result.card.preprocessing).x, 0)
    bn = batchnorm_layers(model)[0]                    # conv1_bn: its input is conv1's output
    conv = keras.Model(model.inputs, model.get_layer("conv1").output)
    feats = np.asarray(conv(x, training=False)).reshape(-1, bn.moving_mean.shape[0])
    assert np.allclose(np.asarray(bn.moving_mean), feats.mean(axis=0), rtol=1e-3, atol=1e-5)
    assert np.allclose(np.asarray(bn.moving_variance), feats.var(axis=0), rtol=1e-3, atol=1e-6)


# --- collapse: a model that learned nothing -----------------------------------------------------------

def test_collapse_check_on_synthetic_predictions() -> None:
    from edgeimpro.training.collapse import CollapseCheck, check_collapse

    rng = np.random.default_rng(0)
    labels = ["a", "b", "c", "d"]
    y = np.repeat(np.arange(4), 50)
    healthy = np.where(rng.random(200) < 0.9, y, rng.integers(0, 4, 200))
    ok = check_collapse(y, healthy, labels)
    assert not ok.collapsed and ok.reasons == () and ok.balanced_accuracy > 0.85
    at_chance = check_collapse(y, rng.integers(0, 4, 200), labels)
    assert at_chance.collapsed and len(at_chance.reasons) == 1
    assert at_chance.chance == 0.25 and at_chance.margin == pytest.approx(2 * np.sqrt(0.25 * 0.75 / 200))
    assert "within 0.061 of chance (0.250 for 4 classes)" in at_chance.reasons[0]
    one = check_collapse(y, np.full(200, 2), labels)
    assert one.collapsed and one.top_class == "c" and one.top_class_share == 1.0 and one.balanced_accuracy == 0.25
    assert one.reasons[0] == "it predicts 'c' for 200 of 200 validation images (100%; 25% of them are 'c')"
    # Imbalanced truth: always answering the 90% class scores 0.9 accuracy, but its balanced accuracy is chance.
    y2 = np.array([0] * 90 + [1] * 10)
    majority = check_collapse(y2, np.zeros(100, int), ["x", "y"])
    assert majority.accuracy == 0.9 and majority.collapsed and "balanced accuracy 0.500" in majority.summary()
    assert not check_collapse(y2, y2, ["x", "y"]).collapsed
    # The card's form round-trips; cards written before the check read as "unknown".
    assert CollapseCheck.from_dict(one.to_dict()) == one
    assert CollapseCheck.from_dict(None) is None and CollapseCheck.from_dict({"x": 1}) is None


def test_noise_labels_train_to_chance_warned_recorded_and_repeated_by_convert(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = noise_folder(tmp_path / "noise", classes=2, per_class=24, size=16)
    code = main(["train", str(data), "-o", str(tmp_path / "run"), "--epochs", "2", "--batch-size", "8", "-q"])
    assert code == 0
    err = capsys.readouterr().err
    card = ModelCard.load(tmp_path / "run" / "model.json")
    collapse = card.training["collapse"]
    assert collapse["collapsed"] is True and collapse["evaluated_on"] == "validation" and collapse["images"] == 10
    assert collapse["balanced_accuracy"] <= collapse["chance"] + collapse["margin"]
    warning = [line for line in err.splitlines() if line.startswith("WARNING:")]
    assert len(warning) == 1 and "learned nothing useful" in warning[0] and collapse["reasons"][0] in warning[0]
    assert "--epochs 40" in warning[0] and "class folder" in warning[0]
    code = main(["convert", str(tmp_path / "run" / "model.keras"), "--samples", "8"])
    assert code == 0
    err = capsys.readouterr().err
    repeated = [line for line in err.splitlines() if line.startswith("WARNING:")]
    assert len(repeated) == 1 and "training recorded (model.json)" in repeated[0]
    assert collapse["reasons"][0] in repeated[0]
    converted = ModelCard.load(tmp_path / "run" / "model.json")
    assert converted.training["collapse"] == collapse                    # kept through conversion
    assert converted.conversion["collapse"]["evaluated_on"] == "held-out (int8)"
