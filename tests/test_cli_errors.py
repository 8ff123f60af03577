"""What reaches `main()` from the operating system or from a hostile image is one clear line, never a traceback:
paths that cannot be written, outputs that name a folder, decompression bombs."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from edgeimpro.cli.main import main
from edgeimpro.errors import DataError, FileAccessError, UsageError
from edgeimpro.preprocess import DEFAULT_MAX_IMAGE_PIXELS, set_max_image_pixels

pytestmark = pytest.mark.unit

TINY = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"


@pytest.fixture(autouse=True)
def _restore_pixel_limit():
    yield
    set_max_image_pixels(DEFAULT_MAX_IMAGE_PIXELS)


def _one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("errno_, hint", [(errno.EACCES, "permissions"), (errno.ENOSPC, "disk is full"),
                                          (errno.EROFS, "read-only"), (errno.ENOTDIR, "is a file")])
def test_os_errors_become_one_line_with_path_and_hint(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], errno_: int,
                                                      hint: str) -> None:
    """Whatever verb meets it (root ignores permissions, so the error is raised where a write would fail)."""
    import edgeimpro.cli.inspect as verb

    def fail(args):
        raise OSError(errno_, __import__("os").strerror(errno_), "/data/out/model.c")

    monkeypatch.setattr(verb, "run", fail)
    assert main(["inspect", str(TINY)]) == FileAccessError.exit_code
    err = capsys.readouterr().err
    assert _one_line_error(err) == f"error: {__import__('os').strerror(errno_)}: /data/out/model.c"
    assert hint in err


@pytest.mark.parametrize("argv", [
    ["export", str(TINY), "--target", "aot", "-o", "{file}/out"],
    ["export", str(TINY), "--target", "tflm", "-o", "{file}/out"],
    ["datasets", "demo", "faces", "{file}/out"],
])
def test_output_below_a_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              argv: list[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc = main([a.format(file=blocker) for a in argv])
    assert rc in (UsageError.exit_code, FileAccessError.exit_code)
    assert str(blocker) in _one_line_error(capsys.readouterr().err)
    assert blocker.read_text() == "not a folder"


def test_run_output_naming_a_folder_is_refused_before_running(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 4, 4, 1), np.int8))
    out = tmp_path / "existing"
    out.mkdir()
    assert main(["run", str(TINY), "--inputs", str(x), "--on", "host", "-o", str(out)]) == UsageError.exit_code
    line = _one_line_error(capsys.readouterr().err)
    assert "is a folder" in line and list(out.iterdir()) == []


def test_decompression_bomb_is_refused_and_the_limit_is_an_option(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)        # 48 kB on disk, 400 M pixels decoded
    assert bomb.stat().st_size < 100_000
    assert main(["infer", str(TINY), str(bomb)]) == DataError.exit_code
    err = capsys.readouterr().err
    assert "too large to decode safely" in _one_line_error(err) and "--max-image-pixels" in err

    small = tmp_path / "small.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(small)
    assert main(["infer", str(TINY), str(small), "--json"]) == 0
    capsys.readouterr()
    assert main(["infer", str(TINY), str(small), "--max-image-pixels", "1000"]) == DataError.exit_code
    assert "1,000" in capsys.readouterr().err


def test_names_from_a_model_cannot_drive_the_terminal(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Errors quote tensor names and folder names; an ANSI escape or a bidi override in one is shown, not obeyed."""
    import edgeimpro.cli.inspect as verb
    from edgeimpro.errors import ModelError

    def fail(args):
        raise ModelError("tensor 3 'x\x1b[2J\x1b[31mred\u202egnp.exe' is corrupt", hint="see '\x07bell'")

    monkeypatch.setattr(verb, "run", fail)
    assert main(["inspect", str(TINY)]) == ModelError.exit_code
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\u202e" not in err and "\x07" not in err
    assert "tensor 3 'x\\x1b[2J\\x1b[31mred" in _one_line_error(err)


def _error_classes() -> list[type]:
    """Every EdgeImproError class in edgeimpro: the modules that set an `exit_code` are found in the source
    (so a new one cannot hide from this test) and imported; none of them needs TensorFlow."""
    import importlib
    import re

    from edgeimpro.errors import EdgeImproError

    pkg = ROOT / "edgeimpro"
    for path in sorted(pkg.rglob("*.py")):
        if re.search(r"^\s+exit_code\b[^=\n]*=", path.read_text(encoding="utf-8"), re.M):
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    found, todo = [], [EdgeImproError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _readme_exit_table() -> dict[int, str]:
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("| status | meaning |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        m = re.fullmatch(r"\| (\d+) \| (.+) \|", line)
        if not m:
            break
        rows[int(m.group(1))] = m.group(2)
    return rows


def test_readme_and_help_list_the_one_exit_code_table() -> None:
    from edgeimpro.cli.main import EPILOG
    from edgeimpro.errors import EXIT_MEANINGS, ExitCode

    assert set(EXIT_MEANINGS) == set(ExitCode)
    assert _readme_exit_table() == {int(c): m for c, m in EXIT_MEANINGS.items()}
    for code, meaning in EXIT_MEANINGS.items():
        assert f"{int(code):>3}  {meaning}" in EPILOG


def test_each_exit_code_has_one_meaning_and_one_exception_class() -> None:
    """A class that sets a code defines a meaning; its subclasses share it. Two classes defining the same
    code (as 7 once meant "link" and "emulator", 9 "flash" and "compare check failed") fail here."""
    from edgeimpro.errors import EdgeImproError, ExitCode

    defining: dict[ExitCode, list[str]] = {}
    for cls in _error_classes():
        assert isinstance(cls.exit_code, ExitCode), f"{cls.__name__}.exit_code is not an ExitCode"
        parent = next(b for b in cls.__mro__[1:] if issubclass(b, EdgeImproError)) \
            if cls is not EdgeImproError else None
        if parent is None or cls.exit_code != parent.exit_code:
            defining.setdefault(cls.exit_code, []).append(cls.__name__)
    shared = {int(c): names for c, names in defining.items() if len(names) > 1}
    assert not shared, f"codes defined by more than one exception class: {shared}"
    outcomes = {ExitCode.OK, ExitCode.CHECK_FAILED, ExitCode.INTERRUPTED}    # returned by the CLI, not raised
    assert set(defining) == set(ExitCode) - outcomes


def test_emulator_flash_link_and_check_failed_are_told_apart() -> None:
    from edgeimpro.boards.flash import FlashError
    from edgeimpro.cli.compare import MISMATCH_EXIT
    from edgeimpro.link.device import DeviceError, LinkError
    from edgeimpro.link.emulator import EmulatorError

    codes = {int(LinkError.exit_code), int(EmulatorError.exit_code), int(FlashError.exit_code), int(MISMATCH_EXIT)}
    assert codes == {7, 11, 12, 9}                     # 7 and 9 keep the meanings scripts test
    assert DeviceError.exit_code == LinkError.exit_code  # the device reporting an error over the link is a link error
