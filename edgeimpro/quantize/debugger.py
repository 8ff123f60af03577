"""Per-layer quantization error with TensorFlow's QuantizationDebugger, named after the Keras layers.

The debugger re-quantizes the model with NumericVerify ops after every quantized op and runs it on a
few samples; each op's error is the difference between its dequantized int8 output and the float op
fed the same dequantized inputs. We rank by RMSE / scale: the error in units of the output's LSB, which
compares layers whose value ranges differ (TensorFlow's own guide ranks the same way).
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

_SUFFIX = re.compile(r"_\d+$")


@dataclass(frozen=True)
class LayerError:
    layer: str                 # Keras layer name (best match), else the TFLite tensor name
    tensor: str                # TFLite tensor name
    op: str                    # TFLite op, e.g. CONV_2D
    rmse_over_scale: float     # root mean squared error in output LSBs
    mean_squared_error: float
    max_abs_error: float
    scale: float
    zero_point: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def layer_errors(make_converter: Callable[[], Any], samples: Iterable[np.ndarray],
                 layer_names: list[str], output_layer: str | None = None) -> list[LayerError]:
    """Every quantized layer's error, worst first.

    `make_converter()` returns a TFLiteConverter set up for full-int8 conversion (the debugger changes
    the converter it is given, so it gets a fresh one); `samples` are float inputs of batch 1.
    """
    import tensorflow as tf

    batch = [np.asarray(s, dtype=np.float32) for s in samples]

    def dataset() -> Iterator[list[np.ndarray]]:
        for s in batch:
            yield [s]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        debugger = tf.lite.experimental.QuantizationDebugger(converter=make_converter(), debug_dataset=dataset)
        debugger.run()
    buf = io.StringIO()
    debugger.layer_statistics_dump(buf)
    buf.seek(0)
    out = []
    for row in csv.DictReader(buf):
        scale = float(row["scale"])
        mse = float(row["mean_squared_error"])
        rmse_lsb = math.sqrt(mse) / scale if scale > 0 else float("inf")
        tensor = row["tensor_name"]
        out.append(LayerError(
            layer=keras_layer_for(tensor, layer_names) or (output_layer if _is_signature_output(tensor) else None)
            or tensor,
            tensor=tensor,
            op=row["op_name"],
            rmse_over_scale=_finite(rmse_lsb),
            mean_squared_error=_finite(mse),
            max_abs_error=_finite(float(row["max_abs_error"])),
            scale=scale,
            zero_point=int(float(row["zero_point"])),
        ))
    out.sort(key=lambda e: -e.rmse_over_scale)
    return out


def keras_layer_for(tensor_name: str, layer_names: list[str]) -> str | None:
    """The Keras layer a TFLite tensor name comes from, e.g. 'model_1/conv2d_1_2/Relu;...' -> 'conv2d_1'.

    Tracing appends a uniquifying `_N` to every name scope, so a scope first loses one such suffix; the
    deepest scope that names a layer wins (nested models: the inner layer).
    """
    known = set(layer_names)
    for part in tensor_name.split(";"):
        scopes = part.split("/")[:-1]
        for scope in reversed(scopes):
            stripped = _SUFFIX.sub("", scope)
            if stripped != scope and stripped in known:
                return stripped
            if scope in known:
                return scope
    return None


def _is_signature_output(tensor_name: str) -> bool:
    return tensor_name.startswith("StatefulPartitionedCall")


def _finite(v: float) -> float:
    """JSON has no NaN/inf: store them as -1 (never a real error value)."""
    return v if math.isfinite(v) else -1.0
