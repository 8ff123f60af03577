"""C sources shipped inside the package (runtime kernels, app, boards): `pip install edgeimpro` can build firmware."""

from pathlib import Path


def firmware_dir() -> Path:
    """Folder holding `runtime/`, `app/` and `boards/`."""
    return Path(__file__).resolve().parent


def runtime_dir() -> Path:
    return firmware_dir() / "runtime"
