"""Keras model -> full-int8 .tflite (int8 input and output) + model card, checked and written atomically.

The steps (DESIGN.md §5):
  1. load the .keras model and its card; rebuild it for inference with a static batch of 1 (a dynamic
     batch drags SHAPE/STRIDED_SLICE/PACK into the graph) and with augmentation layers replaced by
     identities;
  2. calibrate on training-part images and convert with TFLITE_BUILTINS_INT8 only;
  3. check the flatbuffer with edgeimpro.graph: int8 in and out, batch 1, no float op anywhere (the
     converter silently keeps float islands around ops it cannot quantize);
  4. float vs int8 top-1 on held-out images, int8 in tflite_micro; per-layer error (QuantizationDebugger);
  5. write model.tflite and model.json together: both or neither.
A detector (`train --task detect`) takes the same steps with its own data and measure (`detect.py`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeimpro import __version__
from edgeimpro.datasets.folder import load_images
from edgeimpro.errors import DataError, DependencyError, ModelError, UnsupportedOpError, UsageError
from edgeimpro.graph import Graph, load_graph
from edgeimpro.graph.validate import check_single_subgraph
from edgeimpro.modelcard import ModelCard, card_path_for, find_card, sha256_file, write_all_or_nothing
from edgeimpro.preprocess import Preprocessing
from edgeimpro.quantize.data import DataPlan, plan_data, resolve_data_dir
from edgeimpro.quantize.debugger import LayerError, layer_errors
from edgeimpro.quantize.evaluate import AccuracyReport, compare_float_int8
from edgeimpro.training.collapse import CollapseCheck, check_collapse, collapse_warning

if TYPE_CHECKING:
    from edgeimpro.quantize.detect import DetectorConversion

log = logging.getLogger(__name__)
EVALUATION_PROGRESS_FROM = 200   # held-out images: below this the evaluation takes a few seconds

DEFAULT_SAMPLES = 200
DEBUG_SAMPLES = 32          # samples the QuantizationDebugger runs (per-layer error converges quickly)
WORST_LAYERS = 5
# Ops a full-int8 graph for a microcontroller must not contain: dynamic-shape plumbing and float islands.
DYNAMIC_SHAPE_OPS = frozenset({"SHAPE", "STRIDED_SLICE", "PACK", "GATHER", "BROADCAST_TO", "FILL"})
# Keras layers that are the identity at inference: replaced before conversion so nothing of them remains.
_INFERENCE_IDENTITY = frozenset({"AugMix", "CutMix", "MixUp", "RandAugment", "GaussianNoise",
                                 "GaussianDropout", "AlphaDropout"})

Progress = Callable[[str], None]


@dataclass
class ConversionResult:
    tflite_path: Path
    card_path: Path
    card: ModelCard
    size_bytes: int
    accuracy: AccuracyReport
    worst_layers: list[LayerError]
    data: DataPlan
    calibration_samples: int
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)    # a model that learned nothing (training or int8)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tflite": str(self.tflite_path),
            "model_card": str(self.card_path),
            "sha256": self.card.tflite_sha256,
            "quantization": self.card.quantization,
            "conversion": self.card.conversion,
            "warnings": list(self.warnings),
        }


# --- the whole verb -------------------------------------------------------------------------------------

def convert_model(model_path: Path | str, output: Path | str | None = None, *,
                  calibration_dir: Path | str | None = None, samples: int = DEFAULT_SAMPLES,
                  eval_samples: int | None = None, debug_samples: int = DEBUG_SAMPLES,
                  progress: Progress | None = None, eval_data: Path | str | None = None
                  ) -> ConversionResult | DetectorConversion:
    """Convert MODEL.keras to full-int8 `output` (default: beside the model) and write model.json beside it.

    A detector (its card says task "detect") is converted by `detect.convert_detector`, which returns a
    DetectorConversion (float vs int8 centroid metrics); `eval_data` (a separate held-out detection set)
    applies to detectors only. Raises ModelError / UnsupportedOpError / DataError / UsageError with a hint;
    on any failure (Ctrl-C included) nothing is written and existing files are left as they were.
    """
    say = progress or (lambda msg: None)
    model_path = Path(model_path)
    _check_model_file(model_path)
    tflite_path = output_path_for(model_path, output)
    card_path = card_path_for(tflite_path)
    card = find_card(model_path)
    if card is not None and card.is_detector:
        from edgeimpro.quantize.detect import convert_detector

        return convert_detector(model_path, tflite_path, card, calibration_dir=calibration_dir, samples=samples,
                                eval_samples=eval_samples, eval_data=eval_data, debug_samples=debug_samples,
                                progress=progress)
    if eval_data is not None:
        raise UsageError("--eval-data applies to detectors (trained with --task detect); this model is a classifier",
                         hint="a classifier is evaluated on the held-out split of its data: give --calibration "
                              "DATA_DIR to use another folder")
    if card is None and calibration_dir is None:
        raise UsageError(f"no model.json beside {model_path}: the labels and preprocessing are unknown",
                         hint="give --calibration DATA_DIR (class subfolders named after the labels)")
    training = card.training if card else {}
    data_dir, source = resolve_data_dir(calibration_dir, training, model_path.parent)
    plan = plan_data(data_dir, source, card.labels if card else None, training, samples, eval_samples)

    say(f"loading {model_path}")
    model = load_keras_model(model_path)
    prep = _float_preprocessing(card, model)
    labels = plan.classes
    _check_head(model, labels)

    say(f"loading {len(plan.calibration)} calibration images from {plan.data_dir}")
    calib = load_images(plan.calibration, prep)
    if len(calib.x) == 0:
        raise DataError(f"none of the {len(plan.calibration)} calibration images in {plan.data_dir} could be read "
                        f"(first: {calib.unreadable[0][0]}: {calib.unreadable[0][1]})",
                        hint="check the image files, or give another --calibration folder")
    say(f"loading {len(plan.evaluation)} held-out images")
    held = load_images(plan.evaluation, prep)

    infer = inference_model(model)
    say("converting to full int8")
    tflite = to_int8_tflite(infer, calib.x)
    graph = load_graph(tflite)
    check_full_int8(graph)
    in_t, out_t = graph.input_tensors[0], graph.output_tensors[0]
    in_scale, in_zp = in_t.quantization.scalar
    prep_q = prep.with_quantization(in_scale, in_zp)

    say(f"float vs int8 on {len(held.x)} held-out images (int8 in tflite_micro, one image per invoke)")
    accuracy = compare_float_int8(lambda x: _predict(model, x), tflite, graph, held.x, held.y, prep_q,
                                  progress=lambda done, total: say(f"  int8: {done:,} of {total:,} images")
                                  if total >= EVALUATION_PROGRESS_FROM else None)

    collapse, warnings = _collapse_checks(training, accuracy, held.y, labels)

    say("per-layer quantization error (QuantizationDebugger)")
    debug_x = held.x if len(held.x) else calib.x
    worst = _worst_layers(infer, calib.x, debug_x[:debug_samples])

    quantization = {"input": _tensor_quantization(in_t), "output": _tensor_quantization(out_t)}
    conversion = {
        "source_model": model_path.name,
        "source_sha256": sha256_file(model_path),
        "calibration": {**plan.describe(), "samples": len(calib.x)},
        "evaluation": {**plan.describe(), "samples": accuracy.samples,
                       "split": "seen in training (trained with --val-split 0)" if plan.seen_in_training
                       else "held-out",
                       "held_out_total": plan.held_out_total},
        "unreadable_images": [str(p) for p, _ in calib.unreadable + held.unreadable],
        "float_accuracy": accuracy.float_accuracy,
        "int8_accuracy": accuracy.int8_accuracy,
        "agreement": accuracy.agreement,
        "disagreements": accuracy.disagreements,
        "head": accuracy.head,
        "int8_runtime": accuracy.runtime,
        "size_bytes": len(tflite),
        "ops": graph.opcodes,
        "collapse": collapse.to_dict() if collapse else None,
        "worst_layers": [e.to_dict() for e in worst[:WORST_LAYERS]],
        "metric": "rmse_over_scale: RMS error of the layer's int8 output in LSBs (QuantizationDebugger)",
        "tools": _tool_versions(),
    }
    new_card = ModelCard(labels=labels, preprocessing=prep_q, training=training, quantization=quantization,
                         conversion=conversion, tflite_sha256=graph.sha256, tflite_file=tflite_path.name)
    write_all_or_nothing([(tflite_path, tflite), (card_path, new_card.to_bytes())])
    return ConversionResult(tflite_path=tflite_path, card_path=card_path, card=new_card, size_bytes=len(tflite),
                            accuracy=accuracy, worst_layers=worst[:WORST_LAYERS], data=plan,
                            calibration_samples=len(calib.x), unreadable=calib.unreadable + held.unreadable,
                            ops=graph.opcodes, warnings=warnings)


def _collapse_checks(training: dict[str, Any], accuracy: AccuracyReport, y: np.ndarray, labels: list[str]
                     ) -> tuple[CollapseCheck | None, list[str]]:
    """The int8 model's collapse check on the held-out images, and the warnings: the one training recorded
    in the card (repeated: quantizing does not repair it), else one for an int8 model that collapsed."""
    recorded = CollapseCheck.from_dict(training.get("collapse"))
    check = (check_collapse(y, accuracy.int8_top1, labels, "held-out (int8)")
             if accuracy.int8_top1 is not None and len(y) else None)
    warnings = []
    if recorded is not None and recorded.collapsed:
        warnings.append(collapse_warning(recorded, "training recorded (model.json) that this model"))
    elif check is not None and check.collapsed:
        float_ok = accuracy.float_top1 is not None and not check_collapse(
            y, accuracy.float_top1, labels, "held-out (float)").collapsed
        what = "the int8 model (the float model is fine: quantization broke it)" if float_ok else "this model"
        warnings.append(collapse_warning(check, what))
    return check, warnings


def output_path_for(model_path: Path, output: Path | str | None) -> Path:
    """-o FILE, -o DIR (-> DIR/model.tflite) or nothing (-> beside the model, .tflite suffix)."""
    if output is None:
        return model_path.with_suffix(".tflite")
    out = Path(output)
    if out.is_dir():
        out = out / "model.tflite"
    if out.suffix.lower() != ".tflite":
        raise UsageError(f"output {out} should end in .tflite", hint="for example -o run/model.tflite")
    if out.resolve() == model_path.resolve():
        raise UsageError("the output would overwrite the Keras model", hint="give -o model.tflite")
    return out


# --- loading ----------------------------------------------------------------------------------------------

def _check_model_file(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"model file not found: {path}",
                         hint="give the model.keras written by `edgeimpro train` (RUN_DIR/model.keras)")
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a Keras model file", hint=f"give {path / 'model.keras'}")
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a Keras model: a .keras file is a zip archive and this one is not",
                         hint="the file may be truncated or not a model; re-save it with model.save('model.keras')")
    if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{path} is not a Keras model file (.keras or .h5)",
                         hint="convert takes the model.keras written by `edgeimpro train`; "
                              "a .tflite is already converted: try `edgeimpro inspect`")


def load_keras_model(path: Path | str) -> Any:
    """keras.models.load_model with errors that name the file and the fix."""
    path = Path(path)
    _check_model_file(path)
    try:
        with _quiet():
            keras = _import_keras()
            return keras.models.load_model(path, compile=False)
    except DependencyError:
        raise
    except Exception as e:
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        if len(text) > 160 and ". " in text:
            text = text.split(". ")[0] + "."
        hint = "re-save the model with model.save('model.keras') in Keras 3"
        if "lambda" in str(e).lower() or "safe_mode" in str(e):
            hint = "the model has a Lambda layer with Python code; replace it with built-in layers"
        elif "Could not locate" in str(e) or "Unknown layer" in str(e):
            hint = "the model uses a custom layer class; register it with keras.saving.register_keras_serializable"
        raise ModelError(f"{path} is not a loadable Keras model: {text}", hint=hint) from None


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow  # noqa: F401  (the converter needs TF; fail here, early, when it is missing)
    except ImportError as e:
        raise DependencyError(f"TensorFlow/Keras are not installed ({e})",
                              hint="conversion needs the train extra: pip install -e .[train]") from None
    return keras


def _float_preprocessing(card: ModelCard | None, model: Any) -> Preprocessing:
    """The card's preprocessing without any earlier int8 quantization, or one read off the model's input."""
    shape = _input_shape(model)
    if card is not None:
        prep = replace(card.preprocessing, input_scale=None, input_zero_point=None)
        if prep.shape != shape:
            raise ModelError(f"model input is {_hwc(shape)} but model.json describes {_hwc(prep.shape)}",
                             hint="the model.json beside the model belongs to another model; retrain or fix it")
        return prep
    return Preprocessing(height=shape[0], width=shape[1], color="rgb" if shape[2] == 3 else "grayscale")


def _input_shape(model: Any) -> tuple[int, int, int]:
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        raise ModelError(f"model {model.name!r} has no defined input (a subclassed model never called on "
                         "a keras.Input)", hint="build it as a functional or Sequential model with "
                         "keras.Input((H, W, C), batch_size=1)") from None
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"model has {len(inputs)} inputs and {len(outputs)} outputs",
                         hint="convert handles image classifiers with one input and one output")
    shape = tuple(inputs[0].shape[1:])
    if len(shape) != 3 or any(d is None for d in shape) or shape[2] not in (1, 3):
        raise ModelError(f"model input shape {tuple(inputs[0].shape)} is not a fixed-size image (H, W, 1|3)",
                         hint="build the model with keras.Input((H, W, C), batch_size=1)")
    return int(shape[0]), int(shape[1]), int(shape[2])


def _check_head(model: Any, labels: list[str]) -> None:
    shape = tuple(model.outputs[0].shape[1:])
    units = int(shape[-1]) if shape else 1
    if len(shape) != 1 or not (units == len(labels) or (units == 1 and len(labels) == 2)):
        raise ModelError(f"model output {tuple(model.outputs[0].shape)} does not match its {len(labels)} labels "
                         f"({', '.join(labels)})",
                         hint="a classifier ends in Dense(number of classes), or Dense(1, sigmoid) for two")


def _hwc(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


# --- the inference model and the conversion -----------------------------------------------------------

def inference_model(model: Any) -> Any:
    """The model for conversion: batch fixed to 1, augmentation layers replaced by identities.

    Layers are shared with `model` (no weight copy). Models that cannot be cloned (subclassed) are wrapped
    instead: a batch-1 Input calling the model with training=False, where augmentation is a no-op.
    """
    keras = _import_keras()
    shape = _input_shape(model)
    inp = keras.Input(shape=shape, batch_size=1, dtype=model.inputs[0].dtype, name="input")

    def swap(layer: Any) -> Any:
        if _is_augmentation(layer):
            return keras.layers.Identity(name=layer.name)
        return layer

    try:
        return keras.models.clone_model(model, input_tensors=inp, clone_function=swap, recursive=True)
    except Exception as e:  # subclassed or unusual models
        log.debug("clone_model failed (%s); wrapping the model instead", e)
        return keras.Model(inp, model(inp, training=False), name=f"{model.name}_batch1")


def _is_augmentation(layer: Any) -> bool:
    name = type(layer).__name__
    return (name.startswith("Random") and name != "RandomCrop") or name in _INFERENCE_IDENTITY


def make_converter(model: Any, calibration: np.ndarray) -> Any:
    """A TFLiteConverter for full int8 (int8 input and output), calibrated on `calibration` (N, H, W, C)."""
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for sample in calibration:
            yield [sample[None].astype(np.float32)]

    with _quiet():
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv


def to_int8_tflite(model: Any, calibration: np.ndarray) -> bytes:
    """Convert and return the .tflite bytes; converter failures become UnsupportedOpError / ModelError."""
    conv = make_converter(model, calibration)
    try:
        with _quiet() as captured:
            return bytes(conv.convert())
    except Exception as e:
        if type(e).__name__ != "ConverterError":
            raise
        raise _converter_error(str(e) + captured.getvalue(), model) from None


def _converter_error(text: str, model: Any) -> ModelError:
    ops = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)))
    if ops:
        layers = _layers_of(re.findall(r'fused\["\w+:", "([^"@]+)@', text), model)
        where = f" (in layer {', '.join(layers)})" if layers else ""
        return UnsupportedOpError(
            f"the model uses {', '.join(ops)}{where}, which has no int8 TFLite builtin",
            hint="replace that layer with built-in ones (Conv2D, DepthwiseConv2D, Dense, pooling, ReLU/ReLU6, "
                 "Add, Concatenate, Reshape, Softmax)")
    first = next((ln for ln in text.splitlines() if "error" in ln.lower()), text.splitlines()[0] if text else "")
    return ModelError(f"the TFLite converter failed: {first.strip()[:400]}",
                      hint="run with -v for the converter's full output")


def _layers_of(paths: list[str], model: Any) -> list[str]:
    from edgeimpro.quantize.debugger import keras_layer_for

    names = _layer_names(model)
    found = [keras_layer_for(p + "/x", names) for p in paths]
    return sorted({f for f in found if f})


def _layer_names(model: Any) -> list[str]:
    names = []
    for layer in getattr(model, "layers", []):
        names.append(layer.name)
        if hasattr(layer, "layers"):
            names += _layer_names(layer)
    return names


def check_full_int8(graph: Graph) -> None:
    """Refuse a graph a microcontroller int8 runtime cannot run as is: float I/O or ops, dynamic shapes."""
    check_single_subgraph(graph)
    problems = []
    for t in graph.input_tensors + graph.output_tensors:
        kind = "input" if t.index in graph.inputs else "output"
        if t.dtype != "int8":
            problems.append(f"{kind} {t.name!r} is {t.dtype}")
        if not t.shape or t.shape[0] != 1 or t.dynamic:
            problems.append(f"{kind} {t.name!r} has shape {list(t.shape_signature or t.shape)}, not a static batch of 1")
    float_ops = []
    for op in graph.ops:
        outs = op.output_tensors(graph)
        if op.opcode in DYNAMIC_SHAPE_OPS:
            problems.append(f"op {op.opcode} ({outs[0].name}) computes shapes at run time")
        elif op.opcode not in ("DEQUANTIZE", "QUANTIZE") and any(
                t.dtype.startswith("float") for t in outs):
            float_ops.append(f"{op.opcode} ({outs[0].name})")
        elif op.opcode == "DEQUANTIZE" and not op.input_tensors(graph)[0].is_constant:
            problems.append(f"op DEQUANTIZE ({outs[0].name}) turns int8 activations back into float")
    if float_ops:
        problems.insert(0, "ops left in float: " + ", ".join(float_ops))
    if problems:
        raise UnsupportedOpError(
            "the converted model is not full int8: " + "; ".join(problems),
            hint="an op with no int8 kernel leaves a float island; replace that layer with built-in layers "
                 "(Conv2D, DepthwiseConv2D, Dense, pooling, ReLU/ReLU6, Add, Softmax)")


def _tensor_quantization(t: Any) -> dict[str, Any]:
    scale, zp = t.quantization.scalar
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "scale": scale, "zero_point": zp}


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    batch = model.inputs[0].shape[0]
    with _quiet():
        return np.asarray(model.predict(x, batch_size=batch or 32, verbose=0))


def _worst_layers(infer: Any, calibration: np.ndarray, debug_x: np.ndarray) -> list[LayerError]:
    names = _layer_names(infer)
    output_layer = names[-1] if names else None
    try:
        with _quiet():
            return layer_errors(lambda: make_converter(infer, calibration), [s[None] for s in debug_x],
                                names, output_layer)
    except Exception as e:  # the int8 model is fine; only the diagnosis failed: say so, do not fail the verb
        log.warning("per-layer quantization error unavailable: %s", e)
        return []


def _tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"edgeimpro": __version__}
    for pkg in ("tensorflow-cpu", "tensorflow", "keras", "tflite-micro"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """Swallow what TensorFlow prints (Python stdout, warnings, and C-level fds 1/2); logged at debug level.

    The library never prints (STYLE.md); the captured text is yielded so an error can quote it.
    """
    captured = io.StringIO()
    saved = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            _flush_std()
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
        except OSError:  # no real fds (embedded interpreter): keep going unredirected
            pass
        try:
            with contextlib.redirect_stdout(captured), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield captured
        finally:
            _flush_std()
            for fd, dup in saved:
                os.dup2(dup, fd)
                os.close(dup)
            sink.seek(0)
            native = sink.read().decode(errors="replace")
            captured.write(native)
            text = captured.getvalue().strip()
            if text:
                log.debug("tensorflow output:\n%s", text)


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
