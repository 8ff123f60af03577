"""Seeded random small int8 CNNs for the whole-model conformance test, built with TensorFlow and cached.

`random_models(seed, count)` returns [(name, .tflite path, edit)]: model i of a seed is a random stack of
CONV_2D, DEPTHWISE_CONV_2D, pools, a residual ADD, a CONCATENATION, a squeeze-excite MUL, padding and
activations (fused and standalone RELU / RELU6, LEAKY_RELU, HARD_SWISH, LOGISTIC, TANH), ending in MEAN or
a flatten, FULLY_CONNECTED and maybe SOFTMAX; random shapes, weights and calibration ranges (tiny, huge,
one-sided). About a third of the models then get a degenerate output scale on one multiply-accumulate layer
(pre-shift 2^12 .. 2^31, so its int32 arithmetic wraps for extreme inputs); `edit` names that layer.
Everything follows from the seed through zlib.crc32; the cache key holds the hash of this file.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import cached

DEGENERATE_SHARE = 0.35
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
# Consumers that take an input of any scale (TFLM requires equal scales for pools and concatenation)
ANY_SCALE_CONSUMERS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "MEAN", "RESHAPE"}


def random_models(seed: int, count: int) -> list[tuple[str, Path, dict[str, Any] | None]]:
    """The `count` models of `seed` (cached): (name, path, degenerate edit or None)."""
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
    folder = cached(f"conformance-models-{seed}-{count}-{digest}", lambda out: _build_all(seed, count, out))
    edits = json.loads((folder / "edits.json").read_text())
    return [(f"seed{seed}-model{i}", folder / f"{i}.tflite", edits[i]) for i in range(count)]


def _rng(seed: int, index: int, what: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"conformance:{seed}:{index}:{what}".encode()))


def _build_all(seed: int, count: int, out: Path) -> None:
    import os
    import warnings

    pytest.importorskip("tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
    edits = []
    for i in range(count):
        model = _convert(*_keras_model(seed, i))
        edit = None
        rng = _rng(seed, i, "edit")
        if rng.random() < DEGENERATE_SHARE:
            model, edit = _degenerate(model, rng)
        (out / f"{i}.tflite").write_bytes(model)
        edits.append(edit)
    (out / "edits.json").write_text(json.dumps(edits, indent=1))


def _keras_model(seed: int, index: int) -> tuple[Any, list[float], int]:
    """(Keras model, calibration range, data seed)."""
    import keras

    rng = _rng(seed, index, "model")
    keras.utils.set_random_seed(int(rng.integers(2**31)))
    h, w, c = int(rng.integers(4, 17)), int(rng.integers(4, 17)), int(rng.integers(1, 5))
    ranges = [[0.0, 1.0], [-1.0, 1.0], [-3.0, 0.0], [-0.002, 0.003], [-300.0, 200.0], [-0.5, 6.0]]
    data_range = ranges[int(rng.integers(len(ranges)))]
    inp = keras.Input((h, w, c), batch_size=1)
    x = inp
    acts = [None, "relu", "relu6"]
    for _ in range(int(rng.integers(2, 6))):
        kind = str(rng.choice(["conv", "dwconv", "pool", "residual", "concat", "se", "pad", "act"]))
        size = (int(x.shape[1]), int(x.shape[2]))
        k = int(rng.integers(1, 4))
        if kind == "conv":
            stride = int(rng.integers(1, 3)) if min(size) >= 4 else 1
            x = keras.layers.Conv2D(int(rng.integers(1, 9)), k, strides=stride, padding=str(rng.choice(["same", "valid"]))
                                    if min(size) >= k else "same", activation=acts[int(rng.integers(3))],
                                    use_bias=bool(rng.random() < 0.85))(x)
        elif kind == "dwconv":
            x = keras.layers.DepthwiseConv2D(k, padding="same", depth_multiplier=int(rng.integers(1, 3)),
                                             activation=acts[int(rng.integers(3))],
                                             use_bias=bool(rng.random() < 0.85))(x)
        elif kind == "pool" and min(size) >= 2:
            cls = keras.layers.MaxPooling2D if rng.random() < 0.5 else keras.layers.AveragePooling2D
            x = cls(2, padding=str(rng.choice(["same", "valid"])))(x)
        elif kind == "residual":
            y = keras.layers.Conv2D(int(x.shape[3]), 3, padding="same", activation="relu")(x)
            x = keras.layers.Add()([x, y])
        elif kind == "concat":
            a = keras.layers.Conv2D(int(rng.integers(1, 5)), 1, activation=acts[int(rng.integers(3))])(x)
            b = keras.layers.DepthwiseConv2D(3, padding="same")(x)
            x = keras.layers.Concatenate()([a, b])
        elif kind == "se":
            s = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
            s = keras.layers.Dense(int(x.shape[3]), activation="sigmoid")(s)
            x = keras.layers.Multiply()([x, s])
        elif kind == "pad":
            x = keras.layers.ZeroPadding2D(((int(rng.integers(0, 2)), 1), (1, int(rng.integers(0, 2)))))(x)
        else:
            act = str(rng.choice(["relu", "relu6", "leaky", "hard_swish", "sigmoid", "tanh"]))
            if act == "relu":
                x = keras.layers.ReLU()(x)
            elif act == "relu6":
                x = keras.layers.ReLU(max_value=6.0)(x)
            elif act == "leaky":
                x = keras.layers.LeakyReLU(negative_slope=float(rng.uniform(0.05, 0.5)))(x)
            else:
                x = keras.layers.Activation(act)(x)
    x = keras.layers.GlobalAveragePooling2D()(x) if rng.random() < 0.5 else keras.layers.Flatten()(x)
    x = keras.layers.Dense(int(rng.integers(2, 11)), activation="softmax" if rng.random() < 0.5 else None)(x)
    model = keras.Model(inp, x)
    weight_rng = _rng(seed, index, "weights")
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            spread = float(weight_rng.choice([0.05, 1.0, 1.0, 4.0]))
            layer.set_weights([weight_rng.normal(0, spread / np.sqrt(max(1, v[..., 0].size)), v.shape)
                               .astype(np.float32) for v in weights])
    return model, data_range, int(rng.integers(2**31))


def _convert(model: Any, data_range: list[float], data_seed: int) -> bytes:
    """Full int8 with edgeimpro's own converter, calibrated on 12 random inputs in the model's data range."""
    from edgeimpro.quantize.converter import to_int8_tflite

    shape = tuple(int(d) for d in model.inputs[0].shape)
    calibration = np.random.default_rng(data_seed).uniform(*data_range, (12, *shape[1:])).astype(np.float32)
    return to_int8_tflite(model, calibration)


def _degenerate(model: bytes, rng: np.random.Generator) -> tuple[bytes, dict[str, Any] | None]:
    """A tiny output scale on one multiply-accumulate layer whose consumers take any scale and whose fused
    activation does not quantize 6 or 1 (TFLM refuses those): its largest multiplier gets pre-shift 2^shift."""
    from kernel_models import multiplier_numerator, scale_for_shift, set_quantization
    from tiny_models import edit_model

    from edgeimpro.graph import load_graph

    graph = load_graph(model)
    consumers: dict[int, set[str]] = {}
    for op in graph.ops:
        for t in op.inputs:
            consumers.setdefault(t, set()).add(op.opcode)
    candidates = [op for op in graph.ops if op.opcode in MAC_OPS
                  and op.options.get("activation", "NONE") in ("NONE", "RELU")
                  and consumers.get(op.outputs[0], set()) <= ANY_SCALE_CONSUMERS]
    if not candidates:
        return model, None
    op = candidates[int(rng.integers(len(candidates)))]
    shift = int(rng.integers(12, 32))
    scale = scale_for_shift(multiplier_numerator(graph, op), shift)
    edited = edit_model(model, lambda m: set_quantization(m, op.outputs[0], scale=scale))
    return edited, {"op": op.index, "opcode": op.opcode, "shift": shift}
