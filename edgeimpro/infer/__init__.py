"""Inference on a desktop or a Raspberry Pi: frames in, top-k labels with timings out. Never prints.

    session = InferenceSession("model.tflite")            # LiteRT, the model card's preprocessing
    for frame, pred in session.run(open_source(["photos/"]), top_k=3):
        print(pred.best.label, pred.best.score, pred.invoke_ms, pred.fps)

One module per job:

| module | job |
|---|---|
| `runtime` | which TFLite runtime runs the model (`open_runtime`: LiteRT, tflite-runtime, tf.lite, tflite-micro) |
| `preprocessing` | which preprocessing the model input gets: the model card's, or one read from the input tensor |
| `lut` | frame -> model input (`FramePreparer`), with the lookup-table fast path for model-sized frames |
| `prediction` | what inference returns: `Prediction`, `ClassScore`, `RunStats` |
| `session` | `InferenceSession`: the model, its runtime and preprocessing; `predict(frame)`, `run(source)` |
| `draw` | a prediction drawn on its frame; annotated frames' file names |

The names below are re-exported lazily, so `edgeimpro.compare` can import `infer.preprocessing` and
`infer.lut` without loading the session or the drawing code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeimpro.infer.draw import annotate_image, annotated_name, save_annotated
    from edgeimpro.infer.lut import FramePreparer, tabulate
    from edgeimpro.infer.prediction import ClassScore, Prediction, RunStats
    from edgeimpro.infer.preprocessing import (
        PIXEL_CONVENTIONS,
        card_for_model,
        preprocessing_from_card,
        preprocessing_from_input,
    )
    from edgeimpro.infer.runtime import AUTO_ORDER, NO_RUNTIME_HINT, RUNTIMES, open_runtime
    from edgeimpro.infer.session import DEFAULT_TOP_K, FPS_WINDOW, InferenceSession

_EXPORTS = {
    "runtime": ("AUTO_ORDER", "NO_RUNTIME_HINT", "RUNTIMES", "open_runtime"),
    "preprocessing": ("PIXEL_CONVENTIONS", "card_for_model", "preprocessing_from_card", "preprocessing_from_input"),
    "lut": ("FramePreparer", "tabulate"),
    "prediction": ("ClassScore", "Prediction", "RunStats"),
    "session": ("DEFAULT_TOP_K", "FPS_WINDOW", "InferenceSession"),
    "draw": ("annotate_image", "annotated_name", "save_annotated"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "AUTO_ORDER", "ClassScore", "DEFAULT_TOP_K", "FPS_WINDOW", "FramePreparer", "InferenceSession",
    "NO_RUNTIME_HINT", "PIXEL_CONVENTIONS", "Prediction", "RUNTIMES", "RunStats", "annotate_image",
    "annotated_name", "card_for_model", "open_runtime", "preprocessing_from_card", "preprocessing_from_input",
    "save_annotated", "tabulate",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
