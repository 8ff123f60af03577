"""Demo datasets (`edgeimpro datasets demo`) and the image-folder loader the training reads through."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeimpro.cli.main import main
from edgeimpro.datasets import demo
from edgeimpro.datasets.demo import SHAPE_CLASSES, write_demo
from edgeimpro.datasets.folder import load_images, scan_image_folder, split_items
from edgeimpro.errors import DataError, UsageError
from edgeimpro.preprocess import Preprocessing

pytestmark = pytest.mark.unit


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- demo datasets ------------------------------------------------------------------------------

def test_shapes_layout_counts_and_size(tmp_path: Path) -> None:
    result = write_demo("shapes", tmp_path / "shapes", count=5, seed=3)
    assert result.counts == dict.fromkeys(SHAPE_CLASSES, 5)
    assert sorted(p.name for p in (tmp_path / "shapes").iterdir()) == sorted(SHAPE_CLASSES)
    files = sorted((tmp_path / "shapes").rglob("*.png"))
    assert len(files) == 15
    for f in files:
        with Image.open(f) as im:
            assert im.size == (96, 96) and im.mode == "RGB"
    # The images vary: no two files are the same, and backgrounds are textured, not flat.
    pixels = [np.asarray(Image.open(f), np.float32) for f in files]
    assert len({p.tobytes() for p in pixels}) == 15
    assert all(p.std() > 10 for p in pixels)


def test_shapes_deterministic_with_seed(tmp_path: Path) -> None:
    write_demo("shapes", tmp_path / "a", count=3, seed=7, size=32)
    write_demo("shapes", tmp_path / "b", count=3, seed=7, size=32)
    write_demo("shapes", tmp_path / "c", count=3, seed=8, size=32)
    write_demo("shapes", tmp_path / "d", count=5, seed=7, size=32)
    a, b, c, d = (tree_digest(tmp_path / x) for x in "abcd")
    assert a == b
    assert a != c
    assert all(d[k] == v for k, v in a.items())       # a larger --count keeps the first images


def test_demo_size_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`datasets demo shapes --size 150` writes 150x150 images (the workshop CNN's input); digits and faces
    keep their own size and refuse --size, writing nothing."""
    from edgeimpro.cli.main import main

    assert main(["datasets", "demo", "shapes", str(tmp_path / "s"), "--count", "1", "--size", "150"]) == 0
    files = sorted((tmp_path / "s").rglob("*.png"))
    assert len(files) == 3 and all(Image.open(f).size == (150, 150) for f in files)
    assert main(["datasets", "demo", "digits", str(tmp_path / "d"), "--count", "1", "--size", "64"]) != 0
    assert "--size applies to the generated demos (shapes, crowd), not digits" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    assert main(["datasets", "demo", "shapes", str(tmp_path / "t"), "--size", "8"]) != 0
    assert "image size must be at least 16, got 8" in capsys.readouterr().err


def test_digits_are_real_mnist(tmp_path: Path) -> None:
    result = write_demo("digits", tmp_path / "digits", count=3)
    assert result.counts == {str(i): 3 for i in range(10)}
    files = sorted((tmp_path / "digits").rglob("*.png"))
    assert len(files) == 30
    with Image.open(files[0]) as im:
        assert im.size == (28, 28) and im.mode == "L"
        px = np.asarray(im)
    assert px.max() > 200 and px.min() == 0          # white strokes on black, as in MNIST


def test_faces(tmp_path: Path) -> None:
    result = write_demo("faces", tmp_path / "faces", count=4)
    assert result.counts == {"face": 4, "non-face": 4}
    for f in (tmp_path / "faces").rglob("*.png"):
        with Image.open(f) as im:
            assert im.size == (25, 25) and im.mode == "L"


def test_count_beyond_real_data_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="the train split has 77 images of class 'face', 78 requested") as e:
        write_demo("faces", tmp_path / "f", count=78)
    assert "--count 77" in e.value.hint
    assert not (tmp_path / "f").exists()
    with pytest.raises(UsageError, match="the test split has 20 images of class 'non-face', 21 requested"):
        write_demo("faces", tmp_path / "f", count=21, split="test")


def pixel_digests(root: Path) -> set[str]:
    return {hashlib.sha256(np.asarray(Image.open(p)).tobytes()).hexdigest() for p in root.rglob("*.png")}


@pytest.mark.parametrize("name, count, size", [("digits", None, 96), ("faces", None, 96), ("shapes", 40, 24)])
def test_train_and_test_splits_never_share_an_image_whatever_the_seeds(tmp_path: Path, name: str,
                                                                       count: int | None, size: int) -> None:
    """The leak the issue found: a 'test' set written with another seed was byte-identical to training images."""
    train = {seed: pixel_digests(write_demo(name, tmp_path / f"train{seed}", count=count, seed=seed, size=size).path)
             for seed in (0, 7)}
    test = {seed: pixel_digests(write_demo(name, tmp_path / f"test{seed}", count=count, seed=seed, size=size,
                                           split="test").path) for seed in (0, 7)}
    for a in train.values():
        for b in test.values():
            assert a and b and not a & b
    if count is None:                      # every image of the real sets is in exactly one split
        assert len(train[0]) + len(test[0]) == {"digits": 5000, "faces": 200}[name]
    else:                                  # generated: another seed gives other images
        assert not train[0] & train[7]


def test_refuses_non_empty_folder_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="already exists and is not empty") as e:
        write_demo("shapes", out, count=1, size=32)
    assert "--force" in e.value.hint
    assert (out / "keep.txt").exists()
    write_demo("shapes", out, count=1, size=32, force=True)
    assert not (out / "keep.txt").exists()
    assert len(list(out.rglob("*.png"))) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["out"]     # no temporary folders left


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing(cls, rng, size=96):
        calls.append(cls)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return np.zeros((size, size, 3), np.uint8)

    monkeypatch.setattr(demo, "shape_image", failing)
    with pytest.raises(KeyboardInterrupt):
        write_demo("shapes", tmp_path / "out", count=3, size=32)
    assert list(tmp_path.iterdir()) == []


def test_cli_demo_and_list(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["datasets", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert listed == list(demo.DEMOS)
    assert main(["datasets", "demo", "shapes", str(tmp_path / "s"), "--count", "2", "--seed", "1"]) == 0
    assert {p.name: len(list(p.iterdir())) for p in (tmp_path / "s").iterdir()} == dict.fromkeys(SHAPE_CLASSES, 2)
    capsys.readouterr()
    assert main(["datasets", "demo", "shapes", str(tmp_path / "s"), "--count", "2"]) == UsageError.exit_code
    assert "already exists" in capsys.readouterr().err
    assert main(["datasets", "demo", "faces", str(tmp_path / "t"), "--split", "test"]) == 0
    assert {p.name: len(list(p.iterdir())) for p in (tmp_path / "t").iterdir()} == {"face": 23, "non-face": 20}


# --- the image-folder loader ----------------------------------------------------------------------

@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """cats: colour jpg + grey png + bmp of different sizes; dogs: png + a corrupt jpg + a text file."""
    root = tmp_path / "pets"
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(root / "cats" / "a.jpg")
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(root / "cats" / "b.png")
    Image.fromarray(rng.integers(0, 256, (33, 17, 3), dtype=np.uint8)).save(root / "cats" / "c.bmp")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / "dogs" / "d.png")
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "dogs" / "notes.txt").write_text("not an image")
    return root


def test_loader_mixed_sizes_modes_formats(mixed_folder: Path) -> None:
    folder = scan_image_folder(mixed_folder)
    assert folder.classes == ["cats", "dogs"]
    assert folder.counts() == {"cats": 3, "dogs": 2}
    assert [p.name for p in folder.ignored] == ["notes.txt"]
    for color, channels in (("rgb", 3), ("grayscale", 1)):
        loaded = load_images(folder.items, Preprocessing(24, 32, color))
        assert loaded.x.shape == (4, 24, 32, channels) and loaded.x.dtype == np.float32
        assert loaded.x.min() >= 0 and loaded.x.max() <= 255
        assert loaded.y.tolist() == [0, 0, 0, 1]
        # The corrupt file is reported by path, with a reason, and counted; the rest load.
        assert [p.name for p, _ in loaded.unreadable] == ["broken.jpg"]
        assert "cannot read image" in loaded.unreadable[0][1]


def test_loader_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset folder not found: .*nowhere") as e:
        scan_image_folder(tmp_path / "nowhere")
    assert "subfolder per class" in e.value.hint


def test_loader_one_class_only(tmp_path: Path) -> None:
    (tmp_path / "only").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "only" / "x.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"needs at least 2 class subfolders with images; found 1 \(only\)"):
        scan_image_folder(tmp_path)


def distinct_images(root: Path, counts: dict[str, int]) -> list[tuple[Path, int]]:
    items = []
    for y, (cls, n) in enumerate(counts.items()):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            path = root / cls / f"{i}.png"
            Image.fromarray(np.full((4, 4), 10 * i + y, np.uint8)).save(path)
            items.append((path, y))
    return items


def test_split_is_stratified_and_seeded(tmp_path: Path) -> None:
    items = distinct_images(tmp_path, {"cats": 15, "dogs": 10})
    a = split_items(items, 0.4, seed=1)
    assert a == split_items(items, 0.4, seed=1)
    assert a != split_items(items, 0.4, seed=2)
    train, val = a
    assert sorted(train + val) == sorted(items)
    assert [sum(y == k for _, y in val) for k in (0, 1)] == [6, 4]      # 40% of each class
    # A class of one image keeps it for training.
    single = [(tmp_path / "cats" / "0.png", 0), (tmp_path / "dogs" / "0.png", 1), (tmp_path / "dogs" / "1.png", 1)]
    assert [y for _, y in split_items(single, 0.5)[0]].count(0) == 1


def test_split_keeps_copies_of_one_image_together(tmp_path: Path) -> None:
    """Copies under other names (scraped sets have them) never sit on both sides of the held-out split."""
    items = distinct_images(tmp_path, {"cats": 12, "dogs": 12})
    for i in range(6):                                       # six cats copied twice each under new names
        for k in range(2):
            copy = tmp_path / "cats" / f"copy{i}_{k}.png"
            copy.write_bytes((tmp_path / "cats" / f"{i}.png").read_bytes())
            items.append((copy, 0))
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p, _ in items}
    for seed in range(8):
        train, val = split_items(items, 0.3, seed=seed)
        assert sorted(train + val) == sorted(items)
        assert not {digest[p] for p, _ in train} & {digest[p] for p, _ in val}
        assert 0 < sum(y == 0 for _, y in val) < 24 and sum(y == 1 for _, y in val) == 4


def test_cli_copies_the_library_names() -> None:
    from edgeimpro.cli import datasets as cli_datasets

    assert cli_datasets.DEMO_NAMES == tuple(demo.DEMOS)
