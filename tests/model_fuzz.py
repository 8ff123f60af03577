"""Seeded corrupt-model generator and judge, shared by tests/test_model_fuzz.py and bench/fuzz_models.py.

`corrupt_model(source, seed)` derives one corrupt .tflite from a good one by a structural edit of the
flatbuffer (object API of tflite_micro's schema module) or a byte-level edit (truncation, byte flips);
the same seed gives the same file. `judge(mutant, worker)` runs it through the library the way `export
--target aot` + `run --on host` do and classifies the outcome:

  rejected   a clear EdgeImproError (ModelError, UnsupportedOpError, ...) from load or code generation;
  bit_exact  accepted, compiled with poisoned dead buffers, and every output equals tflite_micro's;
  and the failures: traceback (any other exception), build_failed (generated C does not compile),
  runtime_failed (the host runner exits non-zero), wrong_output (differs from tflite_micro),
  tflm_refused (we accept what tflite_micro refuses or crashes on), hang.

tflite_micro runs in a child process (`TflmWorker`): its reader and interpreter can crash on corrupt files.
Run `python tests/model_fuzz.py --tflm-worker` is that child; it is not a user-facing command.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import traceback
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUILTIN_SWAPS = (0, 1, 3, 4, 9, 14, 17, 18, 22, 25, 39, 40, 49, 60, 97, 114, 117)  # ADD, AVERAGE_POOL_2D...
BAD_SCALES = (float("nan"), 0.0, -1.0, 1e-45, 1e30, float("inf"), -float("inf"), 1e-38)
HUGE_ZERO_POINTS = (2 ** 40, 200, -200, 128, -129, 2 ** 31 - 1, 5)
TIMEOUT_S = 60.0


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema


# ---------------------------------------------------------------------------------------------- mutations
# Each takes the model object (ModelT) and a numpy Generator, edits the model in place and returns a
# description, or None when it does not apply to this model (the generator then draws again).

Mutation = Callable[[Any, np.random.Generator], "str | None"]


def _sg(m: Any) -> Any:
    return m.subgraphs[0]


def _pick(rng: np.random.Generator, seq: Any) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _ops(m: Any) -> list[Any]:
    return list(_sg(m).operators or [])


def _bad_index(rng: np.random.Generator, n: int) -> int:
    return int(_pick(rng, (n, n + 1, n + int(rng.integers(2, 1000)), 2 ** 31 - 1, 2 ** 20)))


def _set(seq: Any, k: int, v: int) -> list[int]:
    out = [int(x) for x in seq]
    out[k] = v
    return out


def m_input_out_of_range(m: Any, rng: np.random.Generator) -> str | None:
    op = _pick(rng, _ops(m))
    k = int(rng.integers(len(op.inputs)))
    v = _bad_index(rng, len(_sg(m).tensors))
    op.inputs = _set(op.inputs, k, v)
    return f"op input {k} -> {v}"


def m_input_negative(m: Any, rng: np.random.Generator) -> str | None:
    op = _pick(rng, _ops(m))
    k = int(rng.integers(len(op.inputs)))
    v = int(_pick(rng, (-1, -2, -7, -(2 ** 31))))
    op.inputs = _set(op.inputs, k, v)
    return f"op input {k} -> {v}"


def m_output_bad_index(m: Any, rng: np.random.Generator) -> str | None:
    op = _pick(rng, _ops(m))
    n = len(_sg(m).tensors)
    v = int(_pick(rng, (-1, -2, n, n + 5, 2 ** 31 - 1)))
    op.outputs = _set(op.outputs, 0, v)
    return f"op output -> {v}"


def m_output_redirect(m: Any, rng: np.random.Generator) -> str | None:
    op = _pick(rng, _ops(m))
    v = int(rng.integers(len(_sg(m).tensors)))
    if v == op.outputs[0]:
        return None
    op.outputs = _set(op.outputs, 0, v)
    return f"op output -> tensor {v}"


def m_input_redirect(m: Any, rng: np.random.Generator) -> str | None:
    op = _pick(rng, _ops(m))
    k = int(rng.integers(len(op.inputs)))
    v = int(rng.integers(len(_sg(m).tensors)))
    if v == op.inputs[k]:
        return None
    op.inputs = _set(op.inputs, k, v)
    return f"op input {k} -> tensor {v}"


def m_model_input(m: Any, rng: np.random.Generator) -> str | None:
    n = len(_sg(m).tensors)
    v = int(_pick(rng, (int(rng.integers(n)), -1, n, n + 3)))
    _sg(m).inputs = _set(_sg(m).inputs, 0, v)
    return f"model input -> {v}"


def m_model_output(m: Any, rng: np.random.Generator) -> str | None:
    n = len(_sg(m).tensors)
    v = int(_pick(rng, (int(rng.integers(n)), int(rng.integers(n)), -1, n)))
    _sg(m).outputs = _set(_sg(m).outputs, 0, v)
    return f"model output -> {v}"


def m_opcode_index(m: Any, rng: np.random.Generator) -> str | None:
    op = _pick(rng, _ops(m))
    op.opcodeIndex = _bad_index(rng, len(m.operatorCodes))
    return f"opcode index -> {op.opcodeIndex}"


def m_opcode_swap(m: Any, rng: np.random.Generator) -> str | None:
    if rng.random() < 0.5 and len(m.operatorCodes) > 1:
        op = _pick(rng, _ops(m))
        op.opcodeIndex = int(rng.integers(len(m.operatorCodes)))
        return f"op opcode index -> {op.opcodeIndex}"
    code = _pick(rng, m.operatorCodes)
    new = int(_pick(rng, BUILTIN_SWAPS))
    code.builtinCode = new
    code.deprecatedBuiltinCode = min(new, 127)
    return f"opcode -> builtin {new}"


def m_buffer_index(m: Any, rng: np.random.Generator) -> str | None:
    t = _pick(rng, _sg(m).tensors)
    t.buffer = _bad_index(rng, len(m.buffers))
    return f"tensor buffer -> {t.buffer}"


def m_buffer_swap(m: Any, rng: np.random.Generator) -> str | None:
    t = _pick(rng, _sg(m).tensors)
    t.buffer = int(_pick(rng, (0, int(rng.integers(len(m.buffers))))))
    return f"tensor buffer -> {t.buffer}"


def _quantized(m: Any, rng: np.random.Generator, per_channel: bool = False) -> Any | None:
    ts = [t for t in _sg(m).tensors if t.quantization is not None and t.quantization.scale is not None
          and len(t.quantization.scale) > 0 and (not per_channel or len(t.quantization.scale) > 1)]
    return _pick(rng, ts) if ts else None


def m_bad_scale(m: Any, rng: np.random.Generator) -> str | None:
    t = _quantized(m, rng)
    if t is None:
        return None
    q = t.quantization
    k = int(rng.integers(len(q.scale)))
    v = float(_pick(rng, BAD_SCALES))
    q.scale = [float(x) for x in q.scale]
    q.scale[k] = v
    return f"scale[{k}] -> {v}"


def m_zero_point_length(m: Any, rng: np.random.Generator) -> str | None:
    t = _quantized(m, rng)
    if t is None:
        return None
    zp = [int(x) for x in (t.quantization.zeroPoint if t.quantization.zeroPoint is not None else [])]
    choice = int(rng.integers(3))
    t.quantization.zeroPoint = zp[:-1] if choice == 0 else zp + [0] * int(rng.integers(1, 4)) if choice == 1 else []
    return f"zero points {len(zp)} -> {len(t.quantization.zeroPoint)}"


def m_zero_point_value(m: Any, rng: np.random.Generator) -> str | None:
    t = _quantized(m, rng)
    if t is None or t.quantization.zeroPoint is None or len(t.quantization.zeroPoint) == 0:
        return None
    zp = [int(x) for x in t.quantization.zeroPoint]
    k = int(rng.integers(len(zp)))
    zp[k] = int(_pick(rng, HUGE_ZERO_POINTS))
    t.quantization.zeroPoint = zp
    return f"zero point[{k}] -> {zp[k]}"


def m_quantized_dimension(m: Any, rng: np.random.Generator) -> str | None:
    t = _quantized(m, rng, per_channel=rng.random() < 0.8)
    if t is None:
        return None
    t.quantization.quantizedDimension = int(_pick(rng, (-1, 1, 2, 3, len(t.shape), 9, 100)))
    return f"quantized dimension -> {t.quantization.quantizedDimension}"


OPTION_EDITS: dict[str, tuple[int | float, ...]] = {
    "strideH": (0, -1, 2, 1000), "strideW": (0, -2, 3), "dilationHFactor": (0, -1, 2),
    "dilationWFactor": (0, 3), "depthMultiplier": (0, -1, 2, 3), "filterHeight": (0, -3, 5),
    "filterWidth": (0, 7), "padding": (1, 0, 2, 7), "fusedActivationFunction": (1, 3, 4, 6, 9, 200),
    "axis": (-5, 1, 2, 3, 4, 9), "beta": (float("nan"), 0.0, -1.0, 1e30), "alpha": (float("nan"), 1e30, -3.0),
    "keepDims": (0, 1), "keepNumDims": (1,), "weightsFormat": (1, 5),
}


def m_bad_option(m: Any, rng: np.random.Generator) -> str | None:
    ops = [op for op in _ops(m) if op.builtinOptions is not None
           and any(hasattr(op.builtinOptions, k) for k in OPTION_EDITS)]
    if not ops:
        return None
    op = _pick(rng, ops)
    keys = [k for k in OPTION_EDITS if hasattr(op.builtinOptions, k)]
    key = _pick(rng, keys)
    v = _pick(rng, OPTION_EDITS[key])
    setattr(op.builtinOptions, key, v)
    return f"option {key} -> {v}"


def m_options_type(m: Any, rng: np.random.Generator) -> str | None:
    op = _pick(rng, _ops(m))
    other = _pick(rng, [o for o in _ops(m)])
    op.builtinOptionsType, op.builtinOptions = other.builtinOptionsType, other.builtinOptions
    if rng.random() < 0.3:
        op.builtinOptionsType, op.builtinOptions = 0, None
    return f"options -> type {op.builtinOptionsType}"


def m_shape(m: Any, rng: np.random.Generator) -> str | None:
    t = _pick(rng, [t for t in _sg(m).tensors if t.shape is not None and len(t.shape) > 0])
    shape = [int(d) for d in t.shape]
    choice = int(rng.integers(4))
    if choice == 0:
        k = int(rng.integers(len(shape)))
        shape[k] = int(_pick(rng, (0, -1, -7, shape[k] + 1, shape[k] * 2, 2 ** 31 - 1, 2 ** 20, max(1, shape[k] - 1))))
    elif choice == 1:
        shape = shape[1:]
    elif choice == 2:
        shape = [1, *shape]
    else:
        shape = list(reversed(shape))
    t.shape = shape
    return f"shape -> {shape}"


def m_dtype(m: Any, rng: np.random.Generator) -> str | None:
    t = _pick(rng, _sg(m).tensors)
    t.type = int(_pick(rng, (0, 1, 2, 3, 4, 7, 9, 10, 17, 99)))
    return f"type -> {t.type}"


def m_arity(m: Any, rng: np.random.Generator) -> str | None:
    op = _pick(rng, _ops(m))
    choice = int(rng.integers(4))
    n = len(_sg(m).tensors)
    if choice == 0 and len(op.inputs) > 0:
        op.inputs = [int(x) for x in op.inputs][:-1]
    elif choice == 1:
        op.inputs = [int(x) for x in op.inputs] + [int(rng.integers(n))]
    elif choice == 2:
        op.outputs = []
    else:
        op.outputs = [int(x) for x in op.outputs] + [int(rng.integers(n))]
    return f"arity -> {len(op.inputs)} in, {len(op.outputs)} out"


def m_duplicate_op(m: Any, rng: np.random.Generator) -> str | None:
    import copy

    ops = _ops(m)
    op = copy.deepcopy(_pick(rng, ops))
    ops.insert(int(rng.integers(len(ops) + 1)), op)
    _sg(m).operators = ops
    return "op duplicated"


def m_reorder_ops(m: Any, rng: np.random.Generator) -> str | None:
    ops = _ops(m)
    if len(ops) < 2:
        return None
    i, j = (int(x) for x in rng.choice(len(ops), 2, replace=False))
    ops[i], ops[j] = ops[j], ops[i]
    _sg(m).operators = ops
    return f"ops {i} and {j} swapped"


def m_delete_op(m: Any, rng: np.random.Generator) -> str | None:
    ops = _ops(m)
    if len(ops) < 2:
        return None
    del ops[int(rng.integers(len(ops)))]
    _sg(m).operators = ops
    return "op deleted"


def m_weight_data(m: Any, rng: np.random.Generator) -> str | None:
    """A legitimate edit (the control): other values in one int8 weight buffer."""
    int8 = 9
    used = {t.buffer for t in _sg(m).tensors if t.type == int8 and t.shape is not None and len(t.shape) >= 2}
    bufs = [b for i, b in enumerate(m.buffers) if i in used and b.data is not None and len(b.data) > 0]
    if not bufs:
        return None
    b = _pick(rng, bufs)
    data = np.array(b.data, dtype=np.uint8)
    k = rng.integers(len(data), size=max(1, len(data) // 8))
    data[k] = rng.integers(0, 256, size=len(k), dtype=np.uint8)
    b.data = data
    return f"{len(k)} weight bytes rewritten"


def m_constant_data(m: Any, rng: np.random.Generator) -> str | None:
    """Any constant buffer rewritten: weights, biases, and the shape, axis and padding tensors."""
    bufs = [b for b in m.buffers if b.data is not None and len(b.data) > 0]
    if not bufs:
        return None
    b = _pick(rng, bufs)
    data = np.array(b.data, dtype=np.uint8)
    k = rng.integers(len(data), size=int(rng.integers(1, 4)))
    data[k] = rng.integers(0, 256, size=len(k), dtype=np.uint8)
    b.data = data
    return f"{len(k)} constant bytes rewritten"


OBJECT_MUTATIONS: dict[str, Mutation] = {
    "input_out_of_range": m_input_out_of_range,
    "input_negative": m_input_negative,
    "output_bad_index": m_output_bad_index,
    "output_redirect": m_output_redirect,
    "input_redirect": m_input_redirect,
    "model_input": m_model_input,
    "model_output": m_model_output,
    "opcode_index": m_opcode_index,
    "opcode_swap": m_opcode_swap,
    "buffer_index": m_buffer_index,
    "buffer_swap": m_buffer_swap,
    "bad_scale": m_bad_scale,
    "zero_point_length": m_zero_point_length,
    "zero_point_value": m_zero_point_value,
    "quantized_dimension": m_quantized_dimension,
    "bad_option": m_bad_option,
    "options_type": m_options_type,
    "shape": m_shape,
    "dtype": m_dtype,
    "arity": m_arity,
    "duplicate_op": m_duplicate_op,
    "reorder_ops": m_reorder_ops,
    "delete_op": m_delete_op,
    "weight_data": m_weight_data,
    "constant_data": m_constant_data,
}
BYTE_MUTATIONS = ("truncate", "byte_flips")
KINDS: tuple[str, ...] = (*OBJECT_MUTATIONS, *BYTE_MUTATIONS)


@dataclass(frozen=True)
class Mutant:
    data: bytes
    kind: str
    detail: str
    seed: int


def stable_seed(*parts: object) -> int:
    """A seed from names and numbers that is the same in every process (zlib.crc32, never hash())."""
    return zlib.crc32("/".join(map(str, parts)).encode())


def _pack(model: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def corrupt_model(source: bytes, seed: int, kind: str | None = None) -> Mutant:
    """One corrupt model from `source`: the mutation `kind` (drawn from KINDS by the seed when None)."""
    rng = np.random.default_rng(seed)
    for _ in range(50):
        k = kind or _pick(rng, KINDS)
        if k == "truncate":
            n = int(rng.integers(8, len(source)))
            return Mutant(source[:n], k, f"first {n} of {len(source)} bytes", seed)
        if k == "byte_flips":
            data = bytearray(source)
            where = rng.integers(8, len(data), size=int(rng.integers(1, 9)))
            for w in where:
                data[int(w)] ^= int(rng.integers(1, 256))
            return Mutant(bytes(data), k, f"bytes {sorted(int(w) for w in where)} flipped", seed)
        schema = _schema()
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(source, 0))
        detail = OBJECT_MUTATIONS[k](model, rng)
        if detail is None:
            continue
        try:
            return Mutant(_pack(model), k, detail, seed)
        except (struct.error, OverflowError, TypeError, ValueError):  # a value the schema cannot encode
            continue
    raise RuntimeError(f"no mutation applies to this model (seed {seed}, kind {kind})")


# ---------------------------------------------------------------------------------------------- tflite_micro child


class TflmWorker:
    """tflite_micro in a child process: run(model, inputs) -> ("ok", outputs) | ("error", text) |
    ("crash", text) | ("hang", text). A crash or hang restarts the child for the next call."""

    def __init__(self, timeout: float = TIMEOUT_S) -> None:
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--tflm-worker"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, cwd=ROOT)
        return self._proc

    def run(self, model: bytes, inputs: list[np.ndarray]) -> tuple[str, Any]:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        msg = pickle.dumps((model, inputs))
        try:
            proc.stdin.write(struct.pack("<Q", len(msg)) + msg)
            proc.stdin.flush()
            head = self._read(proc, 8)
            reply = pickle.loads(self._read(proc, struct.unpack("<Q", head)[0]))
        except TimeoutError:
            self.close()
            return "hang", f"no answer in {self.timeout:.0f} s"
        except (EOFError, BrokenPipeError, OSError):
            code = proc.wait()
            self._proc = None
            name = signal.Signals(-code).name if code < 0 else f"exit {code}"
            return "crash", name
        return reply

    def _read(self, proc: subprocess.Popen[bytes], n: int) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        out = b""
        while len(out) < n:
            ready, _, _ = select.select([fd], [], [], self.timeout)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return out

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


def _worker_main() -> None:
    """The child: read (model, inputs) requests on stdin, answer on the original stdout; C-level prints
    from TFLM go to stderr so they cannot corrupt the answers."""
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    from tflite_micro.python.tflite_micro import runtime

    def read(n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = os.read(0, n - len(out))
            if not chunk:
                sys.exit(0)
            out += chunk
        return out

    while True:
        model, inputs = pickle.loads(read(struct.unpack("<Q", read(8))[0]))
        try:
            interp = runtime.Interpreter.from_bytes(model, arena_size=max(8 << 20, 4 * len(model)))
            outs: list[list[np.ndarray]] = []
            for s in range(inputs[0].shape[0]):
                for i, x in enumerate(inputs):
                    interp.set_input(np.ascontiguousarray(x[s]), i)
                interp.invoke()
                outs.append([np.array(interp.get_output(k)).copy() for k in range(_output_count(interp))])
            reply: tuple[str, Any] = ("ok", [np.stack([o[k] for o in outs]) for k in range(len(outs[0]))])
        except Exception as e:  # tflite_micro's reader raises struct.error, RuntimeError, ... on bad files
            reply = ("error", f"{type(e).__name__}: {e}")
        msg = pickle.dumps(reply)
        os.write(reply_fd, struct.pack("<Q", len(msg)) + msg)


def _output_count(interp: Any) -> int:
    n = 0
    while True:
        try:
            interp.get_output_details(n)
        except Exception:
            return n
        n += 1


# ---------------------------------------------------------------------------------------------- judge


@dataclass
class Verdict:
    outcome: str                       # rejected | bit_exact | traceback | build_failed | runtime_failed |
    detail: str = ""                   # wrong_output | tflm_refused | hang
    error_kind: str = ""               # rejected: the edgeimpro function that raised (check_dataflow, ...)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome in ("rejected", "bit_exact")


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """SIGALRM-based timeout for in-process work (main thread only)."""
    def fire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"more than {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _raiser(e: BaseException) -> str:
    """The innermost edgeimpro function in the traceback: which check refused the model."""
    name = "?"
    for frame, _ in traceback.walk_tb(e.__traceback__):
        if "edgeimpro" in frame.f_code.co_filename:
            name = frame.f_code.co_name
    return name


def inputs_for_graph(graph: Any, n: int, seed: int) -> list[np.ndarray]:
    """n int8 samples per model input, full shape: all -128, all 127, then random."""
    rng = np.random.default_rng(seed)
    out = []
    for t in graph.input_tensors:
        x = rng.integers(-128, 128, size=(n, *t.shape), dtype=np.int8)
        x[0] = -128
        if n > 1:
            x[1] = 127
        out.append(x)
    return out


def judge(mutant: Mutant, worker: TflmWorker, samples: int = 4, opt: str = "-O1",
          sanitize: bool = False) -> Verdict:
    """Load, generate, compile (poisoned dead buffers) and run one corrupt model; compare with tflite_micro."""
    from edgeimpro.codegen.aot import generate_aot
    from edgeimpro.codegen.hostbuild import compile_host, run_host
    from edgeimpro.errors import EdgeImproError
    from edgeimpro.graph import load_graph

    try:
        with _deadline(TIMEOUT_S):
            graph = load_graph(mutant.data)
            result = generate_aot(graph, "model")
    except EdgeImproError as e:
        return Verdict("rejected", str(e).splitlines()[0], _raiser(e))
    except TimeoutError as e:
        return Verdict("hang", f"load/generate: {e}")
    except Exception as e:
        return Verdict("traceback", "".join(traceback.format_exception(e))[-3000:])
    with tempfile.TemporaryDirectory(prefix="fuzz-aot-") as td:
        for name, text in result.files.items():
            (Path(td) / name).write_text(text)
        try:
            build = compile_host(Path(td), poison=True, opt=opt, sanitize=sanitize)
        except EdgeImproError as e:
            return Verdict("build_failed", str(e)[:3000])
    x = inputs_for_graph(graph, samples, mutant.seed)
    try:
        outs, _ = run_host(build, x, [t.shape for t in graph.output_tensors])
    except EdgeImproError as e:
        return Verdict("runtime_failed", str(e)[:2000])
    status, ref = worker.run(mutant.data, x)
    if status != "ok":
        return Verdict("tflm_refused", f"{status}: {str(ref)[:500]}")
    if len(ref) != len(outs):
        return Verdict("wrong_output", f"{len(outs)} outputs, tflite_micro has {len(ref)}")
    for k, (got, want) in enumerate(zip(outs, ref, strict=True)):
        if got.size != want.size or not np.array_equal(got.reshape(-1), want.reshape(-1)):
            diff = (int(np.abs(got.astype(int).reshape(-1) - want.astype(int).reshape(-1)).max())
                    if got.size == want.size else -1)
            return Verdict("wrong_output", f"output {k} differs from tflite_micro (max {diff} steps)")
    return Verdict("bit_exact")


def judge_cli(model: Path, verb: str, work: Path, timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    """Run `edgeimpro VERB` on a corrupt model in a subprocess: (acceptable, what happened). Acceptable is
    exit 0, or a non-zero exit whose stderr is a one-line `error:` message (plus its hint) without a
    Python traceback, no death by a signal and no hang."""
    exe = [sys.executable, "-m", "edgeimpro.cli.main"] if not (ROOT / ".venv/bin/edgeimpro").exists() \
        else [str(ROOT / ".venv/bin/edgeimpro")]
    args = {"inspect": ["inspect", str(model)],
            "export": ["export", str(model), "--target", "aot", "-o", str(work / "export")],
            "run": ["run", str(model), "--on", "host", "--inputs", str(work / "x.npy"),
                    "-o", str(work / "out.npz")]}[verb]
    try:
        r = subprocess.run(exe + args, capture_output=True, text=True, timeout=timeout, cwd=work)
    except subprocess.TimeoutExpired:
        return False, f"{verb}: hang (> {timeout:.0f} s)"
    if r.returncode == 0:
        return True, f"{verb}: exit 0"
    if r.returncode < 0:
        return False, f"{verb}: killed by {signal.Signals(-r.returncode).name}"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    if "Traceback" in r.stderr or len(errors) != 1:
        return False, f"{verb}: exit {r.returncode} without one clear error line:\n{r.stderr[-2000:]}"
    return True, f"{verb}: exit {r.returncode}: {errors[0]}"


if __name__ == "__main__" and "--tflm-worker" in sys.argv:
    _worker_main()
