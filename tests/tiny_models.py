"""Small generated .tflite models for the graph / inspect / export tests, built once with TensorFlow and
cached across runs and xdist workers (conftest.cached). Each is a tiny Keras CNN converted a particular
(wrong) way, or an edit of a good model."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import CACHE_DIR, cached

CACHE_NAME = "graph-tiny-models-v1"
NAMES = ("int8", "float", "hybrid", "dynamic", "gelu", "big", "float_io")


def tiny_model(name: str) -> Path:
    """Path of one generated model: int8 (good), float, hybrid, dynamic (no batch_size), gelu (an op TFLM
    lacks), big (160x160 input: > 128 KiB of activations), float_io (int8 inside, float interface)."""
    if not (CACHE_DIR / CACHE_NAME / ".complete").exists() and importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is needed to build the test models")
    return cached(CACHE_NAME, _build_all) / f"{name}.tflite"


def _build_all(out: Path) -> None:
    import warnings

    import keras
    import tensorflow as tf

    def cnn(size: int = 8, batch: int | None = 1, act: str = "relu", filters: int = 4) -> keras.Model:
        inp = keras.Input((size, size, 3), batch_size=batch)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation=act)(inp)
        x = keras.layers.Flatten()(x) if size <= 16 else keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(3, activation="softmax")(x)
        return keras.Model(inp, x)

    def convert(model: keras.Model, mode: str, size: int = 8) -> bytes:
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if mode != "float":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode in ("int8", "float_io"):
            rng = np.random.default_rng(0)
            conv.representative_dataset = lambda: ([rng.random((1, size, size, 3), dtype=np.float32)]
                                                   for _ in range(8))
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if mode == "int8":
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        return conv.convert()

    keras.utils.set_random_seed(0)
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
    models = {
        "int8": convert(cnn(), "int8"),
        "float": convert(cnn(), "float"),
        # dynamic-range quantization: int8 weights (Dense has > 1024 of them), float activations
        "hybrid": convert(cnn(filters=16), "hybrid"),
        "dynamic": convert(cnn(batch=None), "int8"),
        "gelu": convert(cnn(act="gelu"), "int8"),
        "big": convert(cnn(size=160, filters=16), "int8", size=160),
        "float_io": convert(cnn(), "float_io"),
    }
    for name, data in models.items():
        (out / f"{name}.tflite").write_bytes(data)


def edit_model(data: bytes, edit) -> bytes:
    """Apply `edit(model_object)` to a .tflite with the flatbuffer object API and re-serialize."""
    schema = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated")
    import flatbuffers

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    edit(model)
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def two_subgraphs(data: bytes) -> bytes:
    return edit_model(data, lambda m: m.subgraphs.append(copy.deepcopy(m.subgraphs[0])))


def bias_quantized_along_dimension_3(data: bytes) -> bytes:
    """TFLM's person_detect.tflite quirk: 1-D bias tensors whose quantization names dimension 3 (copied from
    the conv weights). TFLM accepts it; LiteRT refuses it unless edgeimpro normalises it."""
    def edit(model) -> None:
        for t in model.subgraphs[0].tensors:
            if t.quantization is not None and t.shape is not None and len(t.shape) == 1 \
                    and t.quantization.scale is not None and len(t.quantization.scale) >= 1:
                t.quantization.quantizedDimension = 3
    return edit_model(data, edit)
