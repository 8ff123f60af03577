"""Where edgeimpro keeps builds it can reuse (host runners, firmware): one root for all of them."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$EDGEIMPRO_CACHE, else $XDG_CACHE_HOME/edgeimpro, else ~/.cache/edgeimpro."""
    env = os.environ.get("EDGEIMPRO_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "edgeimpro"
