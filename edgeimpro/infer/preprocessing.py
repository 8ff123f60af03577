"""Which preprocessing a model's input gets (the one definition, DESIGN.md §2): its model card's, checked
against the input tensor, or, without a card, one read from the input tensor.

Preprocessing is the model card's (`model.json` beside the model). A model without a card (e.g. an MLPerf
Tiny .tflite) gets its input size and colour from the input tensor, (1, H, W, 3) -> rgb, (1, H, W, 1) ->
grayscale, and its pixel scaling from the input quantization: the float range the int8 input can
represent, [(-128 - zp) * scale, (127 - zp) * scale], names the convention the model was trained with
(within 2% of the range plus one quantization step):

| input float range | example scale, zero point | pixel scaling |
|---|---|---|
| 0 .. 1 | 1/255, -128 (MLPerf VWW) | pixel / 255 |
| 0 .. 255 | 1.0, -128 (MLPerf ResNet-8) | raw pixel 0..255 |
| -1 .. 1 | 2/255, 0 or 1/128, 0 | pixel / 127.5 - 1 |

Any other range is refused with a hint to write a model card. `size` and `color` given for such a model
must agree with the input tensor.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

from edgeimpro.errors import ModelError, UsageError
from edgeimpro.modelcard import ModelCard, find_card
from edgeimpro.preprocess import Preprocessing
from edgeimpro.references import TensorInfo

log = logging.getLogger(__name__)

RANGE_TOLERANCE = 0.02          # of the float range, for recognising a pixel convention

# (float range of the model input, pixel_scale, pixel_offset, description)
PIXEL_CONVENTIONS: tuple[tuple[tuple[float, float], float, float, str], ...] = (
    ((0.0, 1.0), 1.0 / 255.0, 0.0, "pixel / 255"),
    ((0.0, 255.0), 1.0, 0.0, "raw pixel 0..255"),
    ((-1.0, 1.0), 1.0 / 127.5, -1.0, "pixel / 127.5 - 1"),
)


def _check_image_input(info: TensorInfo) -> tuple[int, int, int]:
    shape = tuple(info.shape)
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3):
        raise ModelError(f"model input '{info.name}' has shape {list(shape)}; infer feeds images "
                         "(1, H, W, 3) or (1, H, W, 1)",
                         hint="this looks like a non-image model: run raw tensors with `edgeimpro run`")
    if info.dtype not in ("int8", "float32"):
        raise ModelError(f"model input '{info.name}' is {info.dtype}; infer runs full-int8 (or float32) models",
                         hint="convert with full-integer int8 input: edgeimpro convert MODEL.keras")
    if info.dtype == "int8" and (info.scale is None or info.zero_point is None):
        raise ModelError(f"model input '{info.name}' is int8 without one scale and zero point")
    return shape[1], shape[2], shape[3]


def preprocessing_from_input(info: TensorInfo, size: tuple[int, int] | None = None,
                             color: str | None = None) -> tuple[Preprocessing, str]:
    """Preprocessing for a model without a card, from its input tensor (rule in the module docstring).
    Returns it with a one-line description of where each part came from."""
    h, w, c = _check_image_input(info)
    model_color = "rgb" if c == 3 else "grayscale"
    if size is not None and tuple(size) != (h, w):
        raise UsageError(f"--size {size[0]}x{size[1]} does not match the model input {h}x{w}",
                         hint=f"use --size {h}x{w} (or leave it out: it is read from the model)")
    if color is not None and color != model_color:
        raise UsageError(f"--color {color} does not match the model input ({c} channel(s): {model_color})",
                         hint=f"use --color {model_color} (or leave it out)")
    if info.dtype != "int8":
        raise UsageError(f"model input is {info.dtype} and there is no model.json beside the model: "
                         "its pixel scaling is unknown",
                         hint="convert it to int8 with `edgeimpro convert` (writes model.json), "
                              "or put its model.json beside it")
    s, z = float(info.scale), int(info.zero_point)
    lo, hi = (-128 - z) * s, (127 - z) * s
    for (a, b), pixel_scale, offset, what in PIXEL_CONVENTIONS:
        tol = RANGE_TOLERANCE * (b - a) + s
        if abs(lo - a) <= tol and abs(hi - b) <= tol:
            prep = Preprocessing(h, w, model_color, pixel_scale, offset, s, z)
            given = "given" if size is not None or color is not None else "from the input tensor"
            return prep, (f"no model card: {h}x{w} {model_color} {given}; {what} "
                          f"(input scale {s:.6g}, zero point {z}: range {lo:.4g}..{hi:.4g})")
    raise UsageError(f"no model card, and the input quantization (scale {s:.6g}, zero point {z}) spans "
                     f"{lo:.4g}..{hi:.4g}, which is none of the pixel ranges 0..1, 0..255, -1..1",
                     hint="write a model.json beside the model (`edgeimpro convert` does) that states "
                          "pixel_scale and pixel_offset")


def preprocessing_from_card(card: ModelCard, info: TensorInfo, size: tuple[int, int] | None = None,
                            color: str | None = None) -> Preprocessing:
    """The card's preprocessing, checked against the model input; the input's quantization is the truth."""
    h, w, c = _check_image_input(info)
    prep = card.preprocessing
    if prep.shape != (h, w, c):
        raise ModelError(f"model.json says the input is {prep.height}x{prep.width} {prep.color}, the model "
                         f"input is {h}x{w} with {c} channel(s)",
                         hint="model.json belongs to another model: re-run `edgeimpro convert`")
    if size is not None and tuple(size) != (h, w):
        raise UsageError(f"--size {size[0]}x{size[1]} does not match the model card ({h}x{w})",
                         hint="leave --size out: the model card gives it")
    if color is not None and color != prep.color:
        raise UsageError(f"--color {color} does not match the model card ({prep.color})",
                         hint="leave --color out: the model card gives it")
    if info.dtype == "int8":
        s, z = float(info.scale), int(info.zero_point)
        if prep.input_scale is not None and (not math.isclose(prep.input_scale, s, rel_tol=1e-6)
                                             or prep.input_zero_point != z):
            raise ModelError(f"model.json has input quantization (scale {prep.input_scale:.6g}, zero point "
                             f"{prep.input_zero_point}); the model input has (scale {s:.6g}, zero point {z})",
                             hint="model.json is stale: re-run `edgeimpro convert`")
        prep = prep.with_quantization(s, z)
    return prep


def card_for_model(model_path: Path, data: bytes) -> ModelCard | None:
    """The card beside the model when it describes this model; None when there is none or it names another
    .tflite file. A card naming this file with another hash is stale: an error, not a guess."""
    card = find_card(model_path)
    if card is None or card.tflite_sha256 is None:
        return card
    if card.tflite_sha256 == hashlib.sha256(data).hexdigest():
        return card
    if card.tflite_file not in (None, model_path.name):
        log.info("model.json beside %s describes %s: not used", model_path, card.tflite_file)
        return None
    raise ModelError(f"model.json beside {model_path} was written for another version of it (sha256 differs)",
                     hint="re-run `edgeimpro convert` to rewrite both, or move the stale model.json away")
