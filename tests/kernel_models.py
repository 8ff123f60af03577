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

from edgeimpro import ops

BUILDER_VERSION = 1  # bump when _build_model changes what a spec produces

Spec = dict[str, Any]

# op -> its test specifications, declared by the op's module in the registry (edgeimpro/ops/*.py)
SPECS: dict[str, list[Spec]] = {op.opcode: list(op.tests) for op in ops.REGISTRY.values() if op.tests}
# Opcodes a spec of each op may produce besides the one under test (the converter's glue).
ALLOWED_EXTRA = {op.opcode: set(op.tested_with) for op in ops.REGISTRY.values() if op.tested_with}
# Opcodes counted as the op under test: the op and the glue ops that run its own kernel (PADV2 is PAD with a
# constant, eip_pad for both).
TESTED_AS = {op.opcode: {op.opcode} | {o for o in op.tested_with if ops.REGISTRY[o].kernel == op.kernel}
             for op in ops.REGISTRY.values() if op.tests}


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
