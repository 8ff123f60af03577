"""A conv or depthwise fused with the pool after it (codegen/fusion.py): the pre-pool tensor never exists whole.

- The band arithmetic against brute force: every pool window's conv rows lie in its band, every conv row's
  input rows in the band's, and the narrowed params address the same input rows as the whole layer.
- Small int8 models with every kind of pool after a conv or depthwise (max, average, 2x2 and 3x3 windows,
  strides 1 and 2, SAME and VALID, odd sizes, dilation, depth multiplier 2): the generator fuses them, and
  the host build (poisoned dead buffers) equals tflite_micro, output and every unfused layer.
- The same bands as kernel calls on every kernel set (kernel_suite.py): each band's conv call on its input
  rows equals tflite_micro's conv rows, each band's pool call equals tflite_micro's pool rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from aot_harness import assert_bit_exact
from conftest import cached
from kernel_harness import Tflm, compare, input_sets, node_call
from kernel_suite import KernelCall

from edgeimpro import ops
from edgeimpro.boards.build import CROSS
from edgeimpro.codegen import fusion
from edgeimpro.codegen.aot import generate_aot, plan_layers
from edgeimpro.graph import load_graph
from edgeimpro.ops.conv2d import Conv2DParams
from edgeimpro.ops.pool2d import Pool2DParams

# (input h, w, c), conv: ("conv", filters, kernel, stride, padding, dilation) or ("dw", multiplier, kernel,
# stride, padding), pool: (max?, size, stride, padding)
CASES = {
    "conv3-max2s2-valid": ((17, 15, 3), ("conv", 24, 3, 1, "same", 1), (True, 2, 2, "valid")),
    "conv3-avg3s2-same": ((16, 13, 2), ("conv", 20, 3, 1, "same", 1), (False, 3, 2, "same")),
    "conv3s2-max3s1-same": ((23, 18, 3), ("conv", 16, 3, 2, "valid", 1), (True, 3, 1, "same")),
    "conv5d2-max2s1-valid": ((15, 15, 1), ("conv", 12, 3, 1, "same", 2), (True, 2, 1, "valid")),
    "dw3m2-avg2s2-same": ((13, 11, 6), ("dw", 2, 3, 1, "same"), (False, 2, 2, "same")),
    "dw3s2-max3s2-valid": ((21, 20, 8), ("dw", 1, 3, 2, "same"), (True, 3, 2, "valid")),
}


def _build(out: Path) -> None:
    import keras
    from random_models import _convert

    for name, (shape, conv, pool) in CASES.items():
        keras.utils.set_random_seed(len(name))
        inp = keras.Input(shape, batch_size=1)
        if conv[0] == "conv":
            _, filters, k, stride, padding, dilation = conv
            x = keras.layers.Conv2D(filters, k, strides=stride, padding=padding, dilation_rate=dilation,
                                    activation="relu")(inp)
        else:
            _, mult, k, stride, padding = conv
            x = keras.layers.DepthwiseConv2D(k, strides=stride, padding=padding, depth_multiplier=mult,
                                             activation="relu6")(inp)
        is_max, size, stride, padding = pool
        cls = keras.layers.MaxPooling2D if is_max else keras.layers.AveragePooling2D
        x = cls(size, strides=stride, padding=padding)(x)
        x = keras.layers.Conv2D(4, 1)(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(3)(x)
        (out / f"{name}.tflite").write_bytes(_convert(keras.Model(inp, x), [-1.0, 1.0], len(name)))


def model(name: str) -> Path:
    pytest.importorskip("tensorflow")
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
    return cached(f"fusion-models-{digest}", _build) / f"{name}.tflite"


def _fusions(graph, fuse: str = "all") -> list[fusion.Fusion]:
    plan, params = plan_layers(graph, fuse=fuse)
    return [fusion.Fusion(k, j, params[k], params[j]) for j, k in sorted(plan.fused.items())]


# ---------------------------------------------------------------------------------------------------------


def _random_pair(rng: np.random.Generator) -> fusion.Fusion:
    h, w = int(rng.integers(1, 30)), int(rng.integers(1, 9))
    k, s, d = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
    eff = (k - 1) * d + 1
    pad = int(rng.integers(0, eff))
    ch = (h + 2 * pad - eff) // s + 1
    pk, ps = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    ppad = int(rng.integers(0, pk))
    ph = (ch + 2 * ppad - pk) // ps + 1 if ch > 0 else 0
    if ch <= 0 or ph <= 0:
        return _random_pair(rng)
    conv = Conv2DParams(batches=1, in_h=h, in_w=w, in_c=2, out_h=ch, out_w=w, out_c=3, filter_h=k, filter_w=1,
                        filter_c=2, stride_h=s, stride_w=1, dilation_h=d, dilation_w=1, pad_top=pad, pad_left=0,
                        in_zp=0, out_zp=0, act_min=-128, act_max=127, requant=0, scratch=0, multiplier=(1,) * 3,
                        shift=(0,) * 3, folded_bias=())
    pool = Pool2DParams(batches=1, in_h=ch, in_w=w, channels=3, out_h=ph, out_w=w, filter_h=pk, filter_w=1,
                        stride_h=ps, stride_w=1, pad_top=ppad, pad_left=0, act_min=-128, act_max=127)
    return fusion.Fusion(0, 1, conv, pool, rows=int(rng.integers(1, 4)))


def test_bands_cover_every_window_and_narrow_the_params_exactly() -> None:
    rng = np.random.default_rng(5)
    for _ in range(400):
        f = _random_pair(rng)
        c, p = f.conv_params, f.pool_params
        bands = f.bands()
        assert [b.pool_rows for b in bands] == [(p0, min(p0 + f.rows, p.out_h)) for p0 in range(0, p.out_h, f.rows)]
        for b in bands:
            (p0, p1), (c0, c1), (i0, i1) = b.pool_rows, b.conv_rows, b.in_rows
            for r in range(p0, p1):   # the window of pool row r, clipped to the conv rows, lies in the band
                top = r * p.stride_h - p.pad_top
                rows = [y for y in range(top, top + p.filter_h) if 0 <= y < c.out_h]
                assert rows and c0 <= min(rows) and max(rows) < c1
                assert top - c0 == -b.pool_pad_top + (r - p0) * p.stride_h   # the band's pool addresses it
            for y in range(c0, c1):   # the taps of conv row y inside the image lie in the band's input rows
                top = y * c.stride_h - c.pad_top
                taps = [t for t in range(top, top + (c.filter_h - 1) * c.dilation_h + 1, c.dilation_h)
                        if 0 <= t < c.in_h]
                assert not taps or (i0 <= min(taps) and max(taps) < i1)
                assert top - i0 == -b.conv_pad_top + (y - c0) * c.stride_h   # the band's conv addresses it
        # the streaming contract: every band's first input row, no later band starts before it
        s = f.stream()
        assert s.clobbered_read(s.min_lag()) is None
        assert all(a.in_rows[0] <= b.in_rows[0] for a, b in zip(bands, bands[1:], strict=False))


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_model_bit_exact_on_the_host(name: str) -> None:
    path = model(name)
    graph = load_graph(path)
    fused = _fusions(graph)
    assert [(graph.ops[f.conv].opcode, graph.ops[f.pool].opcode) for f in fused] == [
        ("CONV_2D" if CASES[name][1][0] == "conv" else "DEPTHWISE_CONV_2D",
         "MAX_POOL_2D" if CASES[name][2][0] else "AVERAGE_POOL_2D")]
    result = generate_aot(graph, fuse="all")
    assert graph.ops[fused[0].conv].outputs[0] not in result.plan.offsets   # the pre-pool tensor has no bytes
    assert "fused" in result.files["model.c"]
    assert_bit_exact(path, n=6, layers_for=2, fuse="all")
    assert_bit_exact(path, n=4, layers_for=1, sanitize=True, opt="-O1", fuse="all")
    # where it lowers the arena, the generator fuses by itself
    if _fusions(graph, "auto"):
        assert generate_aot(graph).arena_bytes < generate_aot(graph, fuse="off").arena_bytes


def band_calls() -> tuple[list[KernelCall], list[np.ndarray]]:
    """Every band of every case as the two kernel calls the fused code makes, with tflite_micro's rows."""
    calls, expected = [], []
    for name in sorted(CASES):
        data = model(name).read_bytes()
        graph = load_graph(data)
        tflm = Tflm(data)
        wanted = sorted({t for o in graph.ops for t in o.inputs + o.outputs if t >= 0 and not graph.tensors[t].is_constant})
        for set_name, inputs in input_sets(graph, seed=1)[:3]:
            values = tflm.run(inputs, wanted)
            for f in _fusions(graph):
                conv_op, pool_op = graph.ops[f.conv], graph.ops[f.pool]
                whole = node_call(graph, conv_op, values)
                x = values[conv_op.inputs[0]]
                y = values[conv_op.outputs[0]]
                z = values[pool_op.outputs[0]]
                for b in f.bands():
                    (p0, p1), (c0, c1), (i0, i1) = b.pool_rows, b.conv_rows, b.in_rows
                    cp = dataclasses.replace(whole.params, in_h=i1 - i0, pad_top=b.conv_pad_top, out_h=c1 - c0)
                    rows = y[:, c0:c1]
                    calls.append(dataclasses.replace(
                        whole, params=cp, inputs=[np.ascontiguousarray(x[:, i0:i1]), *whole.inputs[1:]],
                        output_nbytes=rows.nbytes, label=f"{name} {set_name} conv rows {c0}..{c1}"))
                    expected.append(rows)
                    pp = dataclasses.replace(ops.op_params(graph, pool_op), in_h=c1 - c0, pad_top=b.pool_pad_top,
                                             out_h=p1 - p0)
                    out = z[:, p0:p1]
                    calls.append(KernelCall(ops.kernel_name(pool_op.opcode), pp, [np.ascontiguousarray(rows)],
                                            out.nbytes, f"{name} {set_name} pool rows {p0}..{p1}"))
                    expected.append(out)
    return calls, expected


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which(CROSS + "gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)")
def test_band_calls_equal_tflm_on_every_kernel_set() -> None:
    from test_kernel_sets import SETS

    calls, expected = band_calls()
    assert len(calls) > 100
    for kernel_set in SETS:
        problems = compare(calls, expected, kernel_set.run(calls))
        assert not problems, f"{kernel_set.label}: {len(problems)}/{len(calls)} differ:\n" + "\n".join(problems[:10])
