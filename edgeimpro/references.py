"""Desktop runtimes behind one interface: `run(batch) -> outputs`.

- `TflmReference`: the TFLite Micro C++ interpreter with reference kernels (`tflite_micro` package). This
  is the ground truth for what a TFLM device computes: compare int8 results with it exactly.
- `LiteRTReference`: LiteRT (`ai_edge_litert`), fast; its default kernels differ from TFLM by a few LSB in
  a small fraction of elements (DESIGN.md §4), so it is for speed, not for bit-exactness.
  `TfliteRuntimeReference` (tflite-runtime) and `TensorFlowReference` (tf.lite) are the same API, for
  machines that have one of those instead.

Runtimes are imported lazily (never TensorFlow); a missing one raises DependencyError with the pip line.
Arena figures: `measure_tflm_arena()` reads TFLM's RecordingMicroAllocator totals (x86-64 sizes) and
`estimate_arena_32bit()` turns them into a Cortex-M figure (see its docstring for the adjustment).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgeimpro.errors import DependencyError, EdgeImproError, ModelError, UsageError
from edgeimpro.graph.loader import load_graph, read_model_bytes
from edgeimpro.graph.model import Graph
from edgeimpro.graph.validate import check_tflm_aborts

TFLM_PIP = "pip install --pre tflite-micro  (or: pip install --pre -e '.[train]', which pins the version)"
LITERT_PIP = "pip install ai-edge-litert  (or: pip install -e '.[pi]')"
TFLITE_RUNTIME_PIP = "pip install tflite-runtime 'numpy<2'  (or, better, LiteRT: pip install ai-edge-litert)"
TENSORFLOW_PIP = "pip install tensorflow-cpu  (or the much smaller LiteRT: pip install ai-edge-litert)"

ARENA_ALIGNMENT = 16       # TFLM aligns arena buffers to 16 bytes (MicroArenaBufferAlignment)
# 32-bit sizes of the two pointer-bearing per-tensor / per-node records (x86-64 sizes are measured).
EVAL_TENSOR_BYTES_32 = 12  # TfLiteEvalTensor: data pointer, dims pointer, type
NODE_AND_REGISTRATION_BYTES_32 = 32  # TfLiteNode (6 pointers + int) + registration pointer


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None


class Reference(Protocol):
    """What every desktop runtime offers."""
    name: str
    exact: bool                               # True: bit-exact with a TFLM device
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def run(self, batch: np.ndarray) -> np.ndarray: ...
    def run_all(self, batch: np.ndarray) -> list[np.ndarray]: ...
    def invoke_one(self, sample: np.ndarray) -> np.ndarray: ...


# ---------------------------------------------------------------------------------------------- helpers


def _model_bytes(model: bytes | str | Path) -> bytes:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    return read_model_bytes(model)


def _tensor_infos(graph: Graph, indices: list[int]) -> list[TensorInfo]:
    out = []
    for i in indices:
        t = graph.tensors[i]
        q = t.quantization.scalar if t.quantization is not None and not t.quantization.per_channel else None
        out.append(TensorInfo(i, t.name, t.shape, t.dtype, q[0] if q else None, q[1] if q else None))
    return out


def _check_batch(batch: np.ndarray, info: TensorInfo) -> np.ndarray:
    """A batch is (N, *input shape without its batch dim). Integer inputs are never cast silently."""
    batch = np.asarray(batch)
    sample = tuple(info.shape[1:])
    if batch.shape[1:] != sample or batch.ndim != len(info.shape):
        raise UsageError(f"input batch has shape {list(batch.shape)}; model input '{info.name}' needs "
                         f"[N, {', '.join(map(str, sample))}]")
    if batch.dtype != np.dtype(info.dtype):
        raise UsageError(f"input batch is {batch.dtype}; model input '{info.name}' is {info.dtype}",
                         hint="quantize with edgeimpro.preprocess (scale and zero point of the model input)")
    return batch


@contextlib.contextmanager
def capture_c_stderr() -> Iterator[list[str]]:
    """Capture what C code writes to file descriptor 2 (TFLM reports there); text lands in the list."""
    result: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            yield result
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            result.append(f.read().decode(errors="replace"))


def _import_tflm() -> Any:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:
        raise DependencyError(f"tflite_micro (the TFLite Micro Python interpreter) is not installed ({e})",
                              hint=TFLM_PIP) from None
    return runtime


def _align(n: int, a: int = ARENA_ALIGNMENT) -> int:
    return (n + a - 1) // a * a


def _generous_arena(graph: Graph) -> int:
    """Big enough for every activation at once (kPreserveAllTensors) plus TFLM's bookkeeping."""
    acts = sum(_align(graph.tensors[t].nbytes) for t in graph.activation_tensors())
    return acts + 2 * graph.size_bytes + 64 * 1024


def _tflm_interpreter(runtime: Any, data: bytes, arena: int, preserve: bool) -> Any:
    config = (runtime.InterpreterConfig.kPreserveAllTensors if preserve
              else runtime.InterpreterConfig.kAllocationRecording)
    attempts = 4
    for attempt in range(attempts):
        with capture_c_stderr() as err:
            try:
                return runtime.Interpreter.from_bytes(data, arena_size=arena, intrepreter_config=config)
            except RuntimeError as e:
                failure = str(e)
        text = "".join(err).strip()
        arena_short = "Failed to allocate" in text or "Failed to resize buffer" in text
        if not arena_short or attempt == attempts - 1:
            raise ModelError(f"TFLite Micro cannot prepare the model: {failure}"
                             + (f": {_first_lines(text)}" if text else ""), hint=_tflm_hint(text))
        arena *= 2                            # our first guess was short: grow, do not fail
    raise AssertionError("unreachable")


def _first_lines(text: str, n: int = 3) -> str:
    return " | ".join(line.strip() for line in text.splitlines()[:n] if line.strip())


def _tflm_hint(text: str) -> str:
    m = re.search(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'", text)
    if m:
        return f"TFLite Micro has no kernel for {m.group(1)}: `edgeimpro inspect` lists the model's ops"
    if "Hybrid models are not supported" in text:
        return "the model is hybrid (float activations, int8 weights): convert it with full-integer int8"
    return "check the model with `edgeimpro inspect model.tflite`"


# ---------------------------------------------------------------------------------------------- TFLM


class TflmReference:
    """The TFLite Micro interpreter (reference kernels): bit-exact with a TFLM device."""

    name = "tflm"
    exact = True

    def __init__(self, model: bytes | str | Path, arena_size: int | None = None) -> None:
        self._runtime = _import_tflm()
        self._data = _model_bytes(model)      # keep the bytes alive as long as the interpreter
        self.graph = load_graph(self._data)
        check_tflm_aborts(self.graph)          # parameters that would abort this process
        self.inputs = _tensor_infos(self.graph, self.graph.inputs)
        self.outputs = _tensor_infos(self.graph, self.graph.outputs)
        self.arena_size = arena_size or _generous_arena(self.graph)
        self._interp = _tflm_interpreter(self._runtime, self._data, self.arena_size, preserve=False)
        self._preserving: Any = None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Output 0 for every sample of `batch` (N, *input shape[1:]) -> (N, *output shape[1:])."""
        return self.run_all(batch)[0]

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        if len(self.inputs) != 1:
            raise UsageError(f"model has {len(self.inputs)} inputs; run() feeds one")
        batch = _check_batch(batch, self.inputs[0])
        outs: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for sample in batch:
            self._invoke(self._interp, sample)
            for k, o in enumerate(outs):
                o.append(np.array(self._interp.get_output(k)).reshape(self.outputs[k].shape[1:]))
        return [np.stack(o) if o else np.zeros((0, *info.shape[1:]), info.dtype)
                for o, info in zip(outs, self.outputs, strict=True)]

    def invoke_one(self, sample: np.ndarray) -> np.ndarray:
        """One sample of exactly input 0's shape (batch 1) and dtype; returns output 0 with its batch dim."""
        self._invoke(self._interp, sample)
        return np.array(self._interp.get_output(0)).reshape(self.outputs[0].shape)

    def intermediates(self, sample: np.ndarray) -> dict[int, np.ndarray]:
        """Every activation tensor (input, intermediates, outputs) after one inference, by tensor index.

        `sample` is one input without the batch dimension, or with a batch of 1."""
        sample = np.asarray(sample)
        if sample.shape == tuple(self.inputs[0].shape[1:]):
            sample = sample[None]
        sample = _check_batch(sample, self.inputs[0])[0]
        if self._preserving is None:
            self._preserving = _tflm_interpreter(self._runtime, self._data, _generous_arena(self.graph),
                                                 preserve=True)
        self._invoke(self._preserving, sample)
        out = {}
        for t in self.graph.activation_tensors():
            d = self._preserving.GetTensor(t, 0)
            out[t] = np.array(d["tensor_data"]).reshape(self.graph.tensors[t].shape)
        return out

    def _invoke(self, interp: Any, sample: np.ndarray) -> None:
        interp.set_input(np.ascontiguousarray(sample.reshape(self.inputs[0].shape)), 0)
        _tflm_invoke(interp)


def _tflm_invoke(interp: Any) -> None:
    """One TFLM invoke; a kernel's failure is a ModelError quoting what TFLM printed."""
    with capture_c_stderr() as err:
        try:
            interp.invoke()
        except RuntimeError as e:
            failure: RuntimeError | None = e
        else:
            failure = None
    if failure is not None:
        text = "".join(err).strip()
        raise ModelError(f"TFLite Micro failed to run the model: {failure}"
                         + (f": {_first_lines(text)}" if text else ""), hint=_tflm_hint(text))


@dataclass(frozen=True)
class AllocationSection:
    used: int
    requested: int
    count: int


@dataclass(frozen=True)
class ArenaMeasurement:
    """TFLM's RecordingMicroAllocator totals for one model on this (64-bit) host."""
    total: int                                 # bytes; the smallest arena that works is within 16 B
    head: int                                  # non-persistent: planned activations and scratch
    tail: int                                  # persistent: TFLM structs, per-op data, quantization
    sections: dict[str, AllocationSection] = field(default_factory=dict)
    report: str = ""

    @property
    def estimate_32bit(self) -> int:
        return estimate_arena_32bit(self)

    def to_dict(self) -> dict[str, Any]:
        return {"total_x86_64": self.total, "head": self.head, "tail": self.tail,
                "estimate_32bit": self.estimate_32bit,
                "sections": {k: vars(v) for k, v in self.sections.items()}}


_TOTAL_RE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_SECTION_RE = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes for (\d+)")


def parse_allocations(report: str) -> ArenaMeasurement:
    """Parse the text `Interpreter.print_allocations()` writes to stderr."""
    totals = {k: int(v) for k, v in _TOTAL_RE.findall(report)}
    if "total" not in totals:
        raise ModelError("TFLite Micro printed no arena totals", hint=f"its report was: {report[:200]!r}")
    sections = {name: AllocationSection(int(u), int(r), int(c)) for name, u, r, c in _SECTION_RE.findall(report)}
    return ArenaMeasurement(totals["total"], totals.get("head", 0), totals.get("tail", 0), sections, report)


MEASURE_TIMEOUT_S = 120.0  # a healthy measurement takes about a second; a model that hangs TFLM is refused


def measure_tflm_arena(model: bytes | str | Path, timeout: float = MEASURE_TIMEOUT_S) -> ArenaMeasurement:
    """Arena TFLM needs for `model` on this 64-bit host, as its RecordingMicroAllocator reports it.

    Measured after AllocateTensors (no inference, so no input data can make a kernel abort). The smallest
    arena that works differs from the reported total by the alignment of the arena start (< 16 B): on
    this host VWW reports 103,680 B and runs with 103,672-103,684 B depending on where malloc put it.

    It is only a measurement, and TFLM's C++ parser can crash on a corrupt file, so the interpreter runs
    in a child process: a crash or a hang there is a ModelError here, never a dead edgeimpro.
    """
    data = _model_bytes(model)
    check_tflm_aborts(load_graph(data))
    return parse_allocations(_in_child("measure-arena", data, timeout)["report"])


def check_runs_on_tflm(model: bytes | str | Path, timeout: float = MEASURE_TIMEOUT_S) -> None:
    """Run the model once (zero inputs) in the tflite_micro interpreter, in a child process as
    `measure_tflm_arena` does: ModelError quoting TFLM when it cannot prepare or invoke it."""
    _in_child("run-once", _model_bytes(model), timeout)


def _in_child(task: str, data: bytes, timeout: float) -> dict[str, Any]:
    """`task` on the model in `python -m edgeimpro.references TASK MODEL`; its JSON answer."""
    _import_tflm()                              # DependencyError, with the pip line, in this process
    with tempfile.TemporaryDirectory(prefix="eip-tflm-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(data)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")) if p))
        try:
            proc = subprocess.run(_child_command(task, path), capture_output=True, text=True, timeout=timeout,
                                  env=env)
        except subprocess.TimeoutExpired:
            raise ModelError(f"TFLite Micro did not finish with the model within {timeout:.0f} s",
                             hint="the file may be corrupt; check it with `edgeimpro inspect`") from None
    return _child_answer(proc)


def _child_command(task: str, path: Path) -> list[str]:
    return [sys.executable, "-m", "edgeimpro.references", task, str(path)]


def _child_answer(proc: subprocess.CompletedProcess) -> dict[str, Any]:
    """The child's JSON answer, or a ModelError saying how it ended."""
    if proc.returncode < 0:
        try:
            how = signal.Signals(-proc.returncode).name
        except ValueError:
            how = f"signal {-proc.returncode}"
        raise ModelError(f"TFLite Micro crashed ({how}) on the model",
                         hint="the file is corrupt or uses something TFLM cannot read; re-export it")
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise ModelError(f"TFLite Micro ended with exit code {proc.returncode} and no answer: "
                         f"{_first_lines(proc.stderr)}") from None
    if "error" in answer:
        raise ModelError(answer["error"], hint=answer.get("hint"))
    return answer


def _measure_in_this_process(path: Path) -> dict[str, Any]:
    runtime = _import_tflm()
    data = read_model_bytes(path)
    interp = _tflm_interpreter(runtime, data, _generous_arena(load_graph(data)), preserve=False)
    with capture_c_stderr() as out:
        interp.print_allocations()
    return {"report": "".join(out)}


def _run_once_in_this_process(path: Path) -> dict[str, Any]:
    runtime = _import_tflm()
    data = read_model_bytes(path)
    graph = load_graph(data)
    interp = _tflm_interpreter(runtime, data, _generous_arena(graph), preserve=False)
    for i, t in enumerate(graph.inputs):
        interp.set_input(np.zeros(graph.tensors[t].shape, np.dtype(graph.tensors[t].dtype)), i)
    _tflm_invoke(interp)
    return {"ok": True}


_CHILD_TASKS = {"measure-arena": _measure_in_this_process, "run-once": _run_once_in_this_process}


def _child_main(argv: list[str]) -> int:
    """`python -m edgeimpro.references TASK MODEL`: one JSON line on stdout."""
    if len(argv) != 2 or argv[0] not in _CHILD_TASKS:
        print(f"usage: python -m edgeimpro.references {{{','.join(_CHILD_TASKS)}}} MODEL", file=sys.stderr)
        return 2
    try:
        answer = _CHILD_TASKS[argv[0]](Path(argv[1]))
    except EdgeImproError as e:
        print(json.dumps({"error": e.message, "hint": e.hint}))
        return 1
    print(json.dumps(answer))
    return 0


def estimate_arena_32bit(m: ArenaMeasurement) -> int:
    """Arena for a 32-bit Cortex-M from the 64-bit measurement.

    TFLM's tail holds structs with pointers, which halve on a 32-bit target. Two of them have a size
    that does not depend on the kernels and are subtracted exactly: the TfLiteEvalTensor array (24 -> 12
    bytes per tensor, rounded up to the 16-byte alignment) and the NodeAndRegistration array (64 -> 32
    bytes per op). Everything else (per-op kernel data, persistent TfLiteTensors, allocator objects) is
    kept at its 64-bit size, so the estimate is an upper bound: VWW 101,632 B against 100,660 B measured
    on a Cortex-M4 (+972 B), ResNet-8 55,024 B against 54,340 B (+684 B). The head (planned activations)
    is the same on both. The result is rounded up to 16 bytes.
    """
    saving = 0
    ev = m.sections.get("TfLiteEvalTensor data")
    if ev is not None:
        saving += max(0, ev.used - _align(EVAL_TENSOR_BYTES_32 * ev.count))
    nodes = m.sections.get("NodeAndRegistration struct")
    if nodes is not None:
        saving += max(0, nodes.used - NODE_AND_REGISTRATION_BYTES_32 * nodes.count)
    return _align(m.total - saving)


# ------------------------------------------------------------------- LiteRT, tflite-runtime, tf.lite


class _InterpreterReference:
    """The TFLite interpreter API, shared by LiteRT, tflite-runtime and tf.lite (same class, same calls).
    `kernels="reference"` selects BUILTIN_REF kernels (closer to TFLM, still not exact: DESIGN.md §4)."""

    name = ""
    title = ""
    exact = False

    def __init__(self, model: bytes | str | Path, kernels: str = "default", num_threads: int | None = 1) -> None:
        interpreter_cls, resolver_type = self._import()
        if kernels not in ("default", "reference"):
            raise UsageError(f"unknown {self.title} kernels {kernels!r}", hint="use default or reference")
        data = _model_bytes(model)
        self.graph = load_graph(data)
        # the bytes must outlive the interpreter; a quirk TFLM accepts and LiteRT rejects is normalised here
        self._data, self.notes = normalise_for_litert(data, self.graph)
        for note in self.notes:
            logging.getLogger(__name__).info("%s: %s", self.title, note)
        self.inputs = _tensor_infos(self.graph, self.graph.inputs)
        self.outputs = _tensor_infos(self.graph, self.graph.outputs)
        resolver = resolver_type.BUILTIN_REF if kernels == "reference" else resolver_type.AUTO
        failure: Exception | None = None
        with capture_c_stderr() as said:        # its start-up banner ("INFO: Created ... delegate") is noise
            try:
                self._interp = interpreter_cls(model_content=self._data, num_threads=num_threads,
                                               experimental_op_resolver_type=resolver)
                self._interp.allocate_tensors()
            except (RuntimeError, ValueError) as e:
                failure = e
        other = [ln for ln in "".join(said).splitlines() if ln.strip() and not ln.startswith("INFO: ")]
        if failure is not None:
            raise ModelError(f"{self.title} cannot prepare the model: {one_report(str(failure))}") from None
        for line in other:                      # warnings and errors still reach the user, once
            logging.getLogger(__name__).warning("%s: %s", self.title, line)
        self._in = [d["index"] for d in self._interp.get_input_details()]
        self._out = [d["index"] for d in self._interp.get_output_details()]

    @staticmethod
    def _import() -> tuple[Any, Any]:
        """(Interpreter class, OpResolverType enum) of this runtime; DependencyError when absent."""
        raise NotImplementedError

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.run_all(batch)[0]

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        if len(self.inputs) != 1:
            raise UsageError(f"model has {len(self.inputs)} inputs; run() feeds one")
        batch = _check_batch(batch, self.inputs[0])
        outs: list[list[np.ndarray]] = [[] for _ in self._out]
        for sample in batch:
            self._interp.set_tensor(self._in[0], np.ascontiguousarray(sample.reshape(self.inputs[0].shape)))
            self._interp.invoke()
            for k, idx in enumerate(self._out):
                outs[k].append(self._interp.get_tensor(idx).reshape(self.outputs[k].shape[1:]).copy())
        return [np.stack(o) if o else np.zeros((0, *info.shape[1:]), info.dtype)
                for o, info in zip(outs, self.outputs, strict=True)]

    def invoke_one(self, sample: np.ndarray) -> np.ndarray:
        """The per-frame fast path: `sample` has exactly input 0's shape (batch 1) and dtype, checked by
        the runtime only; returns a copy of output 0 with its batch dimension."""
        self._interp.set_tensor(self._in[0], sample)
        self._interp.invoke()
        return self._interp.get_tensor(self._out[0])


_QUANTIZED_DIMENSION_SLOT = 16   # vtable slot of QuantizationParameters.quantized_dimension (schema field 6)


def normalise_for_litert(data: bytes, graph: Graph) -> tuple[bytes, list[str]]:
    """The model's bytes with the quirks TFLM accepts and LiteRT rejects mended, and a note per kind mended.

    A 1-D tensor (a bias) whose quantization names dimension 3, copied from its conv's weights, is fine for
    TFLM (TFLM's own person_detect.tflite has them) but LiteRT refuses it ("quantized_dimension must be in
    range [0, 1)"). Its only dimension is what it means, so the field is set to 0 in place: a present
    int32 field of a flatbuffer table is rewritten without moving anything else. The arithmetic is unchanged.
    """
    import tflite

    fixes = [t.index for t in graph.tensors
             if t.quantization is not None and len(t.shape) == 1
             and t.quantization.quantized_dimension >= 1 and t.quantization.scale.size in (1, t.shape[0])]
    if not fixes:
        return data, []
    out = bytearray(data)
    sg = tflite.Model.GetRootAsModel(data, 0).Subgraphs(0)
    for i in fixes:
        q = sg.Tensors(i).Quantization()
        slot = q._tab.Offset(_QUANTIZED_DIMENSION_SLOT)
        if slot:
            out[q._tab.Pos + slot: q._tab.Pos + slot + 4] = (0).to_bytes(4, "little")
    return bytes(out), [f"{len(fixes)} 1-D tensor(s) quantized along a dimension they do not have (a quirk TFLM "
                        "accepts) were read along their only dimension for LiteRT; the arithmetic is unchanged"]


def one_report(text: str) -> str:
    """A runtime's error text with its repeats folded: LiteRT states the same problem once per tensor."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!])\s*(?=[A-Za-z])", text) if s.strip()]
    seen: dict[str, str] = {}
    repeats = 0
    for sentence in sentences:
        kind = re.sub(r"\d+", "#", sentence)
        if kind in seen:
            repeats += 1
        else:
            seen[kind] = sentence
    folded = " ".join(seen.values())
    return folded + (f" ({repeats} repeats of these folded)" if repeats else "")


class LiteRTReference(_InterpreterReference):
    """LiteRT (`ai_edge_litert`): the fast desktop / Raspberry Pi runtime."""

    name = "litert"
    title = "LiteRT"

    @staticmethod
    def _import() -> tuple[Any, Any]:
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError as e:
            raise DependencyError(f"LiteRT (ai_edge_litert) is not installed ({e})", hint=LITERT_PIP) from None
        return Interpreter, OpResolverType


class TfliteRuntimeReference(_InterpreterReference):
    """tflite-runtime (the pre-LiteRT package, last release 2.14): needs numpy<2 and must not share a
    process with TensorFlow (DESIGN.md §5)."""

    name = "tflite-runtime"
    title = "tflite-runtime"

    @staticmethod
    def _import() -> tuple[Any, Any]:
        if sys.modules.get("tensorflow") is not None:
            raise DependencyError("tflite-runtime cannot run in a process that has imported TensorFlow",
                                  hint="use the litert or tensorflow runtime here")
        try:
            from tflite_runtime.interpreter import Interpreter, OpResolverType
        except (ImportError, AttributeError) as e:   # built for numpy 1: fails to import under numpy 2
            hint = TFLITE_RUNTIME_PIP
            if int(np.__version__.split(".")[0]) >= 2:
                hint = f"tflite-runtime needs numpy<2 (this is numpy {np.__version__}); prefer {LITERT_PIP}"
            raise DependencyError(f"tflite-runtime is not usable ({e})", hint=hint) from None
        return Interpreter, OpResolverType


class TensorFlowReference(_InterpreterReference):
    """`tf.lite.Interpreter` from a full TensorFlow install (the desktop fallback; never on the light path)."""

    name = "tensorflow"
    title = "TensorFlow Lite (tf.lite)"

    @staticmethod
    def _import() -> tuple[Any, Any]:
        if sys.modules.get("tflite_runtime") is not None:
            raise DependencyError("tf.lite cannot run in a process that has imported tflite-runtime",
                                  hint="use the litert or tflite-runtime runtime here")
        try:
            import tensorflow as tf
        except ImportError as e:
            raise DependencyError(f"TensorFlow is not installed ({e})", hint=TENSORFLOW_PIP) from None
        return tf.lite.Interpreter, tf.lite.experimental.OpResolverType


REFERENCES: dict[str, type] = {"tflm": TflmReference, "litert": LiteRTReference,
                               "tflite-runtime": TfliteRuntimeReference, "tensorflow": TensorFlowReference}


def get_reference(kind: str, model: bytes | str | Path, **options: Any) -> Reference:
    """A runtime by name: "tflm" (exact), or "litert", "tflite-runtime", "tensorflow" (fast)."""
    try:
        cls = REFERENCES[kind]
    except KeyError:
        raise UsageError(f"unknown reference runtime {kind!r}", hint="use one of: " + ", ".join(REFERENCES)) from None
    return cls(model, **options)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
