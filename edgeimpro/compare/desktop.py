"""The desktop side of a comparison: the references the device's outputs are compared with.

| name | runtime | what it says about the device |
|---|---|---|
| tflm | tflite_micro, reference kernels | what the device must compute, bit for bit (DESIGN.md §4) |
| litert | LiteRT (ai_edge_litert) | what a Raspberry Pi / desktop computes: a few LSB apart, reported |
| keras | the float Keras model (--keras) | the quantization error on top: float outputs, not int8 |

Keras (and with it TensorFlow) is imported only when a Keras reference is made.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgeimpro.compare.records import ReferenceDescription
from edgeimpro.errors import DependencyError, ModelError
from edgeimpro.references import LiteRTReference, TflmReference, capture_c_stderr

log = logging.getLogger(__name__)

REFERENCE_TITLES = {"tflm": "tflite_micro", "litert": "LiteRT", "keras": "Keras (float)"}


@contextlib.contextmanager
def _quiet(what: str) -> Iterator[None]:
    """What native runtimes print on their first use (delegates, oneDNN notes) goes to the debug log."""
    with capture_c_stderr() as text:
        yield
    if "".join(text).strip():
        log.debug("%s printed:\n%s", what, "".join(text).strip())


class DesktopReference:
    """One reference: `outputs(x, float_x)` -> the model's outputs (with batch dimension) for int8 input `x`
    (a float reference takes `float_x`, the same input before int8 quantization)."""

    name = ""
    title = ""
    exact = False            # bit-exact with the device by contract
    float_outputs = False    # outputs are floats (compared in the dequantized domain)

    def outputs(self, x: np.ndarray, float_x: np.ndarray | None = None) -> list[np.ndarray]:
        raise NotImplementedError

    def describe(self) -> ReferenceDescription:
        return ReferenceDescription(self.name, self.title, self.exact, self.float_outputs)


class TflmDesktop(DesktopReference):
    name, title, exact = "tflm", REFERENCE_TITLES["tflm"], True

    def __init__(self, model: bytes) -> None:
        self.runtime = TflmReference(model)

    def outputs(self, x: np.ndarray, float_x: np.ndarray | None = None) -> list[np.ndarray]:
        return self.runtime.run_all(x)

    def intermediates(self, x: np.ndarray) -> dict[int, np.ndarray]:
        return self.runtime.intermediates(x)


class LiteRTDesktop(DesktopReference):
    name, title = "litert", REFERENCE_TITLES["litert"]

    def __init__(self, model: bytes) -> None:
        with _quiet("LiteRT"):
            self.runtime = LiteRTReference(model)
        self._first = True

    def outputs(self, x: np.ndarray, float_x: np.ndarray | None = None) -> list[np.ndarray]:
        if self._first:
            self._first = False
            with _quiet("LiteRT"):
                return self.runtime.run_all(x)
        return self.runtime.run_all(x)


class KerasDesktop(DesktopReference):
    """The float Keras model the .tflite was converted from (TensorFlow imported here, lazily)."""

    name, title, float_outputs = "keras", REFERENCE_TITLES["keras"], True

    def __init__(self, path: Path | str, input_shape: tuple[int, ...], output_sizes: list[int]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"Keras model not found: {self.path}",
                             hint="give the model.keras the .tflite was converted from")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            with _quiet("TensorFlow"):
                import keras
        except ImportError as e:
            raise DependencyError(f"Keras is not installed ({e}); --keras needs it",
                                  hint="pip install -e '.[train]'  (or leave --keras out)") from None
        try:
            with _quiet("Keras"):
                self.model = keras.models.load_model(self.path, compile=False)
        except Exception as e:    # Keras raises many types for a bad file
            raise ModelError(f"{self.path} is not a loadable Keras model: {str(e).splitlines()[0] if str(e) else e}",
                             hint="give the model.keras written by `edgeimpro train`") from None
        want = tuple(input_shape[1:])
        got = tuple(self.model.inputs[0].shape[1:])
        if got != want:
            raise ModelError(f"the Keras model takes {list(got)}, the .tflite {list(want)}",
                             hint="give the Keras model this .tflite was converted from")
        self.output_sizes = output_sizes

    def outputs(self, x: np.ndarray, float_x: np.ndarray | None = None) -> list[np.ndarray]:
        if float_x is None:
            raise ValueError("the Keras reference needs the float input")
        y = self.model(float_x.astype(np.float32), training=False)
        ys = y if isinstance(y, (list, tuple)) else [y]
        out = [np.asarray(v, np.float32) for v in ys]
        if [int(o.size) for o in out] != self.output_sizes:
            raise ModelError(f"the Keras model's outputs have {[o.size for o in out]} elements, the .tflite's "
                             f"{self.output_sizes}", hint="give the Keras model this .tflite was converted from")
        return out


def make_references(model: bytes, wanted: tuple[str, ...], *, keras: Path | None, input_shape: tuple[int, ...],
                    output_sizes: list[int], required: tuple[str, ...] = ()) -> tuple[list[DesktopReference],
                                                                                      dict[str, str]]:
    """The references in `wanted` (plus keras when a path is given) and, for those that are not installed,
    why. A reference in `required` that is missing raises its DependencyError."""
    makers = {"tflm": lambda: TflmDesktop(model), "litert": lambda: LiteRTDesktop(model)}
    refs: list[DesktopReference] = []
    missing: dict[str, str] = {}
    for name in wanted:
        try:
            refs.append(makers[name]())
        except DependencyError as e:
            if name in required:
                raise
            log.info("reference %s unavailable: %s", name, e.message)
            missing[name] = e.message
    if keras is not None:
        refs.append(KerasDesktop(keras, input_shape, output_sizes))
    return refs, missing
