"""The ONE preprocessing definition, used by train, convert, compare and infer (DESIGN.md §2).

An image file becomes a model input in three steps, all defined here and nowhere else:
  1. decode with Pillow, convert to the colour mode (RGB or L), EXIF orientation applied;
  2. resize to the model's input size with Pillow's bilinear filter (which widens to average every source
     pixel an output pixel covers when shrinking, i.e. antialiased; no reducing_gap shortcut);
  3. float value = pixel * pixel_scale + pixel_offset; for an int8 model the float value is
     quantized with the input tensor's scale and zero point: q = clamp(round(v / s) + z, -128, 127).
Models trained here keep Rescaling inside the network, so pixel_scale=1, pixel_offset=0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeimpro.errors import DataError, UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
COLOR_MODES = ("rgb", "grayscale")


@dataclass(frozen=True)
class Preprocessing:
    height: int
    width: int
    color: str = "rgb"            # "rgb" or "grayscale"
    pixel_scale: float = 1.0      # float input = pixel * pixel_scale + pixel_offset
    pixel_offset: float = 0.0
    input_scale: float | None = None       # int8 input quantization (None for a float model)
    input_zero_point: int | None = None
    resize: str = "bilinear"

    def __post_init__(self) -> None:
        if self.color not in COLOR_MODES:
            raise UsageError(f"unknown colour mode {self.color!r}", hint="use rgb or grayscale")
        if self.height <= 0 or self.width <= 0:
            raise UsageError(f"input size must be positive, got {self.height}x{self.width}")
        if self.resize != "bilinear":
            raise UsageError(f"unknown resize method {self.resize!r}", hint="only bilinear is defined")

    @property
    def channels(self) -> int:
        return 3 if self.color == "rgb" else 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    def with_quantization(self, scale: float, zero_point: int) -> Preprocessing:
        d = asdict(self)
        d.update(input_scale=float(scale), input_zero_point=int(zero_point))
        return Preprocessing(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    # --- the pipeline -------------------------------------------------------------------------

    def pixels(self, image: np.ndarray | Path | str) -> np.ndarray:
        """Steps 1-2: an image (path or HxW[xC] uint8 array) -> uint8 array of `shape`."""
        from PIL import Image

        if isinstance(image, (str, Path)):
            pil = open_image(Path(image))
        else:
            arr = np.asarray(image)
            if arr.dtype != np.uint8:
                raise DataError(f"image array must be uint8, got {arr.dtype}")
            if arr.ndim == 3 and arr.shape[2] == 1:
                arr = arr[:, :, 0]
            pil = Image.fromarray(arr)
        pil = pil.convert("RGB" if self.color == "rgb" else "L")
        if pil.size != (self.width, self.height):
            pil = pil.resize((self.width, self.height), Image.Resampling.BILINEAR, reducing_gap=None)
        out = np.asarray(pil, dtype=np.uint8)
        if out.ndim == 2:
            out = out[:, :, None]
        return out

    def to_float(self, image: np.ndarray | Path | str) -> np.ndarray:
        """Steps 1-3 for a float model: float32 array of `shape`."""
        px = self.pixels(image).astype(np.float32)
        return px * np.float32(self.pixel_scale) + np.float32(self.pixel_offset)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Float model input -> int8 with the input tensor's quantization."""
        if self.input_scale is None or self.input_zero_point is None:
            raise UsageError("this preprocessing has no int8 input quantization",
                             hint="convert the model first (edgeimpro convert) or give the .tflite")
        q = np.round(np.asarray(values, dtype=np.float32) / np.float32(self.input_scale)) + self.input_zero_point
        return np.clip(q, -128, 127).astype(np.int8)

    def to_rgb(self, x: np.ndarray) -> np.ndarray:
        """A model input (int8 or float, any batch-1 shape) back to an RGB uint8 picture, for display only:
        the inverse of step 3 (scaling and quantization), not of the resize."""
        v = np.asarray(x).astype(np.float32).reshape(self.shape)
        if np.asarray(x).dtype == np.int8 and self.input_scale is not None and self.input_zero_point is not None:
            v = (v - self.input_zero_point) * self.input_scale
        px = np.clip(np.round((v - self.pixel_offset) / self.pixel_scale), 0, 255).astype(np.uint8)
        return np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px

    def to_int8(self, image: np.ndarray | Path | str) -> np.ndarray:
        """Steps 1-3 for an int8 model: int8 array of `shape`."""
        return self.quantize(self.to_float(image))


DEFAULT_MAX_IMAGE_PIXELS = 89_478_485   # Pillow's own default guard (about 9,459 x 9,459 pixels)


def set_max_image_pixels(limit: int) -> None:
    """Raise or lower the decompression-bomb guard of every image decode (`--max-image-pixels`).

    It is Pillow's process-wide limit; images above it are refused by `open_image` with a DataError."""
    from PIL import Image

    if limit < 1:
        raise UsageError(f"--max-image-pixels must be positive, got {limit}")
    Image.MAX_IMAGE_PIXELS = limit


def open_image(path: Path):
    """Decode an image file with Pillow; a clear DataError names the file when it cannot be read, and an
    image larger than the decompression-bomb guard is refused before it is decoded."""
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return ImageOps.exif_transpose(im)
    except FileNotFoundError:
        raise DataError(f"image not found: {path}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"image {path} is too large to decode safely: more than {Image.MAX_IMAGE_PIXELS:,} "
                        "pixels (a guard against decompression bombs)",
                        hint="downscale it, or if you trust the file raise the limit with --max-image-pixels N") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {path}: {e}",
                        hint="remove or replace the file; it is not a valid jpg/png/bmp image") from None


def parse_size(text: str) -> tuple[int, int]:
    """'96x96' or '96' -> (96, 96)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        if len(parts) == 1:
            h = w = int(parts[0])
        elif len(parts) == 2:
            h, w = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise UsageError(f"bad input size {text!r}", hint="write HxW, for example 96x96") from None
    if h < 8 or w < 8:
        raise UsageError(f"input size {h}x{w} is too small", hint="use at least 8x8")
    return h, w
