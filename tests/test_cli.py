"""The CLI fits a practitioner's habits: options anywhere among positionals, defaults in every help, a real
top-level description, class names wherever they are kept, no runtime start-up noise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT
from PIL import Image

from edgeimpro.cli.main import VERBS, main
from edgeimpro.errors import ModelError

pytestmark = pytest.mark.unit

TINY = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_describes_the_tool_and_the_usual_path(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys)
    assert text.splitlines()[2].startswith("edgeimpro takes image CNNs from Keras to Cortex-M")
    assert "the usual path:" in text and "edgeimpro compare --model" in text
    assert "entry point" not in text                       # not the module's docstring


@pytest.mark.parametrize("verb, option, default", [
    ("datasets demo", "--seed", "0"), ("export", "--layout", None), ("run", "--on", "host"),
    ("compare", "--gallery", "12"), ("infer", "--top-k", "3"), ("compare", "--fail-on", "exact"),
])
def test_every_help_states_the_defaults(capsys: pytest.CaptureFixture[str], verb: str, option: str,
                                        default: str | None) -> None:
    text = " ".join(help_text(capsys, *verb.split()).split())       # unwrap argparse's columns
    at = text.index(option + " ", text.index("options:"))
    nxt = text.find(" --", at + len(option) + 1)
    entry = text[at: nxt if nxt > 0 else None]
    assert "default" in entry, entry
    if default is not None:
        assert default in entry, entry


def test_every_verb_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for verb in VERBS:
        assert "usage: edgeimpro " + verb in help_text(capsys, verb)


def test_options_between_positionals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = []
    for name, rgb in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        images.append(tmp_path / f"{name}.png")
        Image.new("RGB", (16, 16), rgb).save(images[-1])
    assert main(["infer", str(TINY), "--top-k", "2", str(images[0]), "--json", str(images[1])]) == 0
    out, err = capsys.readouterr()
    frames = [json.loads(line) for line in out.splitlines()]
    assert [f["name"] for f in frames] == ["red.png", "blue.png"] and all(len(f["top"]) == 2 for f in frames)
    assert "INFO: Created TensorFlow Lite" not in err      # LiteRT's start-up banner is not shown


def test_infer_class_names_from_labels_txt_or_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "tiny.tflite"
    model.write_bytes(TINY.read_bytes())
    image = tmp_path / "x.png"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(image)

    def top_labels(*extra: str) -> tuple[int, set[str], str]:
        rc = main(["infer", str(model), str(image), "--json", "--top-k", "3", *extra])
        out, err = capsys.readouterr()
        return rc, {c["label"] for c in json.loads(out.splitlines()[0])["top"]} if rc == 0 else set(), err

    assert top_labels()[1] == {"0", "1", "2"}
    (tmp_path / "labels.txt").write_text("red\ngreen\nblue\n")
    rc, labels, err = top_labels()
    assert labels == {"red", "green", "blue"} and "labels.txt" in err
    names = tmp_path / "names.txt"
    names.write_text("A\n\nB\nC\n")
    assert top_labels("--class-names", str(names))[1] == {"A", "B", "C"}
    names.write_text("A\nB\n")
    rc, _, err = top_labels("--class-names", str(names))
    assert rc == ModelError.exit_code and "lists 2 class names; the model has 3 outputs" in err


def test_board_options_list_the_boards_that_make_sense(capsys: pytest.CaptureFixture[str]) -> None:
    from edgeimpro.boards.registry import BOARDS

    flash = " ".join(help_text(capsys, "flash").split())
    flashable = sorted(b.name for b in BOARDS.values() if b.flash_method)
    assert "{" + ",".join(flashable) + "}" in flash and "qemu-m4" not in flash   # QEMU boards are not flashed
    run = " ".join(help_text(capsys, "run").split())
    emulated = [b.name for b in BOARDS.values() if b.qemu_machine]
    assert "an emulated board: " + ", ".join(emulated) + " (firmware" in run
    assert not any(b.name in run for b in BOARDS.values() if not b.qemu_machine)
    for verb in ("bench", "inspect"):
        assert "{" + ",".join(sorted(BOARDS)) + "}" in " ".join(help_text(capsys, verb).split())


@pytest.mark.parametrize("verb, before", [("infer", [str(TINY)]),
                                          ("compare", ["--model", str(TINY), "--port", "loop://"])])
def test_infer_and_compare_read_the_same_source_options(capsys: pytest.CaptureFixture[str], verb: str,
                                                        before: list[str]) -> None:
    from edgeimpro.cli.main import build_parser

    argv = [verb, *before, "a.png", "--camera", "/dev/video3"]
    args = build_parser(argv)[0].parse_args(argv)
    assert (args.sources, args.camera, args.picamera, args.video) == (["a.png"], 3, False, None)
    argv = [verb, *before, "--camera", "front"]
    with pytest.raises(SystemExit) as e:
        build_parser(argv)[0].parse_args(argv)
    assert e.value.code == 2 and "camera must be a number N (or /dev/videoN), got 'front'" in capsys.readouterr().err
    argv = [verb, *before, "--camera", "0", "--picamera"]
    with pytest.raises(SystemExit):
        build_parser(argv)[0].parse_args(argv)
