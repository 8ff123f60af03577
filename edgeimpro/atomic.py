"""Write a folder atomically: fill a hidden temporary sibling, then rename it into place (datasets, training
runs, exports).

An interrupted or failed write leaves the target untouched (absent, or the previous contents).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgeimpro.errors import UsageError


def check_target(target: Path, force: bool, what: str = "output folder") -> None:
    """Refuse a file, or a non-empty folder unless `force`."""
    if target.exists() and not target.is_dir():
        raise UsageError(f"{what} {target} is a file", hint="give a folder path")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UsageError(f"{what} {target} already exists and is not empty",
                         hint="choose another folder, or pass --force to replace it")


@contextmanager
def atomic_dir(target: Path | str, force: bool = False, what: str = "output folder") -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `target`, on any error it is removed."""
    target = Path(target).absolute()
    check_target(target, force, what)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        tmp.chmod(0o777 & ~_umask())      # mkdtemp makes 0700; the result is an ordinary folder
        yield tmp
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_dir(new: Path, target: Path) -> None:
    """Rename `new` to `target`; an existing `target` is moved aside first and removed afterwards."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
