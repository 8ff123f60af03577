"""Helpers shared by the AOT tests: inputs with the int8 extremes, host builds, the bit-exact check."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgeimpro.codegen.aot import generate_aot
from edgeimpro.codegen.hostbuild import compile_host, run_host
from edgeimpro.graph import load_graph
from edgeimpro.references import TflmReference

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


def inputs_for(graph, n: int, seed: int) -> np.ndarray:
    """n int8 inputs shaped (n, *input shape without batch): the extremes (all -128, all 127, all zero
    point, a ramp), then random."""
    t = graph.input_tensors[0]
    shape = t.shape[1:]
    zp = t.quantization.scalar[1]
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(n, *shape), dtype=np.int8)
    x[0] = -128
    x[1] = 127
    x[2] = zp
    x[3] = (np.arange(t.size) % 256 - 128).astype(np.int8).reshape(shape)
    return x


def host_outputs(exe, graph, x: np.ndarray, want_layers: bool = False):
    full = x.reshape(x.shape[0], *graph.input_tensors[0].shape)
    return run_host(exe, [full], [t.shape for t in graph.output_tensors], want_layers=want_layers)


def build(graph, fuse: str = "auto", patches: str | int = "off", **kw):
    result = generate_aot(graph, "model", fuse=fuse, patches=patches)
    d = Path(tempfile.mkdtemp(prefix="aot-test-"))
    for name, text in result.files.items():
        (d / name).write_text(text)
    return result, compile_host(d, **kw)


def assert_bit_exact(model: Path, n: int, seed: int = 0, layers_for: int = 2, extra: np.ndarray | None = None,
                     **kw) -> None:
    """n inputs (extremes, then random; `extra` real samples replace the last ones) through the host build
    with poisoned dead buffers: outputs, and every layer of the first samples, equal tflite_micro's."""
    graph = load_graph(model)
    result, exe = build(graph, layer_hook=True, poison=True, **kw)
    x = inputs_for(graph, n, seed)
    if extra is not None:
        x[n - len(extra):] = extra
    outs, layers = host_outputs(exe, graph, x, want_layers=True)
    ref = TflmReference(model)
    expected = ref.run(x)
    got = outs[0].reshape(expected.shape)
    bad = [i for i in range(n) if not np.array_equal(got[i], expected[i])]
    assert not bad, f"{len(bad)}/{n} outputs differ from tflite_micro (first: sample {bad[0]})"
    # Every layer, not only the output, for the first samples.
    for s in range(layers_for):
        inter = ref.intermediates(x[s])
        fused = {k for chain in result.plan.pipelines for k in chain[:-1]}   # no whole output of their own
        for op in graph.ops:
            want = inter[op.outputs[0]].reshape(-1)
            if op.index in fused:
                assert layers[s][op.index].size == 0, f"fused layer {op.index} dumped bytes"
                continue
            assert np.array_equal(layers[s][op.index], want), f"sample {s} layer {op.index} {op.opcode} differs"
