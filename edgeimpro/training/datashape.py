"""The model input chosen from the data: the dataset's own image size and colour unless told otherwise.

Training 28x28 grey digits at 64x64 RGB costs six times the MACs and five times the RAM for the same
accuracy, so `--input-size` and `--color` default to what the images are: the most common size among a
sample (header reads, no decoding) and grey when every sampled image is grey. Then, in this order:
  - larger than MAX_DEFAULT_SIDE on a side: scaled down to it (aspect kept), the largest default;
  - smaller than the architecture's minimum: scaled up to it, saying which architecture needs it;
  - with a board, a model that does not fit within the suggestion budget: the largest size that does.
Explicit options always win; every choice carries the reason the CLI prints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.boards.registry import Board
from edgeimpro.training.architectures import ModelSpec, default_min_input_size

SURVEY_SAMPLE = 256        # image headers read to find the common size and colour mode
COLOUR_CHECK_SAMPLE = 48   # RGB-stored images decoded (reduced) to see whether they are grey in fact
COLOUR_CHECK_SIDE = 64     # decoded at about this size: enough to see colour
GREY_SPREAD_MEAN = 2.0     # mean max-min over R, G, B per pixel: JPEG artefacts of a grey picture stay below
GREY_SPREAD_P99 = 12.0
MAX_DEFAULT_SIDE = 96      # the MLPerf Tiny image size; larger inputs rarely fit a microcontroller's RAM
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})


@dataclass(frozen=True)
class ImageSurvey:
    """What a sample of the dataset's images looks like."""

    sampled: int                        # images whose header was read
    size: tuple[int, int] | None        # most common (height, width); None when no image could be read
    size_share: float                   # fraction of the readable sample at that size
    sizes: int                          # distinct sizes seen
    grey: bool                          # every readable sampled image is grey
    unreadable: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = f"{self.size[0]}x{self.size[1]}" if self.size else None
        return d


@dataclass(frozen=True)
class InputChoice:
    """The model input and why: printed before training and recorded in the model card."""

    height: int
    width: int
    color: str                          # "rgb" or "grayscale"
    reason: str                         # "the dataset's own size and colour", ...
    size_from: str                      # "option", "data", "data-capped", "minimum", "board"
    color_from: str                     # "option", "data" or "weights" (ImageNet weights need rgb)
    survey: ImageSurvey | None = None   # None when both were given

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    def to_dict(self) -> dict[str, Any]:
        return {"size": f"{self.height}x{self.width}", "color": self.color, "reason": self.reason,
                "size_from": self.size_from, "color_from": self.color_from,
                "survey": self.survey.to_dict() if self.survey else None}


def survey_images(paths: Sequence[Path], sample: int = SURVEY_SAMPLE) -> ImageSurvey:
    """Most common size and grey-or-colour of up to `sample` images, spread evenly over `paths` (stable:
    the same folder gives the same answer). Headers only, except RGB-stored images, a few of which are
    decoded small to see whether their pixels are grey (X-rays are often saved as RGB JPEGs)."""
    from PIL import Image

    picked = _spread(list(paths), sample)
    sizes: Counter[tuple[int, int]] = Counter()
    colour_stored: list[Path] = []
    unreadable = 0
    for path in picked:
        try:
            with Image.open(path) as im:
                sizes[(im.height, im.width)] += 1
                if im.mode not in GREY_MODES:
                    colour_stored.append(path)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            unreadable += 1       # reported by path when the images are loaded
    readable = sum(sizes.values())
    if not readable:
        return ImageSurvey(len(picked), None, 0.0, 0, False, unreadable)
    (size, count), = sizes.most_common(1)
    grey = all(_looks_grey(p) for p in _spread(colour_stored, COLOUR_CHECK_SAMPLE))
    return ImageSurvey(len(picked), size, count / readable, len(sizes), grey, unreadable)


def _spread(items: list[Path], n: int) -> list[Path]:
    """n items evenly spaced through the list (all of them when there are fewer)."""
    if len(items) <= n:
        return items
    return [items[int(i * len(items) / n)] for i in range(n)]


def _looks_grey(path: Path) -> bool:
    """True when an RGB-stored image's channels agree (within JPEG noise) at a reduced size."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (COLOUR_CHECK_SIDE, COLOUR_CHECK_SIDE))     # JPEG: decode at 1/2..1/8 scale
            im = im.convert("RGB")
            im.thumbnail((COLOUR_CHECK_SIDE, COLOUR_CHECK_SIDE))
            px = np.asarray(im, dtype=np.int16)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return True                # unreadable: no evidence of colour (reported when loading)
    spread = px.max(axis=2) - px.min(axis=2)
    return float(spread.mean()) <= GREY_SPREAD_MEAN and float(np.percentile(spread, 99)) <= GREY_SPREAD_P99


def choose_input(paths: Sequence[Path], model: ModelSpec, *, input_size: tuple[int, int] | None,
                 color: str | None, board: Board | None = None) -> InputChoice:
    """The input size and colour for training `model`'s architecture (its own size and channels are
    ignored) on the images `paths`, given the options (None: from the data). See the module doc."""
    survey = None if input_size is not None and color is not None else survey_images(paths)
    parts: list[str] = []

    if color is not None:
        color_from, colour = "option", color
    elif model.weights == "imagenet":
        color_from, colour = "weights", "rgb"
    elif survey is not None and survey.size is not None:
        color_from, colour = "data", ("grayscale" if survey.grey else "rgb")
    else:
        color_from, colour = "data", "rgb"      # nothing readable: loading reports the files
    channels = 1 if colour == "grayscale" else 3

    minimum, why_minimum = default_min_input_size(model.arch)
    if input_size is not None:
        (h, w), size_from = input_size, "option"
        parts.append("--input-size")
    elif survey is None or survey.size is None:
        h = w = max(minimum, 64)
        size_from = "data"
        parts.append("no readable image to measure; 64x64")
    else:
        h, w = survey.size
        own = f"{h}x{w}"
        common = "" if survey.sizes == 1 else f" (the most common of {survey.sizes} sizes, " \
                                               f"{survey.size_share:.0%} of {survey.sampled - survey.unreadable} sampled)"
        size_from = "data"
        if max(h, w) > MAX_DEFAULT_SIDE:
            h, w = _scaled(h, w, MAX_DEFAULT_SIDE / max(h, w))
            size_from = "data-capped"
            parts.append(f"the dataset's {own} images{common} scaled down to {MAX_DEFAULT_SIDE} on the longer "
                         f"side, the largest default; --input-size to choose")
        if min(h, w) < minimum:
            h, w = _scaled(h, w, minimum / min(h, w))
            size_from = "minimum"
            parts.append(f"the dataset's {own} images{common} scaled up: {why_minimum}")
        if size_from == "data":
            parts.append(f"the dataset's own size{common}")
        if board is not None:
            fitted = _fit_board(replace(model, height=h, width=w, channels=channels), board)
            if fitted is not None:
                h, w = fitted
                size_from = "board"
                parts.append(f"the largest size whose int8 {model.arch} fits {board.name} with a quarter of "
                             f"its RAM and flash to spare (the dataset's images are {own})")

    if color_from == "option":
        parts.append("--color")
    elif color_from == "weights":
        parts.append("rgb: ImageNet weights take colour input")
    elif survey is not None and survey.size is not None:
        colour_text = "grey" if survey.grey else "colour"
        if size_from == "data" and parts and parts[-1].startswith("the dataset's own size"):
            parts[-1] = parts[-1].replace("the dataset's own size", "the dataset's own size and colour", 1)
        else:
            parts.append(f"the dataset's images are {colour_text}")
    return InputChoice(h, w, colour, "; ".join(parts), size_from, color_from, survey)


def _scaled(h: int, w: int, factor: float) -> tuple[int, int]:
    return max(1, int(round(h * factor))), max(1, int(round(w * factor)))


def _fit_board(spec: ModelSpec, board: Board) -> tuple[int, int] | None:
    """None when `spec` fits `board` within the suggestion budget at its size, else the largest size that
    does (None too when none does: the fit check then refuses with the numbers)."""
    from edgeimpro.training.boardfit import fits_budget, largest_fitting_size
    from edgeimpro.training.estimate import estimate_model

    if fits_budget(estimate_model(spec.shape_only().build()), board):
        return None
    return largest_fitting_size(spec, board)
