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

from edgeimpro.boards.build import CROSS
from edgeimpro.codegen import fusion
from edgeimpro.codegen.aot import generate_aot, plan_layers, plan_pipelines
from edgeimpro.graph import load_graph
from edgeimpro.ops.conv2d import Conv2DParams
from edgeimpro.ops.depthwise_conv2d import DepthwiseConv2DParams
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


def _fusions(graph, fuse: str = "all") -> list[fusion.Pipeline]:
    plan, params = plan_layers(graph, fuse=fuse)
    return plan_pipelines(graph, plan, params)


# ---------------------------------------------------------------------------------------------------------


def _random_pipeline(rng: np.random.Generator) -> fusion.Pipeline:
    """A chain of 1-4 random windows along H (conv, depthwise or pool geometry), in bands of 1-4 rows."""
    layers, h = [], int(rng.integers(6, 40))
    for k in range(int(rng.integers(1, 5))):
        kind = int(rng.integers(3))   # conv, depthwise, pool (no dilation)
        f, s, d = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 3)) if kind < 2 else 1
        eff = (f - 1) * d + 1
        pad = int(rng.integers(0, eff))
        out = (h + 2 * pad - eff) // s + 1
        if out <= 0:
            break
        common = dict(batches=1, in_h=h, in_w=3, out_h=out, out_w=3, filter_h=f, filter_w=1, stride_h=s, stride_w=1,
                      pad_top=pad, pad_left=0, act_min=-128, act_max=127)
        if kind == 0:
            p = Conv2DParams(in_c=2, out_c=3, filter_c=2, dilation_h=d, dilation_w=1, in_zp=0, out_zp=0, requant=0,
                             scratch=0, multiplier=(1,) * 3, shift=(0,) * 3, folded_bias=(), **common)
        elif kind == 1:
            p = DepthwiseConv2DParams(in_c=3, out_c=3, depth_multiplier=1, dilation_h=d, dilation_w=1, in_zp=0,
                                      out_zp=0, requant=0, scratch=0, strip_blocks=0, multiplier=(1,) * 3,
                                      shift=(0,) * 3, **common)
        else:
            p = Pool2DParams(channels=3, **common)
        layers.append(fusion.Layer(k, p))
        h = out
    if not layers:
        return _random_pipeline(rng)
    return fusion.Pipeline(tuple(layers), rows=int(rng.integers(1, 5)))


def test_bands_cover_every_window_and_narrow_the_params_exactly() -> None:
    """Brute force: in every band, each layer's output rows are exactly the rows the next layer reads, every
    tap inside the image of every output row lies in the layer's input rows, and the band's pad_top
    addresses the same input rows as the whole layer."""
    rng = np.random.default_rng(5)
    for _ in range(400):
        pipe = _random_pipeline(rng)
        last = pipe.layers[-1].params
        bands = pipe.bands()
        assert [b[-1].out_rows for b in bands] == [(a, min(a + pipe.rows, last.out_h))
                                                  for a in range(0, last.out_h, pipe.rows)]
        for band in bands:
            for i, (layer, bd) in enumerate(zip(pipe.layers, band, strict=True)):
                p = layer.params
                if i > 0:
                    assert band[i - 1].out_rows == bd.in_rows   # the previous layer computes what this one reads
                (i0, i1), (a, b) = bd.in_rows, bd.out_rows
                for y in range(a, b):
                    top = y * p.stride_h - p.pad_top
                    taps = [t for t in range(top, top + layer.span, getattr(p, "dilation_h", 1)) if 0 <= t < p.in_h]
                    assert not taps or (i0 <= min(taps) and max(taps) < i1)
                    assert top - i0 == -bd.pad_top + (y - a) * p.stride_h
        s = pipe.stream()
        assert s.clobbered_read(s.min_lag()) is None
        assert all(x[0].in_rows[0] <= y[0].in_rows[0] for x, y in zip(bands, bands[1:], strict=False))


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_model_bit_exact_on_the_host(name: str) -> None:
    path = model(name)
    graph = load_graph(path)
    fused = _fusions(graph)
    assert [tuple(graph.ops[k].opcode for k in f.ops) for f in fused] == [
        ("CONV_2D" if CASES[name][1][0] == "conv" else "DEPTHWISE_CONV_2D",
         "MAX_POOL_2D" if CASES[name][2][0] else "AVERAGE_POOL_2D")]
    result = generate_aot(graph, fuse="all")
    assert graph.ops[fused[0].first].outputs[0] not in result.plan.offsets   # the pre-pool tensor has no bytes
    assert "fused" in result.files["model.c"]
    assert_bit_exact(path, n=6, layers_for=2, fuse="all")
    assert_bit_exact(path, n=4, layers_for=1, sanitize=True, opt="-O1", fuse="all")
    # where it lowers the arena, the generator fuses by itself
    if _fusions(graph, "auto"):
        assert generate_aot(graph).arena_bytes < generate_aot(graph, fuse="off").arena_bytes


@pytest.mark.parametrize("name", sorted(CASES)[:3])
@pytest.mark.parametrize("patches", [2, 3, 1 << 15])
def test_patched_first_stage_bit_exact_on_the_host(name: str, patches: int) -> None:
    """The first stage (the conv and its pool, maybe the 1x1 conv after them: whichever plans smallest) in 2
    or 3 bands, or one row each."""
    path = model(name)
    graph = load_graph(path)
    result = generate_aot(graph, patches=patches)
    plan, params = plan_layers(graph, patches=patches)
    stage = [p for p in plan_pipelines(graph, plan, params) if p.patches]
    assert len(stage) == 1 and stage[0].ops[0] == 0 and len(stage[0].ops) >= 2
    assert result.arena_bytes == plan.arena_bytes
    last_rows = graph.tensors[graph.ops[stage[0].last].outputs[0]].shape[1]
    assert len(stage[0].bands()) == min(patches, last_rows)
    assert "patches" in result.files["model.c"]
    assert_bit_exact(path, n=4, layers_for=1, patches=patches)


def test_patched_mlperf_models_bit_exact_on_the_host() -> None:
    """VWW's first four layers in 24 one-row bands (6,016 B less arena, +12.5% MACs in the halo) and in 3;
    ResNet-8's first two residual blocks (their skip connections and ADDs inside the pipeline) in 16 bands
    and in 3."""
    from conftest import mlperf_model

    assert_bit_exact(mlperf_model("vww"), n=4, layers_for=1, patches=24)
    assert_bit_exact(mlperf_model("vww"), n=4, layers_for=0, patches=3, sanitize=True, opt="-O1")
    assert_bit_exact(mlperf_model("resnet8"), n=4, layers_for=1, patches=16)
    assert_bit_exact(mlperf_model("resnet8"), n=4, layers_for=0, patches=3, sanitize=True, opt="-O1")


def test_a_residual_stage_computes_what_its_consumers_read() -> None:
    """ResNet-8's first stage as a pipeline: each layer's band rows hold every row its consumers read (the
    skip connection's too), and its band buffer never shares bytes with one live at the same time."""
    from conftest import mlperf_model

    graph = load_graph(mlperf_model("resnet8"))
    plan, params = plan_layers(graph, patches=16)
    (pipe,) = plan_pipelines(graph, plan, params)
    assert pipe.ops == list(range(8)) and [layer.sources for layer in pipe.layers] == [
        (-1,), (0,), (1,), (0, 2), (3,), (4,), (3,), (6, 5)]
    assert plan.arena_bytes == 24_992
    buffers = pipe.buffers()
    for band in pipe.bands():
        for i in range(len(pipe.layers)):
            for s in pipe.sources(i):
                if s >= 0:
                    assert band[s].out_rows[0] <= band[i].in_rows[0] and band[i].in_rows[1] <= band[s].out_rows[1]
    for i in range(len(buffers)):
        for j in range(i + 1, len(buffers)):
            live_i = (i, max(pipe.consumers(i)))
            live_j = (j, max(pipe.consumers(j)))
            if not (live_i[1] < live_j[0] or live_j[1] < live_i[0]):
                (oi, si), (oj, sj) = buffers[i], buffers[j]
                assert oi + si <= oj or oj + sj <= oi, (i, j)


def test_patches_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import mlperf_model

    from edgeimpro.cli.main import main

    vww = str(mlperf_model("vww"))
    assert main(["export", vww, "--target", "aot", "-o", str(tmp_path / "p"), "--patches", "24", "--no-tflm-arena"]) == 0
    out = capsys.readouterr().out
    # 31,968 B: the 27,648 B input, its first output row's lag, two band buffers (2,304 + 1,152 B) and the
    # first conv's scratch (the depthwise layers take their direct loops: no strip)
    assert "arena               31,968 B" in out
    assert "patches          layers 0..3 in 24 bands of 1 row(s): saves 5,968 B of arena (37,936 B without)" in out
    assert "936,192 MACs recomputed" in out
    assert main(["export", vww, "--target", "aot", "-o", str(tmp_path / "a"), "--no-tflm-arena"]) == 0
    assert "patches          none (none would pay)" in capsys.readouterr().out   # auto: a 12% cut is not worth it
    assert main(["export", vww, "--target", "aot", "-o", str(tmp_path / "bad"), "--patches", "1"]) != 0
    assert "--patches takes auto, off or a number of patches" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def band_calls() -> tuple[list[KernelCall], list[np.ndarray]]:
    """Every band of every case, fused and patched (and VWW's patched first stage), as the kernel calls the
    pipeline code makes, with tflite_micro's rows."""
    from conftest import mlperf_model

    calls, expected = [], []
    for name in [*sorted(CASES), "vww", "resnet8"]:
        data = (mlperf_model(name) if name in ("vww", "resnet8") else model(name)).read_bytes()
        graph = load_graph(data)
        tflm = Tflm(data)
        wanted = sorted({t for o in graph.ops for t in o.inputs + o.outputs if t >= 0 and not graph.tensors[t].is_constant})
        for set_name, inputs in input_sets(graph, seed=1)[:3 if name in CASES else 1]:
            values = tflm.run(inputs, wanted)
            patched = plan_pipelines(graph, *plan_layers(graph, patches={"vww": 24, "resnet8": 8}.get(name, 3)))
            for pipe in (_fusions(graph) if name in CASES else []) + [p for p in patched if p.patches]:
                for band in pipe.bands():
                    for layer, bd in zip(pipe.layers, band, strict=True):
                        op = graph.ops[layer.op]
                        whole = node_call(graph, op, values)
                        (i0, i1), (a, b) = bd.in_rows, bd.out_rows
                        rows = values[op.outputs[0]][:, a:b]
                        if layer.elementwise:   # an ADD: the band's rows of both inputs
                            dims = list(whole.params.dims)
                            dims[-3] = b - a
                            narrowed = dataclasses.replace(whole.params, dims=tuple(dims))
                            inputs = [np.ascontiguousarray(values[t][:, a:b]) for t in op.inputs[:2]]
                        else:
                            narrowed = dataclasses.replace(whole.params, in_h=i1 - i0, pad_top=bd.pad_top, out_h=b - a)
                            inputs = [np.ascontiguousarray(values[op.inputs[0]][:, i0:i1]), *whole.inputs[1:]]
                        calls.append(dataclasses.replace(
                            whole, params=narrowed, inputs=inputs, output_nbytes=rows.nbytes,
                            label=f"{name} {set_name} layer {op.index} rows {a}..{b}"))
                        expected.append(rows)
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


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which(CROSS + "gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)")
@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m55"])
def test_patched_resnet8_bit_exact_on_emulated_boards(board: str) -> None:
    """ResNet-8 with its first two residual blocks in 16 patches, as firmware (the Arm DSP kernels on the
    Cortex-M4, Helium on the M55): outputs equal tflite_micro's, the last pipeline layer's dump too."""
    from conftest import mlperf_model

    from edgeimpro.references import TflmReference
    from edgeimpro.targets import open_target

    path = mlperf_model("resnet8")
    shape = load_graph(path).input_tensors[0].shape[1:]
    x = np.random.default_rng(16).integers(-128, 128, (2, *shape), dtype=np.int8)
    x[0] = -128
    want = TflmReference(path).run(x)
    with open_target(path, emulate=board, patches=16) as dev:
        assert dev.info().arena_bytes == 24_992
        for i in range(2):
            np.testing.assert_array_equal(dev.infer(x[i:i + 1]).outputs[0].reshape(-1), want[i].reshape(-1))
        dump = dev.layers(x[:1])
        assert [k for k in range(7) if dump.layers[k].data.size] == []   # inside the pipeline: no dumps
        assert dump.layers[7].data.size == 16 * 16 * 32


def test_the_least_lag_is_the_least_safe_one() -> None:
    """ops/stream.py: replayed at its least lag a contract overwrites no byte still to be read, one byte
    less and it does (random windows, pixel groups of 1 and 4, whole rows; PAD)."""
    from edgeimpro.ops.stream import ROW, pad_stream, window_stream

    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(3000):
        h, w, c = (int(v) for v in rng.integers(1, 12, 3))
        k, s = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        pad = int(rng.integers(0, k))
        oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        if oh <= 0 or ow <= 0:
            continue
        st = window_stream(1, (h, w, c), (oh, ow, int(rng.integers(1, 9))), (s, s), (pad, pad), (k, k),
                           int(rng.choice([ROW, 1, 4])))
        lag = st.min_lag()
        assert st.clobbered_read(lag) is None
        assert lag == 0 or st.clobbered_read(lag - 1) is not None
        checked += 1
    assert checked > 2000
    st = pad_stream((1, 5, 4, 3), (0, 1, 2, 0), (0, 2, 1, 0))
    assert st.clobbered_read(st.min_lag()) is None and st.clobbered_read(st.min_lag() - 1) is not None


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which(CROSS + "gcc") is None,
                    reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)")
def test_bench_prints_what_patches_save_and_cost(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from conftest import mlperf_model

    from edgeimpro.cli.main import main

    model = str(mlperf_model("resnet8"))
    assert main(["bench", model, "--board", "qemu-m4", "--inputs", "1", "--patches", "16", "--json"]) == 0
    f = json.loads(capsys.readouterr().out)
    p = f["patches"]
    assert p["layers"] == list(range(8)) and f["arena_bytes"] == 24_992
    assert p["arena_without"] == 34_512 and p["arena_saved"] == 34_512 - 24_992
    assert p["extra_count"] == f["per_inference"][0] - p["count_without"] > 0   # the halo's recomputed rows
