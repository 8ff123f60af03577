"""Frame -> model input through the one preprocessing, with the lookup-table fast path.

Frames already at the model's size (a camera asked for it, a video at that size) skip Pillow: the
quantization is applied with a 256-entry table made by running the one preprocessing definition itself
on every pixel value, checked element-wise at start, so the result is identical (a test asserts it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeimpro.errors import DataError, UsageError
from edgeimpro.preprocess import Preprocessing
from edgeimpro.sources import Frame


class FramePreparer:
    """Frame -> model input, through the one preprocessing. Reuses one input buffer; frames already at
    the model's size and colour skip Pillow and use a table of the definition's own per-pixel results."""

    def __init__(self, prep: Preprocessing, dtype: str, shape: tuple[int, ...]) -> None:
        self.prep = prep
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self._convert = prep.to_int8 if self.dtype == np.int8 else prep.to_float
        self.buffer = np.empty(self.shape, self.dtype)
        self._view = self.buffer.reshape(prep.shape)
        h, w, c = prep.shape
        # frames of these shapes (uint8) skip Pillow; for a grey model also (H, W), written to channel 0
        self._outputs = {(h, w, c): self._view}
        if c == 1:
            self._outputs[(h, w)] = self._view[:, :, 0]
        self.table = tabulate(prep, self._convert)
        # the common case (input = pixel - 128): a bitwise xor on the uint8 frame, no table at all
        self._xor = self.table is not None and self.dtype == np.int8 and np.array_equal(
            self.table.astype(np.int16), np.arange(256, dtype=np.int16) - 128)
        if self._xor:
            self._outputs = {k: v.view(np.uint8) for k, v in self._outputs.items()}
        if self.table is None:
            self._outputs = {}
        self._cv2: Any = None if self.table is None or self._xor else _optional_cv2()   # cv2.LUT: fastest table

    @property
    def fast_path(self) -> str:
        if self.table is None:
            return "none (the preprocessing is not per-pixel)"
        return "xor 0x80" if self._xor else ("cv2.LUT" if self._cv2 is not None else "numpy table")

    def __call__(self, frame: Frame) -> np.ndarray:
        """The model input for `frame` (the shared buffer: valid until the next call)."""
        img = frame.image
        if img is not None:
            out = self._outputs.get(img.shape)
            if out is None or img.dtype != np.uint8:
                self._view[...] = self._convert(img)
            elif self._xor:
                np.bitwise_xor(img, 0x80, out=out)
            elif self._cv2 is not None:
                self._cv2.LUT(img, self.table, dst=out)
            else:
                np.take(self.table, img, out=out)
        elif frame.path is not None:
            self._view[...] = self._convert(frame.path)
        elif frame.tensor is not None:
            t = frame.tensor
            if t.dtype != self.dtype or t.size != self.buffer.size or t.shape[-1] != self.prep.channels:
                raise DataError(f"{frame.name}: tensor {t.dtype} {list(t.shape)} does not fit the model input "
                                f"{self.dtype} {list(self.shape)}",
                                hint="tensors in a .npy are used as they are: save them with the model "
                                     "input's dtype and shape")
            self.buffer.reshape(-1)[...] = t.reshape(-1)
        else:
            raise UsageError(f"frame {frame.name} has no image, path or tensor")
        return self.buffer


def _optional_cv2() -> Any:
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def tabulate(prep: Preprocessing, convert: Any) -> np.ndarray | None:
    """The model-input value of every pixel value 0..255, by running `convert` (the preprocessing itself)
    on model-sized images that hold them; None if the result is not a function of the pixel value alone."""
    h, w, c = prep.shape
    n = h * w * c
    table = None
    for start in range(0, 256, n):
        values = np.arange(start, min(start + n, 256), dtype=np.uint8)
        img = np.resize(values, n).reshape(h, w, c)
        out = np.asarray(convert(img)).reshape(-1)
        if table is None:
            table = np.empty(256, out.dtype)
        table[values] = out[: len(values)]
        if not np.array_equal(out, table[img.reshape(-1)]):
            return None
    return table
