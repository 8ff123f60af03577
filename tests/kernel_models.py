"""Single-op int8 models for the kernel property tests, built with TensorFlow and cached per op.

Elementwise ops have models of >= 256 elements, so the ramp input covers every int8 code (exhaustive for
those quantizations). Each spec is plain data (JSON): input shapes, the float range of each input's representative data (which
sets its scale and zero point: [0, hi] gives zero point -128, [lo, 0] gives 127, tiny or huge spans give
extreme scales), the layer and its parameters, and a seed for the weights. `op_models(op)` converts the
specs of one op once (about 0.2 s each) and caches the .tflite files across runs and xdist workers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import cached

BUILDER_VERSION = 1  # bump when _build_model changes what a spec produces

Spec = dict[str, Any]


def _s(layer: str, inputs: list[list[int]], ranges: list[list[float]], seed: int = 0, **kw: Any) -> Spec:
    return {"layer": layer, "inputs": inputs, "ranges": ranges, "seed": seed, **kw}


def _random_specs(op: str, count: int, seed: int) -> list[Spec]:
    """Random shapes and parameters for the ops whose parameter space is large."""
    rng = np.random.default_rng(seed)
    out: list[Spec] = []
    ranges = [[-1.0, 1.0], [0.0, 4.0], [-3.0, 0.0], [-0.002, 0.003], [-300.0, 200.0], [-0.5, 6.0]]
    acts = ["none", "relu", "relu6"]
    for i in range(count):
        h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        c = int(rng.integers(1, 9))
        r = ranges[int(rng.integers(len(ranges)))]
        act = acts[int(rng.integers(3))]
        k = int(rng.integers(1, 4))
        stride = int(rng.integers(1, 4))
        padding = "same" if rng.random() < 0.5 else "valid"
        if padding == "valid":
            h, w = max(h, k), max(w, k)
        if op == "CONV_2D":
            out.append(_s("conv", [[h, w, c]], [r], seed + i, filters=int(rng.integers(1, 9)), kernel=[k, k],
                          strides=[stride, stride], padding=padding, dilation=[1, 1], act=act,
                          bias=bool(rng.random() < 0.8)))
        elif op == "DEPTHWISE_CONV_2D":
            out.append(_s("dwconv", [[h, w, c]], [r], seed + i, kernel=[k, k], strides=[stride, stride],
                          padding=padding, dilation=[1, 1], multiplier=int(rng.integers(1, 4)), act=act,
                          bias=bool(rng.random() < 0.8)))
        elif op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            out.append(_s("maxpool" if op == "MAX_POOL_2D" else "avgpool", [[h, w, c]], [r], seed + i,
                          pool=[k, k], strides=[stride, stride], padding=padding, act="none"))
    return out


SPECS: dict[str, list[Spec]] = {
    "CONV_2D": [
        _s("conv", [[1, 1, 3]], [[-1, 1]], 1, filters=4, kernel=[1, 1], strides=[1, 1], padding="same",
           dilation=[1, 1], act="relu", bias=True),
        _s("conv", [[7, 5, 3]], [[-1, 1]], 2, filters=6, kernel=[3, 3], strides=[2, 2], padding="same",
           dilation=[1, 1], act="none", bias=True, zero_channel=True),
        _s("conv", [[8, 9, 2]], [[0, 1]], 3, filters=5, kernel=[2, 2], strides=[3, 3], padding="valid",
           dilation=[1, 1], act="relu6", bias=True),
        _s("conv", [[9, 9, 4]], [[-3, 0]], 4, filters=3, kernel=[3, 3], strides=[1, 1], padding="same",
           dilation=[2, 2], act="none", bias=False),
        _s("conv", [[6, 6, 4]], [[-1, 1]], 5, filters=6, kernel=[3, 3], strides=[1, 1], padding="same",
           dilation=[1, 1], act="relu", bias=True, groups=2),
        _s("conv", [[5, 8, 3]], [[-0.001, 0.001]], 6, filters=4, kernel=[1, 3], strides=[1, 2], padding="same",
           dilation=[1, 1], act="none", bias=True),
        _s("conv", [[6, 6, 2]], [[-500, 500]], 7, filters=3, kernel=[5, 5], strides=[1, 1], padding="same",
           dilation=[1, 1], act="relu6", bias=True, weight_scale=3.0),
        _s("conv", [[10, 11, 2]], [[-2, 5]], 8, filters=4, kernel=[3, 2], strides=[1, 1], padding="valid",
           dilation=[2, 3], act="relu", bias=True),
        *_random_specs("CONV_2D", 3, 100),
    ],
    "DEPTHWISE_CONV_2D": [
        _s("dwconv", [[1, 1, 4]], [[-1, 1]], 11, kernel=[1, 1], strides=[1, 1], padding="same",
           dilation=[1, 1], multiplier=1, act="relu", bias=True),
        _s("dwconv", [[7, 7, 3]], [[-1, 1]], 12, kernel=[3, 3], strides=[2, 2], padding="same",
           dilation=[1, 1], multiplier=2, act="none", bias=True, zero_channel=True),
        _s("dwconv", [[9, 8, 2]], [[0, 2]], 13, kernel=[2, 2], strides=[3, 3], padding="valid",
           dilation=[1, 1], multiplier=3, act="relu6", bias=False),
        _s("dwconv", [[9, 9, 3]], [[-3, 0]], 14, kernel=[3, 3], strides=[1, 1], padding="same",
           dilation=[2, 3], multiplier=1, act="relu", bias=True),
        _s("dwconv", [[5, 6, 4]], [[-0.002, 0.001]], 15, kernel=[3, 3], strides=[1, 1], padding="valid",
           dilation=[1, 1], multiplier=1, act="none", bias=True),
        _s("dwconv", [[6, 5, 2]], [[-400, 300]], 16, kernel=[5, 5], strides=[1, 1], padding="same",
           dilation=[1, 1], multiplier=2, act="relu6", bias=True),
        *_random_specs("DEPTHWISE_CONV_2D", 3, 200),
    ],
    "FULLY_CONNECTED": [
        _s("dense", [[16]], [[-1, 1]], 21, units=5, act="none", bias=True),
        _s("dense", [[16]], [[-1, 1]], 22, units=5, act="relu", bias=True, per_tensor=True),
        _s("dense", [[4, 12]], [[0, 3]], 23, units=3, act="relu6", bias=True),
        _s("dense", [[1]], [[-2, 0]], 24, units=7, act="none", bias=True),
        _s("dense", [[33]], [[-0.001, 0.002]], 25, units=1, act="none", bias=False),
        _s("dense", [[20]], [[-300, 300]], 26, units=8, act="relu", bias=True, per_tensor=True,
           zero_channel=True),
        _s("dense", [[3, 9]], [[-1, 4]], 27, units=6, act="none", bias=False, per_tensor=True),
        _s("dense", [[64]], [[-1, 1]], 28, units=10, act="none", bias=True, zero_channel=True),
    ],
    "MAX_POOL_2D": [
        _s("maxpool", [[1, 1, 3]], [[-1, 1]], 31, pool=[1, 1], strides=[1, 1], padding="valid", act="none"),
        _s("maxpool", [[8, 8, 3]], [[0, 2]], 32, pool=[2, 2], strides=[2, 2], padding="valid", act="none"),
        _s("maxpool", [[7, 9, 2]], [[-1, 1]], 33, pool=[3, 3], strides=[2, 2], padding="same", act="relu"),
        _s("maxpool", [[10, 7, 2]], [[-2, 0]], 34, pool=[2, 2], strides=[3, 3], padding="same", act="none"),
        _s("maxpool", [[6, 6, 4]], [[-8, 8]], 35, pool=[3, 2], strides=[1, 2], padding="same", act="relu6"),
        *_random_specs("MAX_POOL_2D", 2, 300),
    ],
    "AVERAGE_POOL_2D": [
        _s("avgpool", [[1, 1, 3]], [[-1, 1]], 41, pool=[1, 1], strides=[1, 1], padding="valid", act="none"),
        _s("avgpool", [[8, 8, 3]], [[0, 2]], 42, pool=[2, 2], strides=[2, 2], padding="valid", act="none"),
        _s("avgpool", [[7, 9, 2]], [[-1, 1]], 43, pool=[3, 3], strides=[2, 2], padding="same", act="relu"),
        _s("avgpool", [[10, 7, 2]], [[-2, 0]], 44, pool=[2, 2], strides=[3, 3], padding="same", act="none"),
        _s("avgpool", [[9, 9, 3]], [[-1, 3]], 45, pool=[9, 9], strides=[1, 1], padding="valid", act="none"),
        _s("avgpool", [[6, 5, 4]], [[-5, 5]], 46, pool=[4, 3], strides=[1, 1], padding="same", act="relu6"),
        *_random_specs("AVERAGE_POOL_2D", 2, 400),
    ],
    "ADD": [
        _s("add", [[4, 5, 3], [4, 5, 3]], [[-1, 1], [-1, 1]], 51, act="none"),
        _s("add", [[4, 5, 3], [1, 1, 3]], [[-1, 1], [-3, 2]], 52, act="relu"),
        _s("add", [[5, 1, 2], [5, 4, 2]], [[0, 2], [-1, 0]], 53, act="none"),
        _s("add", [[3, 6, 4], [1, 6, 1]], [[-8, 8], [-0.1, 0.1]], 54, act="relu6"),
        _s("add", [[1, 1, 1], [1, 1, 1]], [[-1, 1], [-50, 50]], 55, act="none"),
        _s("add", [[6, 6, 2], [6, 6, 2]], [[0, 0.01], [-0.02, 0]], 56, act="none"),
        _s("add", [[2, 3, 5], [2, 3, 5]], [[-200, 100], [-1, 3]], 57, act="relu"),
    ],
    "MUL": [
        _s("mul", [[4, 5, 3], [4, 5, 3]], [[-1, 1], [-1, 1]], 61, act="none"),
        _s("mul", [[4, 5, 3], [1, 1, 3]], [[0, 6], [0, 1]], 62, act="none"),
        _s("mul", [[5, 1, 2], [5, 4, 2]], [[-2, 2], [-1, 0]], 63, act="relu"),
        _s("mul", [[3, 6, 4], [1, 6, 1]], [[-8, 8], [-0.1, 0.1]], 64, act="none"),
        _s("mul", [[1, 1, 1], [1, 1, 1]], [[-1, 1], [-50, 50]], 65, act="relu6"),
        _s("mul", [[6, 6, 2], [6, 6, 2]], [[0, 0.01], [-300, 0]], 66, act="none"),
    ],
    "MEAN": [
        _s("mean", [[8, 8, 3]], [[-1, 1]], 71, axes=[1, 2], keepdims=True),
        _s("mean", [[5, 7, 4]], [[0, 3]], 72, axes=[1, 2], keepdims=False),
        _s("mean", [[5, 7, 4]], [[-3, 0]], 73, axes=[1], keepdims=True),
        _s("mean", [[5, 7, 4]], [[-1, 2]], 74, axes=[2], keepdims=False),
        _s("mean", [[5, 7, 6]], [[-0.01, 0.01]], 75, axes=[3], keepdims=True),
        _s("mean", [[3, 4, 5]], [[-100, 50]], 76, axes=[1, 2, 3], keepdims=False),
        _s("mean", [[32, 32, 2]], [[-1, 1]], 77, axes=[1, 2], keepdims=True),
        _s("mean", [[4, 6, 3]], [[-2, 2]], 78, axes=[1, 3], keepdims=True),
    ],
    "SOFTMAX": [
        _s("softmax", [[10]], [[-5, 5]], 81),
        _s("softmax", [[1]], [[-1, 1]], 82),
        _s("softmax", [[4, 3, 7]], [[-2, 8]], 83),
        _s("softmax", [[100]], [[-0.05, 0.05]], 84),
        _s("softmax", [[511]], [[-10, 10]], 85),
        _s("softmax", [[37]], [[-5000, 5000]], 86),
        _s("softmax", [[2, 64]], [[0, 30]], 87),
    ],
    "LOGISTIC": [
        _s("sigmoid", [[8, 8, 4]], [[-4, 4]], 91),
        _s("sigmoid", [[16, 16]], [[-0.01, 0.01]], 92),
        _s("sigmoid", [[3, 7]], [[-100, 100]], 93),
        _s("sigmoid", [[50]], [[0, 8]], 94),
        _s("sigmoid", [[50]], [[-8, 0]], 95),
        _s("sigmoid", [[1, 1, 1]], [[-20, 3]], 96),
    ],
    "TANH": [
        _s("tanh", [[8, 8, 4]], [[-4, 4]], 101),
        _s("tanh", [[16, 16]], [[-0.01, 0.01]], 102),
        _s("tanh", [[3, 7]], [[-100, 100]], 103),
        _s("tanh", [[50]], [[0, 8]], 104),
        _s("tanh", [[50]], [[-8, 0]], 105),
        _s("tanh", [[1, 1, 1]], [[-2, 0.5]], 106),
    ],
    "HARD_SWISH": [
        _s("hard_swish", [[8, 8, 4]], [[-3, 3]], 111),
        _s("hard_swish", [[16, 16]], [[-0.1, 0.1]], 112),
        _s("hard_swish", [[3, 7]], [[-50, 50]], 113),
        _s("hard_swish", [[50]], [[0, 6]], 114),
        _s("hard_swish", [[50]], [[-6, 0]], 115),
        _s("hard_swish", [[2, 2, 2]], [[-20, 3]], 116),
    ],
    "LEAKY_RELU": [
        _s("leaky_relu", [[8, 8, 4]], [[-3, 3]], 121, alpha=0.2),
        _s("leaky_relu", [[16, 16]], [[-0.1, 0.1]], 122, alpha=0.01),
        _s("leaky_relu", [[3, 7]], [[-50, 50]], 123, alpha=0.5),
        _s("leaky_relu", [[50]], [[0, 6]], 124, alpha=0.3),
        _s("leaky_relu", [[50]], [[-6, 0]], 125, alpha=0.95),
        _s("leaky_relu", [[2, 2, 2]], [[-20, 3]], 126, alpha=0.1),
    ],
    "RELU": [
        _s("relu", [[8, 8, 4]], [[-1, 1]], 131),
        _s("relu", [[16, 16]], [[0, 5]], 132),
        _s("relu", [[3, 7]], [[-100, 3]], 133),
        _s("relu", [[50]], [[-0.01, 0.02]], 134),
        _s("relu", [[2, 2, 2]], [[-5, 300]], 135),
        _s("relu", [[1, 1, 1]], [[-2, 2]], 136),
    ],
    "RELU6": [
        _s("relu6", [[8, 8, 4]], [[-10, 10]], 141),
        _s("relu6", [[16, 16]], [[0, 6]], 142),
        _s("relu6", [[3, 7]], [[-1, 1]], 143),
        _s("relu6", [[50]], [[-3, 8]], 144),
        _s("relu6", [[2, 2, 2]], [[-100, 100]], 145),
        _s("relu6", [[1, 1, 1]], [[0.5, 20]], 146),
    ],
    "PAD": [
        _s("zeropad", [[4, 5, 3]], [[-1, 1]], 151, pads=[[1, 2], [0, 3]]),
        _s("zeropad", [[1, 1, 2]], [[0, 2]], 152, pads=[[1, 1], [1, 1]]),
        _s("pad", [[3, 4, 2]], [[-2, 0]], 153, pads=[[0, 0], [1, 0], [0, 2], [1, 2]], value=0.0),
        _s("pad", [[5, 3, 2]], [[-1, 3]], 154, pads=[[0, 0], [2, 1], [1, 1], [0, 0]], value=0.5),
        _s("pad", [[6, 2]], [[-50, 50]], 155, pads=[[0, 0], [3, 1], [0, 4]], value=0.0),
        _s("pad", [[2, 2, 3]], [[-1, 1]], 156, pads=[[0, 0], [0, 0], [0, 0], [2, 3]], value=-0.25),
    ],
    "CONCATENATION": [
        _s("concat", [[4, 5, 3], [4, 5, 2]], [[-1, 1], [-1, 1]], 161, axis=-1),
        _s("concat", [[2, 5, 3], [4, 5, 3], [1, 5, 3]], [[0, 2], [0, 2], [0, 2]], 162, axis=1),
        _s("concat", [[3, 2, 2], [3, 4, 2]], [[-3, 0], [-3, 0]], 163, axis=2),
        _s("concat", [[6], [1]], [[-5, 5], [-5, 5]], 164, axis=-1),
        _s("concat", [[1, 1, 1], [1, 1, 4], [1, 1, 2]], [[-1, 1], [-2, 2], [-1, 1]], 165, axis=3),
    ],
    # The converter requantizes (int8 -> int8 QUANTIZE) fixed-scale outputs (sigmoid, tanh, softmax) that feed
    # a concatenation; concatenating plain inputs of different ranges does not produce one.
    "QUANTIZE": [
        _s("concat_act", [[4, 5, 3], [4, 5, 2]], [[-1, 1], [-10, 3]], 171, acts=["sigmoid", "tanh"], axis=-1),
        _s("concat_act", [[3, 3], [3, 2]], [[-4, 4], [-10, 3]], 172, acts=["sigmoid", "none"], axis=-1),
        _s("concat_act", [[2, 4], [2, 4]], [[0, 0.05], [-2, 2]], 173, acts=["none", "tanh"], axis=1),
        _s("concat_act", [[6], [3]], [[-5, 5], [-300, 300]], 174, acts=["softmax", "none"], axis=-1),
        _s("concat_act", [[1, 1, 2], [1, 1, 3]], [[-8, 8], [0, 0.01]], 175, acts=["sigmoid", "none"], axis=-1),
    ],
    "RESHAPE": [
        _s("reshape", [[4, 6, 2]], [[-1, 1]], 181, target=[12, 4]),
        _s("reshape", [[3, 3, 3]], [[0, 2]], 182, target=[27]),
        _s("flatten", [[2, 5, 3]], [[-3, 1]], 183),
        _s("reshape", [[1, 1, 5]], [[-300, 2]], 184, target=[5]),
    ],
}

# Opcodes a spec of each op may produce besides the one under test (the converter's glue).
ALLOWED_EXTRA = {"ADD": {"RESHAPE"}, "MUL": {"RESHAPE"}, "CONCATENATION": {"QUANTIZE"},
                 "QUANTIZE": {"CONCATENATION", "LOGISTIC", "TANH", "SOFTMAX"},
                 "PAD": {"PADV2"}, "MEAN": {"RESHAPE"}}
# Opcodes counted as the op under test (PADV2 is PAD with a constant).
TESTED_AS = {"PAD": {"PAD", "PADV2"}}


def op_models(op: str) -> list[tuple[Spec, bytes]]:
    """The converted single-op models of `op` (cached), with their specs. TensorFlow only for a cold cache."""
    specs = SPECS[op]
    digest = hashlib.sha256(json.dumps([BUILDER_VERSION, specs], sort_keys=True).encode()).hexdigest()[:12]
    folder = cached(f"kernel-models-{op.lower()}-{digest}", lambda out: _build_all(specs, out))
    return [(spec, (folder / f"{i}.tflite").read_bytes()) for i, spec in enumerate(specs)]


def _build_all(specs: list[Spec], out: Path) -> None:
    import os
    import warnings

    pytest.importorskip("tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
    for i, spec in enumerate(specs):
        (out / f"{i}.tflite").write_bytes(_build_model(spec))
    (out / "specs.json").write_text(json.dumps(specs, indent=1))


def _build_model(spec: Spec) -> bytes:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(spec["seed"])
    rng = np.random.default_rng(spec["seed"])
    inputs = [keras.Input(tuple(s), batch_size=1, name=f"in{i}") for i, s in enumerate(spec["inputs"])]
    kind = spec["layer"]
    x = inputs[0]
    act = {"none": None, "relu": "relu", "relu6": "relu6"}
    layer = None
    if kind == "conv":
        layer = keras.layers.Conv2D(spec["filters"], tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                    padding=spec["padding"], dilation_rate=tuple(spec["dilation"]),
                                    groups=spec.get("groups", 1), activation=act[spec["act"]],
                                    use_bias=spec["bias"])
        y = layer(x)
    elif kind == "dwconv":
        layer = keras.layers.DepthwiseConv2D(tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                             padding=spec["padding"], dilation_rate=tuple(spec["dilation"]),
                                             depth_multiplier=spec["multiplier"], activation=act[spec["act"]],
                                             use_bias=spec["bias"])
        y = layer(x)
    elif kind == "dense":
        layer = keras.layers.Dense(spec["units"], activation=act[spec["act"]], use_bias=spec["bias"])
        y = layer(x)
    elif kind in ("maxpool", "avgpool"):
        cls = keras.layers.MaxPooling2D if kind == "maxpool" else keras.layers.AveragePooling2D
        y = cls(tuple(spec["pool"]), strides=tuple(spec["strides"]), padding=spec["padding"])(x)
        y = _activation(keras, y, spec["act"])
    elif kind in ("add", "mul"):
        fn = keras.ops.add if kind == "add" else keras.ops.multiply
        y = _activation(keras, fn(inputs[0], inputs[1]), spec["act"])
    elif kind == "mean":
        y = keras.ops.mean(x, axis=spec["axes"], keepdims=spec["keepdims"])
    elif kind == "softmax":
        y = keras.layers.Softmax(axis=-1)(x)
    elif kind in ("sigmoid", "tanh", "hard_swish"):
        y = keras.layers.Activation(kind)(x)
    elif kind == "leaky_relu":
        y = keras.layers.LeakyReLU(negative_slope=spec["alpha"])(x)
    elif kind == "relu":
        y = keras.layers.ReLU()(x)
    elif kind == "relu6":
        y = keras.layers.ReLU(max_value=6.0)(x)
    elif kind == "zeropad":
        y = keras.layers.ZeroPadding2D(tuple(tuple(p) for p in spec["pads"]))(x)
    elif kind == "pad":
        y = keras.ops.pad(x, spec["pads"], constant_values=spec["value"])
    elif kind == "concat":
        y = keras.layers.Concatenate(axis=spec["axis"])(inputs)
    elif kind == "concat_act":
        acts = {"sigmoid": keras.layers.Activation("sigmoid"), "tanh": keras.layers.Activation("tanh"),
                "softmax": keras.layers.Softmax(axis=-1)}
        parts = [acts[a](t) if a in acts else t for a, t in zip(spec["acts"], inputs, strict=True)]
        y = keras.layers.Concatenate(axis=spec["axis"])(parts)
    elif kind == "reshape":
        y = keras.layers.Reshape(tuple(spec["target"]))(x)
    elif kind == "flatten":
        y = keras.layers.Flatten()(x)
    else:
        raise ValueError(f"unknown layer kind {kind}")
    model = keras.Model(inputs, y)
    if layer is not None:
        _randomize_weights(layer, rng, spec)

    def representative() -> Any:
        data_rng = np.random.default_rng(spec["seed"] + 1)
        for _ in range(16):
            yield [data_rng.uniform(lo, hi, (1, *shape)).astype(np.float32)
                   for shape, (lo, hi) in zip(spec["inputs"], spec["ranges"], strict=True)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    if spec.get("per_tensor"):
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    return conv.convert()


def _activation(keras: Any, y: Any, act: str) -> Any:
    if act == "relu":
        return keras.layers.ReLU()(y)
    if act == "relu6":
        return keras.layers.ReLU(max_value=6.0)(y)
    return y


def _randomize_weights(layer: Any, rng: np.random.Generator, spec: Spec) -> None:
    """Random weights (and biases) so per-channel scales differ; optionally one all-zero output channel."""
    weights = layer.get_weights()
    scale = spec.get("weight_scale", 1.0)
    kernel = rng.normal(0, scale / np.sqrt(max(1, weights[0][..., 0].size)), weights[0].shape)
    kernel *= rng.uniform(0.2, 3.0, weights[0].shape[-1])  # spread the per-channel ranges
    if spec.get("zero_channel"):
        kernel[..., 0] = 0.0
    new = [kernel.astype(np.float32)]
    if len(weights) > 1:
        new.append(rng.normal(0, 0.5, weights[1].shape).astype(np.float32))
    layer.set_weights(new)


# ---------------------------------------------------------------------------------------------------------
# Edits of converted models where TFLM's int32 arithmetic wraps around for some inputs (a degenerate scale
# the converter does not emit from healthy calibration data): (op, spec index, edit(model object, graph, op)),
# applied with tiny_models.edit_model. The kernels must wrap exactly as tflite_micro does.

MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def set_quantization(m: Any, tensor: int, scale: Any = None, zp: Any = None) -> None:
    q = m.subgraphs[0].tensors[tensor].quantization
    if scale is not None:
        q.scale = np.asarray(scale, np.float32).reshape(-1)
    if zp is not None:
        q.zeroPoint = np.asarray(zp, np.int64).reshape(-1)


def set_int32_constant(m: Any, tensor: int, values: np.ndarray) -> None:
    buffer = m.buffers[m.subgraphs[0].tensors[tensor].buffer]
    buffer.data = np.frombuffer(np.asarray(values, "<i4").tobytes(), np.uint8)


def multiplier_numerator(g: Any, op: Any) -> float:
    """The scale product over which an op divides its output scale: s_in * max(s_w) (MAC), s1 * s2 (MUL),
    s_in (the rest)."""
    s_in = float(g.tensors[op.inputs[0]].quantization.scale[0])
    if op.opcode in MAC_OPS:
        return s_in * float(np.max(g.tensors[op.inputs[1]].quantization.scale))
    if op.opcode == "MUL":
        return s_in * float(g.tensors[op.inputs[1]].quantization.scale[0])
    return s_in


def scale_for_shift(numerator: float, shift: int) -> np.ndarray:
    """The output scale that makes the largest multiplier numerator / scale = 1.5 * 2^(shift - 1), whose
    QuantizeMultiplier exponent is `shift`."""
    return np.asarray([numerator / (1.5 * 2.0 ** (shift - 1))], np.float32)


def _preshift(shift: int) -> Any:
    return lambda m, g, op: set_quantization(m, op.outputs[0], scale=scale_for_shift(multiplier_numerator(g, op),
                                                                                     shift))


def _extreme_bias(m: Any, g: Any, op: Any) -> None:
    """Biases within 100 of the int32 limits, alternating in sign: the accumulation itself wraps."""
    n = g.tensors[op.inputs[2]].size
    set_int32_constant(m, op.inputs[2], np.where(np.arange(n) % 2 == 0, 2**31 - 1 - 100, -(2**31) + 100))


def _quantize_input_scale(shift: int) -> Any:
    """QUANTIZE after a sigmoid: TFLM's LOGISTIC ignores its output scale, so that scale (QUANTIZE's input)
    can be made huge without changing what reaches the QUANTIZE."""
    def edit(m: Any, g: Any, op: Any) -> None:
        s_out = float(g.tensors[op.outputs[0]].quantization.scale[0])
        set_quantization(m, op.inputs[0], scale=[s_out * 1.5 * 2.0 ** (shift - 1)])
    return edit


WRAP_EDITS: dict[str, tuple[str, int, Any]] = {
    "conv_preshift_2^20_wraps": ("CONV_2D", 1, _preshift(20)),
    "conv_preshift_2^31_wraps": ("CONV_2D", 3, _preshift(31)),
    "conv_bias_wraps_the_sum": ("CONV_2D", 2, _extreme_bias),
    "dwconv_preshift_2^24_wraps": ("DEPTHWISE_CONV_2D", 1, _preshift(24)),
    "dwconv_preshift_2^31_wraps": ("DEPTHWISE_CONV_2D", 4, _preshift(31)),
    "dwconv_bias_wraps_the_sum": ("DEPTHWISE_CONV_2D", 0, _extreme_bias),
    "fc_preshift_2^18_wraps": ("FULLY_CONNECTED", 0, _preshift(18)),
    "fc_per_tensor_preshift_2^31_wraps": ("FULLY_CONNECTED", 6, _preshift(31)),
    "fc_bias_wraps_the_sum": ("FULLY_CONNECTED", 0, _extreme_bias),
    "mul_preshift_2^22_wraps": ("MUL", 0, _preshift(22)),
    "mean_preshift_wraps": ("MEAN", 0, _preshift(31)),
    "relu_preshift_2^27_wraps": ("RELU", 0, _preshift(27)),
    "leaky_relu_preshift_2^30_wraps": ("LEAKY_RELU", 0, _preshift(30)),
    "quantize_preshift_2^29_wraps": ("QUANTIZE", 1, _quantize_input_scale(29)),
}
