"""`run`: push a batch of raw int8 input tensors through the AOT runtime: host build, emulated board or a board.

Inputs: `X.npy` shaped (N, *shape) for a one-input model, or `.npz` with `input_0`, `input_1`, ...;
shape is the tensor's shape without its leading batch dimension of 1 (the full shape is accepted too).
Outputs: a dict `output_0`, ... shaped (N, *shape) the same way.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.errors import DataError, UsageError
from edgeimpro.graph.loader import load_graph
from edgeimpro.graph.model import Graph, Tensor


@dataclass
class RunResult:
    outputs: dict[str, np.ndarray]
    summary: dict[str, Any] = field(default_factory=dict)


def sample_shape(t: Tensor) -> tuple[int, ...]:
    """A tensor's shape without its leading batch dimension of 1."""
    return tuple(t.shape[1:]) if len(t.shape) > 1 and t.shape[0] == 1 else tuple(t.shape)


def load_inputs(path: Path, graph: Graph) -> list[np.ndarray]:
    """Read X.npy / X.npz and check every array against the model's inputs; returns (N, *full shape) int8."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"inputs file not found: {path}", hint="give a .npy (N, *input shape) or .npz with input_0...")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"cannot read {path} as a NumPy .npy/.npz file: {e}") from None
    if isinstance(loaded, np.ndarray):
        if len(graph.inputs) != 1:
            raise DataError(f"the model has {len(graph.inputs)} inputs; a .npy holds one",
                            hint="give an .npz with arrays input_0, input_1, ...")
        arrays = [loaded]
    else:
        names = [f"input_{i}" for i in range(len(graph.inputs))]
        missing = [n for n in names if n not in loaded.files]
        if missing:
            raise DataError(f"{path} lacks {', '.join(missing)} (it has {', '.join(loaded.files) or 'nothing'})",
                            hint="name the arrays input_0, input_1, ... in model input order")
        arrays = [loaded[n] for n in names]
    out = []
    count = None
    for i, (x, t) in enumerate(zip(arrays, graph.input_tensors, strict=True)):
        if x.dtype != np.int8:
            raise DataError(f"input_{i} has dtype {x.dtype}; the model takes int8",
                            hint=f"quantize with the input's scale {t.quantization.scalar[0]:.6g} and zero point "
                                 f"{t.quantization.scalar[1]} first (q = round(x / scale) + zero_point)"
                            if t.quantization else None)
        if tuple(x.shape[1:]) == tuple(t.shape):
            full = x
        elif tuple(x.shape[1:]) == sample_shape(t):
            full = x.reshape(x.shape[0], *t.shape)
        else:
            raise DataError(f"input_{i} has shape {list(x.shape)}; the model wants (N, "
                            f"{', '.join(map(str, sample_shape(t)))})",
                            hint="stack N samples along the first axis")
        if count is not None and full.shape[0] != count:
            raise DataError(f"inputs disagree on N: {count} vs {full.shape[0]}")
        count = full.shape[0]
        out.append(np.ascontiguousarray(full))
    return out


def run_host(model_path: Path, inputs: list[np.ndarray], sanitize: bool = False) -> RunResult:
    """Export the model to AOT C, build it with the host compiler (cached) and run the batch."""
    from edgeimpro.codegen.aot import generate_aot
    from edgeimpro.codegen.hostbuild import compile_host
    from edgeimpro.codegen.hostbuild import run_host as run_build

    graph = load_graph(model_path)
    result = generate_aot(graph, "model", source=Path(model_path).name)
    with tempfile.TemporaryDirectory(prefix="edgeimpro-aot-") as td:
        for name, text in result.files.items():
            (Path(td) / name).write_text(text)
        build = compile_host(Path(td), sanitize=sanitize)
    t0 = time.perf_counter()
    outs, _ = run_build(build, inputs, [t.shape for t in graph.output_tensors])
    elapsed = time.perf_counter() - t0
    n = int(inputs[0].shape[0])
    outputs = {f"output_{j}": o.reshape(n, *sample_shape(t))
               for j, (o, t) in enumerate(zip(outs, graph.output_tensors, strict=True))}
    return RunResult(outputs, {
        "on": "host", "samples": n, "model_sha256": graph.sha256,
        "arena_bytes": result.arena_bytes, "weights_bytes": result.weights_bytes,
        "seconds": round(elapsed, 4),
    })


def run_on_device(model_path: Path, inputs: list[np.ndarray], *, board: str | None = None,
                  port: str | None = None, progress: Callable[[int, int], None] | None = None,
                  baudrate: int | None = None) -> RunResult:
    """Run the batch on firmware holding the model: `board` emulated in QEMU (firmware built on demand and
    cached), or the real board on `port` (it must already run firmware for this model)."""
    from edgeimpro.targets import open_target

    graph = load_graph(model_path)
    n = int(inputs[0].shape[0])
    outs: list[list[np.ndarray]] = [[] for _ in graph.outputs]
    counts: list[int | None] = []
    kind = None
    t0 = time.perf_counter()
    with open_target(model_path, port=port, emulate=board, baudrate=baudrate) as dev:
        info = dev.info()
        before = dev.stats.copy()
        for s in range(n):
            r = dev.infer([x[s] for x in inputs])
            for j, o in enumerate(r.outputs):
                outs[j].append(np.asarray(o, dtype=np.int8).reshape(sample_shape(graph.output_tensors[j])))
            counts.append(r.count)
            kind = r.count_kind.name.lower()
            if progress:
                progress(s + 1, n)
        link = dev.stats.since(before)
    elapsed = time.perf_counter() - t0
    known = [c for c in counts if c is not None]
    summary: dict[str, Any] = {
        "on": board or port, "samples": n, "model_sha256": graph.sha256,
        "board": info.board, "core": info.core, "clock_hz": info.clock_hz,
        "arena_bytes": info.arena_bytes, "weights_bytes": info.weights_bytes,
        "count_kind": kind,                                # "instructions" (QEMU -icount) or "cycles"
        "per_inference": known,
        "median_per_inference": int(np.median(known)) if known else None,
        "seconds": round(elapsed, 3),
        "link": {"bytes_sent": link.bytes_sent, "bytes_received": link.bytes_received,
                 "retries": link.retries, "corrupt_frames": link.corrupt_frames},
    }
    if kind == "cycles" and known and info.clock_hz:
        summary["median_ms"] = round(1000 * float(np.median(known)) / info.clock_hz, 3)
    outputs = {f"output_{j}": np.stack(o) for j, o in enumerate(outs)}
    return RunResult(outputs, summary)


def run_model(model_path: Path, inputs_path: Path, on: str = "host", port: str | None = None,
              progress: Callable[[int, int], None] | None = None, baudrate: int | None = None) -> RunResult:
    """`edgeimpro run`: --on host | BOARD (emulated), or --port URL (a real board)."""
    graph = load_graph(model_path)
    inputs = load_inputs(inputs_path, graph)
    if port is not None:
        return run_on_device(model_path, inputs, port=port, progress=progress, baudrate=baudrate)
    if on == "host":
        return run_host(model_path, inputs)
    from edgeimpro.boards.registry import get_board

    board = get_board(on)
    if board.qemu_machine is None:
        raise UsageError(f"board {on} cannot be emulated",
                         hint=f"flash it (edgeimpro build --board {on} --model MODEL -o BUILD; edgeimpro flash "
                              f"--board {on} BUILD/firmware.elf), then run with --port /dev/ttyACM0")
    return run_on_device(model_path, inputs, board=on, progress=progress)
