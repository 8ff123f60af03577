"""The `fomo` detector: a MobileNetV2-style backbone cut at stride 8 (or 4) and a per-cell classifier head.

Edge Impulse's FOMO (Faster Objects, More Objects) shape, trained from scratch here (no download):
  Rescaling(1/255) -> Conv 3x3/2 -> inverted-residual stages (expansion, channels, blocks, stride)
  (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), channels times alpha rounded to multiples of 8
  -> a 1x1 expansion (6x, as FOMO's cut at block_6_expand_relu) -> Conv 1x1 32 ReLU -> Conv 1x1 K + 1
  -> Softmax over each cell: channel 0 background, channel k + 1 class k.
With `stride=4` the last stage keeps the stride-4 resolution (same blocks, four times the cells).

The first expansion at half resolution widens 3x, not 6x: it sets the activation peak (at 96x96, alpha
0.35: 72 KiB instead of 135 KiB, so the model fits a 128 KiB board) and the F1 on the crowd demo was the
same within run-to-run noise (0.916 vs 0.923). Every op is one the int8 runtime runs: CONV_2D,
DEPTHWISE_CONV_2D (ReLU6 fused), ADD and SOFTMAX; SAME padding is folded into the convolutions (no PAD).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edgeimpro.datasets.detection import grid_shape
from edgeimpro.errors import UsageError
from edgeimpro.training.architectures import BN_MOMENTUM, _conv_bn_relu

DETECTION_ARCHITECTURES = ("fomo",)
DEFAULT_FOMO_ALPHA = 0.35
STRIDES = (8, 4)
MIN_GRID_CELLS = 2             # per side: a grid of 1x1 is a classifier
HEAD_FILTERS = 32              # FOMO's head width
CUT_EXPANSION = 6
FIRST_EXPANSION = 3            # the first expanding block (at half resolution): see the module doc
# (expansion, channels, blocks, stride) of MobileNetV2's stages up to stride 8
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2))


@dataclass(frozen=True)
class FomoSpec:
    """Everything that decides a FOMO model's shape."""

    height: int
    width: int
    channels: int
    num_classes: int               # object classes; the output has one more channel (background)
    alpha: float = DEFAULT_FOMO_ALPHA
    stride: int = 8
    arch: str = "fomo"

    def __post_init__(self) -> None:
        if self.arch not in DETECTION_ARCHITECTURES:
            raise UsageError(f"{self.arch!r} is not a detection architecture",
                             hint="--task detect trains --arch " + " or ".join(DETECTION_ARCHITECTURES))
        if self.stride not in STRIDES:
            raise UsageError(f"--stride must be {' or '.join(map(str, STRIDES))}, got {self.stride}",
                             hint="8 (FOMO's grid: one cell per 8x8 pixels) or 4 (finer, 4x the cells)")
        if not 0 < self.alpha <= 2:
            raise UsageError(f"--alpha must be in (0, 2], got {self.alpha}", hint="typical values: 0.25, 0.35, 0.5")
        if self.num_classes < 1:
            raise UsageError("a detector needs at least one object class, got none")
        gh, gw = self.grid     # a UsageError naming the sizes that work when not a multiple of the stride
        if min(gh, gw) < MIN_GRID_CELLS:
            side = MIN_GRID_CELLS * self.stride
            raise UsageError(f"input {self.height}x{self.width} gives a {gh}x{gw} grid at stride {self.stride}; "
                             f"a detector needs at least {MIN_GRID_CELLS}x{MIN_GRID_CELLS} cells",
                             hint=f"use --input-size {max(side, self.height)}x{max(side, self.width)} or larger")

    @property
    def grid(self) -> tuple[int, int]:
        return grid_shape(self.height, self.width, self.stride)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    @property
    def output_channels(self) -> int:
        return self.num_classes + 1

    def build(self, batch_size: int | None = 1):
        return build_fomo(self.input_shape, self.num_classes, alpha=self.alpha, stride=self.stride,
                          batch_size=batch_size)

    def at_size(self, height: int, width: int) -> FomoSpec:
        return replace(self, height=height, width=width)

    def option_text(self) -> str:
        return f"--arch {self.arch} --alpha {self.alpha:g} --stride {self.stride}"


def divisible(value: float, divisor: int = 8) -> int:
    """MobileNetV2's channel rounding: the nearest multiple of `divisor`, never 10% below `value`."""
    n = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return n + divisor if n < 0.9 * value else n


def build_fomo(input_shape: tuple[int, int, int], num_classes: int, *, alpha: float = DEFAULT_FOMO_ALPHA,
               stride: int = 8, batch_size: int | None = 1):
    """A keras.Model: raw 0..255 pixels (H, W, C) in, per-cell class probabilities (H/s, W/s, K + 1) out."""
    import keras
    from keras import layers

    FomoSpec(input_shape[0], input_shape[1], input_shape[2], num_classes, alpha, stride)     # validates
    inputs = keras.Input(shape=tuple(input_shape), batch_size=batch_size, name="image")
    x = layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    channels = divisible(32 * alpha)
    x = _conv_bn_relu(x, channels, 3, 2, "conv1", relu6=True)
    block = 0
    for stage, (expansion, width, blocks, first_stride) in enumerate(STAGES):
        out = divisible(width * alpha)
        for i in range(blocks):
            s = first_stride if i == 0 else 1
            if stride == 4 and stage == len(STAGES) - 1:
                s = 1
            t = FIRST_EXPANSION if expansion > 1 and block == 1 else expansion
            x = _inverted_residual(x, channels, out, t, s, f"block{block}")
            channels = out
            block += 1
    x = _conv_bn_relu(x, channels * CUT_EXPANSION, 1, 1, "cut_expand", relu6=True)
    x = layers.Conv2D(HEAD_FILTERS, 1, activation="relu", name="head")(x)
    x = layers.Conv2D(num_classes + 1, 1, name="cell_logits")(x)
    outputs = layers.Softmax(axis=-1, name="cells")(x)
    return keras.Model(inputs, outputs, name="fomo")


def _inverted_residual(x, channels: int, out: int, expansion: int, strides: int, name: str):
    from keras import layers

    y = x
    if expansion != 1:
        y = _conv_bn_relu(y, channels * expansion, 1, 1, f"{name}_expand", relu6=True)
    y = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = layers.Conv2D(out, 1, use_bias=False, name=f"{name}_project")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_project_bn")(y)
    if strides == 1 and channels == out:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y
