"""Writing an export folder: all or nothing, and never over a folder edgeimpro did not write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeimpro.atomic import atomic_dir
from edgeimpro.errors import UsageError

MANIFEST = "edgeimpro_export.json"   # what was exported from what; marks the folder as ours


def check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).exists():
        raise UsageError(f"{out_dir} is not empty and was not written by `edgeimpro export`",
                         hint="give a new or empty folder with -o; edgeimpro replaces only its own exports")


def write_export(out_dir: Path, files: dict[str, str | bytes], manifest: dict[str, Any]) -> None:
    """Check the folder, add the manifest and write everything atomically."""
    check_out_dir(out_dir)
    files = dict(files)
    files[MANIFEST] = json.dumps(dict(manifest, files=sorted(files)), indent=2) + "\n"
    write_tree_atomic(out_dir, files)


def write_tree_atomic(out_dir: Path, files: dict[str, str | bytes]) -> None:
    """Write every file into a temporary sibling folder, then swap it in: nothing half-written."""
    with atomic_dir(out_dir, force=True, what="export folder") as tmp:
        for rel, data in files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data.encode() if isinstance(data, str) else data)
