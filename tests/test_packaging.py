"""`pip install edgeimpro` is enough to build firmware: the C sources ship inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgeimpro.firmware import firmware_dir

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.unit


def test_wheel_ships_every_firmware_source(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("edgeimpro-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = [p for p in firmware_dir().rglob("*") if p.is_file() and p.suffix in (".c", ".h", ".ld", ".mk")]
    assert len(sources) > 40
    missing = [p for p in sources if f"edgeimpro/{p.relative_to(firmware_dir().parent).as_posix()}" not in names]
    assert not missing, f"not in the wheel: {missing[:5]}"
