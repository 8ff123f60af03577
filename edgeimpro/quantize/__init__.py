"""Full-int8 conversion of Keras models, float vs int8 accuracy and per-layer quantization error.

TensorFlow is imported only when a conversion runs, so importing this package stays cheap.
"""

from edgeimpro.quantize.converter import (
    DEFAULT_SAMPLES,
    ConversionResult,
    check_full_int8,
    convert_model,
    inference_model,
    load_keras_model,
    to_int8_tflite,
)
from edgeimpro.quantize.debugger import LayerError
from edgeimpro.quantize.detect import DetectionComparison, DetectorConversion
from edgeimpro.quantize.evaluate import AccuracyReport, Head

__all__ = [
    "DEFAULT_SAMPLES", "AccuracyReport", "ConversionResult", "DetectionComparison", "DetectorConversion", "Head",
    "LayerError", "check_full_int8", "convert_model", "inference_model", "load_keras_model", "to_int8_tflite",
]
