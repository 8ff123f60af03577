"""The architecture presets. Every model takes raw 0..255 pixels (Rescaling is the first layer) and is
built with a static batch of 1, so it converts to a static TFLite graph (DESIGN.md §5); Keras 3 still
trains it with any batch size.

- `seed-cnn`: the workshop's cats-vs-dogs CNN (Conv 16/32/64/128 + MaxPool, GAP, Dense 256, Dropout);
- `mobilenet`: MobileNetV1 with width multiplier alpha (the MLPerf Tiny VWW shape at alpha 0.25, 96x96);
- `dscnn`: depthwise-separable CNN (the MLPerf Tiny KWS DS-CNN adapted to images);
- `resnet8`: the MLPerf Tiny image-classification ResNet (16/32/64 filters, 3 stacks);
- `mobilenetv2`: Keras's MobileNetV2 as a base (ImageNet, a weights file, or random) and a new head;
  with weights given the base is frozen (transfer learning).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edgeimpro.errors import DependencyError, UsageError

ARCHITECTURES = ("seed-cnn", "mobilenet", "dscnn", "resnet8", "mobilenetv2")
DEFAULT_ALPHA = {"mobilenet": 0.25, "mobilenetv2": 0.35}
IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
IMAGENET_SIZES = (96, 128, 160, 192, 224)
MOBILENETV2_MIN_SIZE = 32
MIN_INPUT_SIZE = {"seed-cnn": 16, "mobilenetv2": MOBILENETV2_MIN_SIZE}
# Smaller data is scaled up to this by default. The MobileNets downsample 32x: from 65x65 their last layers
# see a 3x3 map, as the VWW model's at 96x96; below, 1x1 or 2x2, and on the demo faces they generalised
# poorly (MobileNet 0.25 test accuracy 0.56-0.77 at 25x25, 0.74-0.81 at 64x64, 0.84-0.93 at 72x72).
DEFAULT_MIN_INPUT_SIZE = {"mobilenet": 72, "mobilenetv2": 72}
# Keras's default 0.99 averages over ~100 steps: a small set trains for fewer steps than that in all, and
# inference then runs on statistics still near their initial values (every image one class). 0.9 (PyTorch's
# default) settles within an epoch of ten batches.
BN_MOMENTUM = 0.9
MOBILENETV2_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"


@dataclass(frozen=True)
class ModelSpec:
    """Everything that decides a model's shape: enough to rebuild it (e.g. at another input size)."""

    arch: str
    height: int
    width: int
    channels: int
    num_classes: int
    alpha: float | None = None
    weights: str | None = None      # mobilenetv2 only: "imagenet", a file, or None

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise UsageError(f"unknown architecture {self.arch!r}", hint="choose one of " + ", ".join(ARCHITECTURES))
        object.__setattr__(self, "alpha", resolve_alpha(self.arch, self.alpha))
        if self.weights == "none":
            object.__setattr__(self, "weights", None)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    @property
    def output(self) -> str:
        return output_activation(self.arch, self.num_classes)

    def build(self, batch_size: int | None = 1, dropout: float = 0.5):
        return build_model(self.arch, self.input_shape, self.num_classes, alpha=self.alpha,
                           weights=self.weights, dropout=dropout, batch_size=batch_size)

    def shape_only(self) -> ModelSpec:
        """The same shapes without loading pretrained weights (for size estimates)."""
        return replace(self, weights=None)

    def at_size(self, height: int, width: int) -> ModelSpec:
        return replace(self, height=height, width=width)

    def option_text(self) -> str:
        """The command-line options selecting this architecture."""
        return f"--arch {self.arch}" + (f" --alpha {self.alpha:g}" if self.alpha is not None else "")


def min_input_size(arch: str) -> int:
    """The smallest input side `arch` builds at: seed-cnn's four 2x2 max-pools need 16 (15 pools to nothing),
    Keras's MobileNetV2 refuses less than 32; the others (SAME-padded strides) work from 8."""
    return MIN_INPUT_SIZE.get(arch, 8)


def default_min_input_size(arch: str) -> tuple[int, str]:
    """(side, why): the smallest input the training defaults give `arch` (smaller images are scaled up)."""
    if arch in DEFAULT_MIN_INPUT_SIZE:
        side = DEFAULT_MIN_INPUT_SIZE[arch]
        return side, (f"{arch} downsamples 32x and needs about {side}x{side} for a 3x3 map in its last layers "
                      "(smaller inputs generalise poorly)")
    side = min_input_size(arch)
    return side, f"{arch} needs at least {side}x{side}"


def output_activation(arch: str, num_classes: int) -> str:
    """'sigmoid' (one unit, P(class 1)) for a two-class seed-cnn as in the workshop, else 'softmax'."""
    return "sigmoid" if arch == "seed-cnn" and num_classes == 2 else "softmax"


def resolve_alpha(arch: str, alpha: float | None) -> float | None:
    if arch not in DEFAULT_ALPHA:
        if alpha is not None:
            raise UsageError(f"--alpha applies to mobilenet and mobilenetv2, not {arch}")
        return None
    a = DEFAULT_ALPHA[arch] if alpha is None else float(alpha)
    if not 0 < a <= 2:
        raise UsageError(f"--alpha must be in (0, 2], got {a}", hint="typical values: 0.25, 0.35, 0.5, 1.0")
    return a


def build_model(arch: str, input_shape: tuple[int, int, int], num_classes: int, *,
                alpha: float | None = None, weights: str | None = None, dropout: float = 0.5,
                batch_size: int | None = 1):
    """A keras.Model taking raw 0..255 pixels of `input_shape` (H, W, C) and giving class scores.

    `weights` is for mobilenetv2 only: "imagenet" (must be in Keras's cache; no download), a path to
    a base-model weights file, or None/"none" (random, whole network trained).
    """
    import keras

    if arch not in ARCHITECTURES:
        raise UsageError(f"unknown architecture {arch!r}", hint="choose one of " + ", ".join(ARCHITECTURES))
    if num_classes < 2:
        raise UsageError(f"a classifier needs at least 2 classes, got {num_classes}")
    if weights not in (None, "none") and arch != "mobilenetv2":
        raise UsageError(f"--weights applies to mobilenetv2, not {arch}")
    alpha = resolve_alpha(arch, alpha)
    minimum = min_input_size(arch)
    if min(input_shape[:2]) < minimum:
        raise UsageError(f"{arch} needs an input of at least {minimum}x{minimum}, got "
                         f"{input_shape[0]}x{input_shape[1]}",
                         hint=f"use --input-size {minimum}x{minimum} or larger (smaller images are scaled up), "
                              "or --arch mobilenet / dscnn / resnet8, which build from 8x8")
    inputs = keras.Input(shape=tuple(input_shape), batch_size=batch_size, name="image")
    if arch == "mobilenetv2":
        x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inputs)
        x = _mobilenetv2_base(x, alpha, weights)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        x = keras.layers.Dropout(0.2 if dropout else 0.0, name="dropout")(x)
    else:
        x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
        body: dict[str, Callable] = {"seed-cnn": _seed_cnn, "mobilenet": _mobilenet_v1,
                                     "dscnn": _dscnn, "resnet8": _resnet8}
        x = body[arch](x, alpha=alpha, dropout=dropout)
    activation = output_activation(arch, num_classes)
    units = 1 if activation == "sigmoid" else num_classes
    outputs = keras.layers.Dense(units, activation=activation, name="classes")(x)
    return keras.Model(inputs, outputs, name=arch.replace("-", "_"))


# --- seed-cnn ------------------------------------------------------------------------------------

def _seed_cnn(x, alpha=None, dropout=0.5):
    from keras import layers

    for i, filters in enumerate((16, 32, 64, 128)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal",
                          name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(256, activation="relu", name="dense")(x)
    return layers.Dropout(dropout, name="dropout")(x)


# --- MobileNetV1 ---------------------------------------------------------------------------------

MOBILENET_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                       (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _conv_bn_relu(x, filters, kernel, strides, name, relu6=False):
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(6.0 if relu6 else None, name=f"{name}_relu")(x)


def _depthwise_separable(x, filters, strides, name, relu6=False):
    from keras import layers

    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0 if relu6 else None, name=f"{name}_dw_relu")(x)
    return _conv_bn_relu(x, filters, 1, 1, f"{name}_pw", relu6=relu6)


def _mobilenet_v1(x, alpha=0.25, dropout=0.5):
    from keras import layers

    x = _conv_bn_relu(x, _width(32, alpha), 3, 2, "conv1", relu6=True)
    for i, (filters, strides) in enumerate(MOBILENET_V1_BLOCKS):
        x = _depthwise_separable(x, _width(filters, alpha), strides, f"block{i + 1}", relu6=True)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return layers.Dropout(min(dropout, 0.2), name="dropout")(x)


def _width(filters: int, alpha: float) -> int:
    return max(8, int(filters * alpha))


# --- DS-CNN --------------------------------------------------------------------------------------

DSCNN_FILTERS = 64
DSCNN_STRIDES = (1, 2, 1, 2)   # KWS keeps stride 1 on 49x10 MFCCs; images shrink faster


def _dscnn(x, alpha=None, dropout=0.5):
    from keras import layers

    x = _conv_bn_relu(x, DSCNN_FILTERS, 3, 2, "conv1")
    x = layers.Dropout(0.2, name="dropout1")(x)
    for i, strides in enumerate(DSCNN_STRIDES):
        x = _depthwise_separable(x, DSCNN_FILTERS, strides, f"ds{i + 1}")
    x = layers.Dropout(0.4 if dropout else 0.0, name="dropout2")(x)
    return layers.GlobalAveragePooling2D(name="gap")(x)


# --- ResNet-8 ------------------------------------------------------------------------------------

def _resnet8(x, alpha=None, dropout=0.5):
    from keras import layers, regularizers

    reg = regularizers.l2(1e-4)

    def conv(y, filters, kernel, strides, name):
        return layers.Conv2D(filters, kernel, strides=strides, padding="same", kernel_initializer="he_normal",
                             kernel_regularizer=reg, name=name)(y)

    x = conv(x, 16, 3, 1, "conv1")
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="conv1_bn")(x)
    x = layers.ReLU(name="conv1_relu")(x)
    for stack, (filters, strides) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
        y = conv(x, filters, 3, strides, f"stack{stack}_conv1")
        y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"stack{stack}_bn1")(y)
        y = layers.ReLU(name=f"stack{stack}_relu1")(y)
        y = conv(y, filters, 3, 1, f"stack{stack}_conv2")
        y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"stack{stack}_bn2")(y)
        if strides != 1:   # the MLPerf model's 1x1 projection on the shortcut where the shape changes
            x = conv(x, filters, 1, strides, f"stack{stack}_shortcut")
        x = layers.Add(name=f"stack{stack}_add")([x, y])
        x = layers.ReLU(name=f"stack{stack}_relu2")(x)
    # MLPerf uses AveragePooling2D(8) on 32x32 inputs; global pooling is the same there and any size works.
    return layers.GlobalAveragePooling2D(name="gap")(x)


# --- MobileNetV2 (keras.applications) ------------------------------------------------------------

def imagenet_weights_file(alpha: float, rows: int) -> Path:
    """Where Keras caches the MobileNetV2 ImageNet no-top weights ($KERAS_HOME or ~/.keras)/models."""
    rows = rows if rows in IMAGENET_SIZES else 224
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    return Path(home) / "models" / name


def _mobilenetv2_base(x, alpha, weights):
    """MobileNetV2 without top on tensor `x` (built in place: one flat graph, not a nested model).

    The converter cannot fold the (x/127.5 - 1) Rescaling into the first SAME-padded conv, so this
    model keeps an int8 MUL and ADD at its input.
    """
    import keras

    h, w, c = (int(d) for d in x.shape[1:])
    weights_arg = None
    if weights == "imagenet":
        if c != 3:
            raise UsageError("ImageNet weights need colour input", hint="use --color rgb, or --weights none")
        if alpha not in IMAGENET_ALPHAS:
            raise UsageError(f"ImageNet MobileNetV2 weights exist for alpha {', '.join(map(str, IMAGENET_ALPHAS))}; "
                             f"got {alpha}", hint="use --alpha 0.35 (the smallest)")
        path = imagenet_weights_file(alpha, h if h == w else 0)
        if not path.exists():
            raise DependencyError(
                f"MobileNetV2 ImageNet weights are not in Keras's cache: {path} is missing "
                "(training never downloads)",
                hint=f"download {MOBILENETV2_WEIGHTS_URL}{path.name} on a connected machine into "
                     f"{path.parent}/, or pass --weights PATH, or --weights none")
        weights_arg = str(path)
    elif weights not in (None, "none"):
        path = Path(weights)
        if not path.is_file():
            raise UsageError(f"weights file not found: {path}",
                             hint="give a MobileNetV2 base (no top) weights file, or --weights imagenet|none")
        weights_arg = str(path)
    try:
        base = keras.applications.MobileNetV2(input_tensor=x, alpha=alpha, include_top=False,
                                              weights=weights_arg, name="mobilenetv2_base")
    except (ValueError, OSError) as e:
        raise UsageError(f"cannot load MobileNetV2 weights from {weights_arg}: {e}",
                         hint=f"the file must match MobileNetV2 alpha {alpha} without top") from None
    if weights_arg is not None:
        # Transfer learning: the pretrained base is frozen (Keras 3 runs frozen BatchNorm in inference
        # mode); only the new head trains.
        for layer in base.layers:
            if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Rescaling)):
                layer.trainable = False
    return base.output
