"""Every kernel set on the emulated boards, bit for bit: the Arm DSP set (runtime/kernels/arm_dsp/ over the
reference kernels, as firmware.mk links it) on the Cortex-M4 and M55, and the reference set cross-compiled.

The one kernel suite (kernel_suite.py, tests/c/kernel_suite.c) runs as bare-metal firmware on QEMU, fed
vector files through semihosting: the same vectors and the same driver as the host tests of test_kernels.py.
- Random shapes and parameters of the MAC kernels (odd channel counts, 1x1, strides larger than the filter,
  SAME and VALID padding, dilation, groups, depth multipliers 1-3, per-channel multipliers, receptive
  fields longer than the column buffer): each set on QEMU equals the reference kernels built for the host.
- Every op's test specification in the registry (every single-op model) and every node of the MLPerf Tiny
  models (each fed TFLM's own input tensors): each set on QEMU equals tflite_micro.
- Where the int32 arithmetic wraps around (pre-shifts up to 2^31, biases at the int32 limits; random calls and
  the wrapping model edits of kernel_models.WRAP_EDITS), the DSP kernels wrap exactly as the reference
  kernels and tflite_micro do.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import mlperf_model
from kernel_harness import (
    STATUS_NAMES,
    Tflm,
    build_driver,
    compare,
    input_sets,
    node_call,
    run_calls,
)
from kernel_models import WRAP_EDITS, op_models
from kernel_suite import KernelCall, KernelSet
from tiny_models import edit_model

from edgeimpro import ops as qp
from edgeimpro.boards.build import CROSS
from edgeimpro.firmware import runtime_dir
from edgeimpro.graph import load_graph
from edgeimpro.ops.add import AddParams
from edgeimpro.ops.conv2d import Conv2DParams, column_scratch, dsp_direct
from edgeimpro.ops.depthwise_conv2d import DepthwiseConv2DParams, dsp_planar, strip_scratch
from edgeimpro.ops.fully_connected import FullyConnectedParams
from edgeimpro.ops.mul import MulParams
from edgeimpro.ops.pool2d import Pool2DParams
from edgeimpro.ops.prepare import (
    REQUANT_GENERAL,
    REQUANT_NO_PRESHIFT,
    REQUANT_SMMULR,
    accumulator_range,
    folded_bias,
    requant_path,
)

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which(CROSS + "gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)"),
]

# Every kernel set the firmware links, on the board it runs on, through the one suite (kernel_suite.py).
# The Arm DSP set on the M4 and the Helium set twice each: with their inner loops in assembly (what the
# firmware links) and with their C equivalents (EIP_DSP_C_LOOPS, EIP_MVE_C_LOOPS), so the two stay the same
# arithmetic.
SETS = [KernelSet("dsp", board="qemu-m4"), KernelSet("dsp", board="qemu-m4", defines=("EIP_DSP_C_LOOPS",)),
        KernelSet("dsp", board="qemu-m55"), KernelSet("mve", board="qemu-m55"),
        KernelSet("mve", board="qemu-m55", defines=("EIP_MVE_C_LOOPS",)), KernelSet("reference", board="qemu-m4")]
SET_IDS = [f"{k.name}-{k.board}" + "".join(f"-{d}" for d in k.defines) for k in SETS]


# ---------------------------------------------------------------------------------------------------------
# Random shapes against the reference kernels


def _out_size(size: int, k: int, stride: int, dilation: int, same: bool) -> tuple[int, int]:
    """(output size, padding before) as TFLM computes them for SAME / VALID."""
    eff = (k - 1) * dilation + 1
    out = (size + stride - 1) // stride if same else (size - eff + stride) // stride
    pad = max(0, ((out - 1) * stride + eff - size) // 2) if same else 0
    return out, pad


def _quant(rng: np.random.Generator, channels: int, k: int, wrap: bool = False) -> dict:
    """Zero points, clamp and per-channel multipliers; the scale keeps most outputs of a k-term sum of
    random codes off the clamps, so a wrong low bit of a sum shows in the output. `wrap`: pre-shifts of
    2^12 to 2^31, which wrap around for most sums."""
    act_min = int(rng.integers(-128, 0)) if rng.random() < 0.5 else -128
    act_max = int(rng.integers(0, 128)) if rng.random() < 0.5 else 127
    shift = (rng.integers(12, 32, channels) if wrap
             else np.round(np.log2(30 / (np.sqrt(k) * 6000))) + rng.integers(-1, 2, channels))
    return {"in_zp": int(rng.integers(-128, 128)), "out_zp": int(rng.integers(-128, 128)), "act_min": act_min,
            "act_max": act_max, "multiplier": tuple(int(v) for v in rng.integers(1 << 30, (1 << 31) - 1, channels)),
            "shift": tuple(int(v) for v in shift)}


def _window(rng: np.random.Generator, big: bool) -> dict | None:
    h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    fh, fw = (int(rng.integers(1, 10)), int(rng.integers(1, 10))) if big else (int(rng.integers(1, 5)),
                                                                                int(rng.integers(1, 5)))
    sh, sw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    dh, dw = (int(rng.integers(1, 4)), int(rng.integers(1, 4))) if rng.random() < 0.3 else (1, 1)
    same = bool(rng.random() < 0.5)
    oh, pt = _out_size(h, fh, sh, dh, same)
    ow, pl = _out_size(w, fw, sw, dw, same)
    if oh < 1 or ow < 1:
        return None
    return {"batches": int(rng.integers(1, 3)), "in_h": h, "in_w": w, "out_h": oh, "out_w": ow, "filter_h": fh,
            "filter_w": fw, "stride_h": sh, "stride_w": sw, "dilation_h": dh, "dilation_w": dw, "pad_top": pt,
            "pad_left": pl}


def _bias(rng: np.random.Generator, n: int, wrap: bool = False, big: bool = False) -> np.ndarray | None:
    if wrap:   # within 2^16 of the int32 limits: the sum itself wraps around
        return (np.where(rng.random(n) < 0.5, 2**31 - 1, -(2**31)) - rng.integers(-(1 << 16), 1 << 16, n)
                ).clip(-(2**31), 2**31 - 1).astype(np.int32)
    if big:    # around +-2^30: sums beyond the single-multiply bound, no pre-shift
        return (np.where(rng.random(n) < 0.5, 1, -1) * ((1 << 30) + rng.integers(-(1 << 20), 1 << 20, n))
                ).astype(np.int32)
    return rng.integers(-(1 << 16), 1 << 16, n).astype(np.int32) if rng.random() < 0.8 else None


def _window_3x3(rng: np.random.Generator, win: dict) -> dict:
    """`win` made a 3x3 window without dilation, stride 1 or 2 (same or valid padding), on the same input."""
    stride_h, stride_w = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    same = rng.random() < 0.7 or min(win["in_h"], win["in_w"]) < 3
    out_h, pad_top = _out_size(win["in_h"], 3, stride_h, 1, same)
    out_w, pad_left = _out_size(win["in_w"], 3, stride_w, 1, same)
    return {**win, "filter_h": 3, "filter_w": 3, "stride_h": stride_h, "stride_w": stride_w, "dilation_h": 1,
            "dilation_w": 1, "out_h": out_h, "out_w": out_w, "pad_top": pad_top, "pad_left": pad_left}


def with_proven_requant(call: KernelCall) -> KernelCall:
    """The call with the requantization kind the generator would prove for its weights, bias and shifts
    (ops.prepare.requant_path): what an exported model carries."""
    p, (_, w, bias) = call.params, call.inputs
    taps = np.moveaxis(w, 3, 0).reshape(w.shape[3], -1) if call.kernel == "eip_depthwise_conv2d" \
        else w.reshape(w.shape[0], -1)
    lo, hi = accumulator_range(taps, getattr(p, "weights_zp", 0), p.in_zp, bias)
    kind = requant_path(lo, hi, {"multiplier": p.multiplier, "shift": p.shift})
    return dataclasses.replace(call, params=dataclasses.replace(p, requant=kind))


def random_calls(seed: int, count: int, wrap: bool = False, big_bias: bool = False) -> list[KernelCall]:
    """`count` random kernel calls, each with its proven requantization kind; `wrap`: with pre-shifts and
    biases that make the int32 arithmetic wrap (the general kind); `big_bias`: sums beyond 2^30 without
    pre-shifts (the no-pre-shift kind). Ordinary calls take the single-multiply kind."""
    calls = _random_calls(seed, count, wrap, big_bias)
    return [with_proven_requant(c) for c in calls]


def _random_calls(seed: int, count: int, wrap: bool, big_bias: bool) -> list[KernelCall]:
    rng = np.random.default_rng(seed)
    calls: list[KernelCall] = []
    while len(calls) < count:
        kind = len(calls) % 3
        if kind == 2:
            batches, depth, units = int(rng.integers(1, 4)), int(rng.integers(1, 80)), int(rng.integers(1, 12))
            q = _quant(rng, units, depth, wrap)
            wzp = int(rng.integers(-128, 128)) if rng.random() < 0.3 else 0
            p = FullyConnectedParams(batches=batches, depth=depth, units=units, weights_zp=wzp, requant=0, **q)
            x = rng.integers(-128, 128, (batches, depth), dtype=np.int8)
            w = rng.integers(-128, 128, (units, depth), dtype=np.int8)
            calls.append(KernelCall("eip_fully_connected", p, [x, w, _bias(rng, units, wrap, big_bias)], batches * units,
                                    f"random {len(calls)} {p}"))
            continue
        big = rng.random() < 0.1
        win = _window(rng, big)
        if win is None:
            continue
        shape = (win["batches"], win["in_h"], win["in_w"])
        if kind == 0:
            pointwise = rng.random() < 0.3
            if pointwise:
                win.update(filter_h=1, filter_w=1, pad_top=0, pad_left=0, dilation_h=1, dilation_w=1,
                           out_h=(win["in_h"] - 1) // win["stride_h"] + 1, out_w=(win["in_w"] - 1) // win["stride_w"] + 1)
            groups = int(rng.integers(1, 4)) if rng.random() < 0.3 else 1
            # a quarter with 1-3 channels per group: first layers (the DSP conv's padded-tap path)
            filter_c = int(rng.integers(1, 4)) if rng.random() < 0.25 else int(rng.integers(1, 100 if big else 24))
            out_c = groups * int(rng.integers(1, 7))
            scratch = column_scratch(win["filter_h"] * win["filter_w"], filter_c, groups * filter_c, out_c)
            w = rng.integers(-128, 128, (out_c, win["filter_h"], win["filter_w"], filter_c), dtype=np.int8)
            q = _quant(rng, out_c, win['filter_h'] * win['filter_w'] * filter_c, wrap)
            bias = _bias(rng, out_c, wrap, big_bias)
            # the generator's folded bias, or none (NULL: the Helium kernels sum the filter rows themselves)
            folded = folded_bias(w.reshape(out_c, -1), bias, q["in_zp"]) if rng.random() < 0.9 else ()
            p = Conv2DParams(in_c=groups * filter_c, out_c=out_c, filter_c=filter_c, **win, requant=0,
                             scratch=scratch if rng.random() < 0.9 else 0,   # 0: the direct loop
                             folded_bias=folded, **q)
            x = rng.integers(-128, 128, (*shape, p.in_c), dtype=np.int8)
            calls.append(KernelCall("eip_conv2d", p, [x, w, bias], p.batches * p.out_h * p.out_w * p.out_c,
                                    f"random {len(calls)} {p}"))
            continue
        else:
            in_c, dm = int(rng.integers(1, 20)), int(rng.integers(1, 4)) if rng.random() < 0.4 else 1
            if rng.random() < 0.4:   # the 3x3 window of MobileNets (the Helium strip path), stride 1 or 2
                win = _window_3x3(rng, win)
            # a strip per block (a ring each), one strip refilled per output row, or none (the direct loops)
            strip, blocks = strip_scratch(win["filter_h"], win["filter_w"], win["stride_w"], win["dilation_h"],
                                          win["dilation_w"], dm, win["out_w"], in_c, ring=rng.random() < 0.5)
            if rng.random() < 0.1:
                strip, blocks = 0, 0
            p = DepthwiseConv2DParams(in_c=in_c, out_c=in_c * dm, depth_multiplier=dm, **win, requant=0,
                                      scratch=strip, strip_blocks=blocks,
                                      **_quant(rng, in_c * dm, win['filter_h'] * win['filter_w'], wrap))
            w = rng.integers(-128, 128, (1, p.filter_h, p.filter_w, p.out_c), dtype=np.int8)
            kernel = "eip_depthwise_conv2d"
        x = rng.integers(-128, 128, (*shape, p.in_c), dtype=np.int8)
        calls.append(KernelCall(kernel, p, [x, w, _bias(rng, p.out_c, wrap, big_bias)], p.batches * p.out_h * p.out_w * p.out_c,
                                f"random {len(calls)} {p}"))
    return calls


def assert_like_the_reference(kernel_set: KernelSet, calls: list[KernelCall]) -> None:
    """Every call accepted by the plain reference kernels, and kernel_set's outputs equal to theirs."""
    reference = run_calls(build_driver("plain"), calls)
    assert all(status == 0 for status, _ in reference)
    expected = [np.frombuffer(out, np.int8) for _, out in reference]
    problems = compare(calls, expected, kernel_set.run(calls))
    assert not problems, f"{len(problems)}/{len(calls)} differ:\n" + "\n".join(problems[:10])


@pytest.mark.parametrize("kernel_set", SETS, ids=SET_IDS)
def test_random_shapes_equal_the_reference_kernels(kernel_set: KernelSet) -> None:
    calls = (random_calls(seed=7, count=600) + random_calls(seed=8, count=150, wrap=True)
             + random_calls(seed=9, count=150, big_bias=True))
    kinds = {c.params.requant for c in calls}
    assert kinds == {REQUANT_GENERAL, REQUANT_NO_PRESHIFT, REQUANT_SMMULR}, kinds   # every kind is exercised
    assert_like_the_reference(kernel_set, calls)


def odd_channel_calls(seed: int) -> list[KernelCall]:
    """Conv and depthwise layers of MobileNet shapes on 12x10 inputs (whole groups of four pixels and rows
    ending in 1-3 more) with the channel counts the vector paths split unevenly: 1-3, 5, 17 and 31 (a Helium
    block of four or chunk of 16 left partial), 3x3 stride 1 and 2 and 1x1, every depthwise layer with its
    strips as a ring, as one strip and without; half the layers with one channel's shift 0 (no rounding
    shift: the tie correction must skip it)."""
    rng = np.random.default_rng(seed)
    calls: list[KernelCall] = []
    for c in (1, 2, 3, 5, 17, 31):
        for kernel, stride in ((3, 1), (3, 2), (1, 1)):
            win = {"batches": 1, "in_h": 12, "in_w": 10, "filter_h": kernel, "filter_w": kernel, "stride_h": stride,
                   "stride_w": stride, "dilation_h": 1, "dilation_w": 1}
            win["out_h"], win["pad_top"] = _out_size(12, kernel, stride, 1, True)
            win["out_w"], win["pad_left"] = _out_size(10, kernel, stride, 1, True)
            for zero_shift in (False, True):
                x = rng.integers(-128, 128, (1, 12, 10, c), dtype=np.int8)
                out_c = int(rng.choice([4, 17, 32]))
                q = _quant(rng, out_c, kernel * kernel * c)
                if zero_shift:
                    q["shift"] = (0, *q["shift"][1:])
                w = rng.integers(-127, 128, (out_c, kernel, kernel, c), dtype=np.int8)
                bias = _bias(rng, out_c)
                p = Conv2DParams(in_c=c, out_c=out_c, filter_c=c, **win, requant=0,
                                 scratch=column_scratch(kernel * kernel, c, c, out_c),
                                 folded_bias=folded_bias(w.reshape(out_c, -1), bias, q["in_zp"]), **q)
                calls.append(KernelCall("eip_conv2d", p, [x, w, bias], 12 * 10 * out_c, f"odd conv {c} {p}"))
                if kernel == 1:
                    continue
                for ring in (True, False, None):
                    q = _quant(rng, c, kernel * kernel)
                    if zero_shift:
                        q["shift"] = (0, *q["shift"][1:])
                    size, blocks = (0, 0) if ring is None else strip_scratch(
                        3, 3, stride, 1, 1, 1, win["out_w"], c, ring=ring)
                    w = rng.integers(-127, 128, (1, 3, 3, c), dtype=np.int8)
                    bias = _bias(rng, c)
                    p = DepthwiseConv2DParams(in_c=c, out_c=c, depth_multiplier=1, **win, requant=0, scratch=size,
                                              strip_blocks=blocks, **q)
                    calls.append(KernelCall("eip_depthwise_conv2d", p, [x, w, bias],
                                            win["out_h"] * win["out_w"] * c, f"odd depthwise {c} {p}"))
    return [with_proven_requant(call) for call in calls]


@pytest.mark.parametrize("kernel_set", SETS, ids=SET_IDS)
def test_odd_channel_counts_equal_the_reference_kernels(kernel_set: KernelSet) -> None:
    calls = odd_channel_calls(seed=41)
    assert {c.params.shift[0] for c in calls} >= {0}
    assert_like_the_reference(kernel_set, calls)


def planar_depthwise_calls(seed: int) -> list[KernelCall]:
    """3x3 depthwise layers for the Arm DSP planar path: output rows 2-6 wide (pairs, and a last odd output),
    stride 1 and 2 along the row (1 and 2 down it), channel counts not a multiple of 4 and above the 64 whose
    taps the one-strip layers keep on the stack, strips as a ring and as one strip; half the layers clamped
    to a narrower activation range (_quant), a quarter with one channel's multiplier 0."""
    rng = np.random.default_rng(seed)
    calls: list[KernelCall] = []
    for c in (3, 8, 66, 70):
        for stride in (1, 2):
            for in_w in (3, 4, 5, 9, 12):
                in_h = int(rng.integers(3, 8))
                win = {"batches": 1, "in_h": in_h, "in_w": in_w, "filter_h": 3, "filter_w": 3,
                       "stride_h": int(rng.integers(1, 3)), "stride_w": stride, "dilation_h": 1, "dilation_w": 1}
                same = bool(rng.random() < 0.7)
                win["out_h"], win["pad_top"] = _out_size(in_h, 3, win["stride_h"], 1, same)
                win["out_w"], win["pad_left"] = _out_size(in_w, 3, stride, 1, same)
                if win["out_h"] < 1 or win["out_w"] < 1:
                    continue
                for ring in (True, False):
                    q = _quant(rng, c, 9)
                    if rng.random() < 0.25:
                        q["multiplier"] = (0, *q["multiplier"][1:])
                    size, blocks = strip_scratch(3, 3, stride, 1, 1, 1, win["out_w"], c, ring=ring)
                    x = rng.integers(-128, 128, (1, in_h, in_w, c), dtype=np.int8)
                    w = rng.integers(-128, 128, (1, 3, 3, c), dtype=np.int8)
                    p = DepthwiseConv2DParams(in_c=c, out_c=c, depth_multiplier=1, **win, requant=0, scratch=size,
                                              strip_blocks=blocks, **q)
                    calls.append(KernelCall("eip_depthwise_conv2d", p, [x, w, _bias(rng, c)],
                                            win["out_h"] * win["out_w"] * c, f"planar depthwise {c} {p}"))
    return [with_proven_requant(call) for call in calls]


@pytest.mark.parametrize("kernel_set", SETS, ids=SET_IDS)
def test_planar_depthwise_equals_the_reference_kernel(kernel_set: KernelSet) -> None:
    calls = planar_depthwise_calls(seed=51)
    assert {c.params.strip_blocks for c in calls if c.params.in_c > 64} >= {1}
    assert_like_the_reference(kernel_set, calls)


def depth_multiplier_call(rng: np.random.Generator, in_c: int, dm: int, k: int, stride: int, same: bool,
                          in_h: int, in_w: int, clamp: bool) -> KernelCall:
    """One depthwise layer with depth multiplier `dm`: a k x k filter, `stride` both ways, SAME or VALID;
    `clamp`: a narrower activation range than int8."""
    win = {"batches": 1, "in_h": in_h, "in_w": in_w, "filter_h": k, "filter_w": k, "stride_h": stride,
           "stride_w": stride, "dilation_h": 1, "dilation_w": 1}
    win["out_h"], win["pad_top"] = _out_size(in_h, k, stride, 1, same)
    win["out_w"], win["pad_left"] = _out_size(in_w, k, stride, 1, same)
    q = _quant(rng, in_c * dm, k * k)
    q["act_min"], q["act_max"] = (int(rng.integers(-128, -20)), int(rng.integers(20, 128))) if clamp else (-128, 127)
    p = DepthwiseConv2DParams(in_c=in_c, out_c=in_c * dm, depth_multiplier=dm, **win, requant=0, scratch=0,
                              strip_blocks=0, **q)
    x = rng.integers(-128, 128, (1, in_h, in_w, in_c), dtype=np.int8)
    w = rng.integers(-128, 128, (1, k, k, p.out_c), dtype=np.int8)
    return with_proven_requant(KernelCall("eip_depthwise_conv2d", p, [x, w, _bias(rng, p.out_c)],
                                          p.out_h * p.out_w * p.out_c, f"depth multiplier {dm} {p}"))


def depth_multiplier_calls(seed: int) -> list[KernelCall]:
    """Depthwise layers with depth multipliers 2, 3, 4 and 8 (the Arm DSP path SIMD across output channels):
    1x1, 3x3 and 5x5 filters, stride 1 and 2, SAME and VALID, 1-9 input channels (output channels not a
    multiple of 4, blocks that straddle input channels), half of them clamped."""
    rng = np.random.default_rng(seed)
    calls: list[KernelCall] = []
    for dm in (2, 3, 4, 8):
        for k in (1, 3, 5):
            for stride in (1, 2):
                for same in (True, False):
                    in_c = int(rng.integers(1, 10))
                    in_h, in_w = int(rng.integers(k, k + 6)), int(rng.integers(k, k + 6))
                    calls.append(depth_multiplier_call(rng, in_c, dm, k, stride, same, in_h, in_w,
                                                       clamp=bool(rng.random() < 0.5)))
    return calls


@pytest.mark.parametrize("kernel_set", SETS, ids=SET_IDS)
def test_depth_multipliers_equal_the_reference_kernel(kernel_set: KernelSet) -> None:
    calls = depth_multiplier_calls(seed=61)
    assert any(c.params.out_c % 4 for c in calls) and any(c.params.in_c % 2 for c in calls)
    assert_like_the_reference(kernel_set, calls)


def random_add_calls(seed: int, count: int) -> list[KernelCall]:
    """ADD without broadcasting, with the parameters TFLM derives from random scales (as ops.add does), on
    tensors below and above the DSP variant's table threshold (sizes not a multiple of four too: its
    four-element turns end in single elements); a quarter with input multipliers above 1/2
    (parameters TFLM never derives, which the DSP variant leaves to the reference loop)."""
    rng = np.random.default_rng(seed)
    calls = []
    for i in range(count):
        s1, s2 = (float(np.float32(10.0 ** rng.uniform(-4, 1))) for _ in range(2))
        s_out = float(np.float32((s1 + s2) * 10.0 ** rng.uniform(-0.5, 1.5)))
        twice_max = 2.0 * max(s1, s2)
        reals = [s1 / twice_max, s2 / twice_max, twice_max / (2.0 ** 20 * s_out)]
        if i % 4 == 3:
            reals[0] = min(0.999, reals[0] * 1.9)
        (m1, e1), (m2, e2), (mo, eo) = (qp.quantize_multiplier(r) for r in reals)
        size = int(rng.choice([1, 7, 300, 1023, 1024, 1027, 1500, 4099, 4100]))   # table path tails 0 and 3
        dims = (1, 1, 1, 1, 1, size)
        p = AddParams(broadcast=0, dims=dims, in1_strides=(0, 0, 0, 0, 0, 1), in2_strides=(0, 0, 0, 0, 0, 1),
                      in1_zp=int(rng.integers(-128, 128)), in2_zp=int(rng.integers(-128, 128)),
                      out_zp=int(rng.integers(-128, 128)), left_shift=20, in1_multiplier=m1, in1_shift=e1,
                      in2_multiplier=m2, in2_shift=e2, out_multiplier=mo, out_shift=eo,
                      act_min=int(rng.choice([-128, -100])), act_max=int(rng.choice([127, 90])))
        x1, x2 = (rng.integers(-128, 128, size, dtype=np.int8) for _ in range(2))
        x1[:256] = np.arange(-128, 128)[:min(size, 256)] if size >= 256 else x1[:256]
        calls.append(KernelCall("eip_add", p, [x1, x2], size, f"add {i} {p}", in_place=bool(i % 2)))
    return calls


@pytest.mark.parametrize("kernel_set", SETS, ids=SET_IDS)
def test_add_equals_the_reference_kernel(kernel_set: KernelSet) -> None:
    calls = random_add_calls(seed=21, count=120)
    assert_like_the_reference(kernel_set, calls)


def random_pool_calls(seed: int, count: int) -> list[KernelCall]:
    """MAX and AVERAGE pools over random windows, strides, padding and 1-40 channels (the Helium max pool
    takes 16 channels per vector, the average 4), clamped or not."""
    rng = np.random.default_rng(seed)
    calls = []
    while len(calls) < count:
        win = _window(rng, big=rng.random() < 0.2)
        if win is None or win["dilation_h"] != 1 or win["dilation_w"] != 1:
            continue
        win = {k: v for k, v in win.items() if not k.startswith("dilation")}
        kernel = ("eip_max_pool2d", "eip_average_pool2d")[len(calls) % 2]
        lo, hi = (-128, 127) if rng.random() < 0.5 else (int(rng.integers(-128, 0)), int(rng.integers(0, 128)))
        p = Pool2DParams(channels=int(rng.integers(1, 41)), act_min=lo, act_max=hi, **win)
        x = rng.integers(-128, 128, (p.batches, p.in_h, p.in_w, p.channels), dtype=np.int8)
        calls.append(KernelCall(kernel, p, [x], p.batches * p.out_h * p.out_w * p.channels, f"pool {len(calls)} {p}"))
    # global pools whose window rows pass 256 cells (the Arm DSP average's halfword sums go into int32 every
    # 256 cells), over the extreme codes and random ones, 8 + 4 + 1 channels (every channel path)
    for h, w in ((1, 300), (2, 513), (17, 19)):
        for fill in (-128, 127, None):
            x = (rng.integers(-128, 128, (1, h, w, 13), dtype=np.int8) if fill is None
                 else np.full((1, h, w, 13), fill, np.int8))
            p = Pool2DParams(batches=1, in_h=h, in_w=w, channels=13, out_h=1, out_w=1, filter_h=h, filter_w=w,
                             stride_h=1, stride_w=1, pad_top=0, pad_left=0, act_min=-128, act_max=127)
            for kernel in ("eip_max_pool2d", "eip_average_pool2d"):
                calls.append(KernelCall(kernel, p, [x], 13, f"global pool {h}x{w} fill {fill} {kernel}"))
    return calls


@pytest.mark.parametrize("kernel_set", SETS, ids=SET_IDS)
def test_pools_equal_the_reference_kernel(kernel_set: KernelSet) -> None:
    calls = random_pool_calls(seed=31, count=200)
    reference = run_calls(build_driver("plain"), calls)
    kept = [i for i, (status, _) in enumerate(reference) if status == 0]   # a window wholly in the padding: refused
    assert len(kept) > 150
    results = kernel_set.run(calls)
    assert [r[0] for r in results] == [r[0] for r in reference], "a kernel set refuses other calls than the reference"
    expected = [np.frombuffer(reference[i][1], np.int8) for i in kept]
    problems = compare([calls[i] for i in kept], expected, [results[i] for i in kept])
    assert not problems, f"{len(problems)}/{len(kept)} differ:\n" + "\n".join(problems[:10])


def random_mul_calls(seed: int, count: int) -> list[KernelCall]:
    """MUL without broadcasting over random scales (output multipliers from far below 1 to 2^14 and beyond,
    so pre-shifts of 0 to 16: the DSP variant's fast path and its reference fallback), every code pair of a
    256 x 256 ramp in some, half of them in place."""
    rng = np.random.default_rng(seed)
    calls = []
    for i in range(count):
        real = float(2.0 ** rng.uniform(-20, 17))
        m, e = qp.quantize_multiplier(real)
        size = int(rng.choice([1, 5, 256, 1000, 65536 if i % 10 == 0 else 300]))
        dims = (1, 1, 1, 1, 1, size)
        p = MulParams(broadcast=0, dims=dims, in1_strides=(0, 0, 0, 0, 0, 1), in2_strides=(0, 0, 0, 0, 0, 1),
                      in1_zp=int(rng.integers(-128, 128)), in2_zp=int(rng.integers(-128, 128)),
                      out_zp=int(rng.integers(-128, 128)), multiplier=m, shift=e,
                      act_min=int(rng.choice([-128, -100])), act_max=int(rng.choice([127, 90])))
        if size == 65536:
            codes = np.arange(-128, 128, dtype=np.int8)
            x1, x2 = np.repeat(codes, 256), np.tile(codes, 256)
        else:
            x1, x2 = (rng.integers(-128, 128, size, dtype=np.int8) for _ in range(2))
        calls.append(KernelCall("eip_mul", p, [x1, x2], size, f"mul {i} {p}", in_place=bool(i % 2)))
    return calls


@pytest.mark.parametrize("kernel_set", SETS, ids=SET_IDS)
def test_mul_equals_the_reference_kernel(kernel_set: KernelSet) -> None:
    calls = random_mul_calls(seed=31, count=80)
    assert {c.params.shift > 14 for c in calls} == {True, False}   # both the fast path and the fallback
    assert_like_the_reference(kernel_set, calls)


def test_bad_params_give_the_reference_status() -> None:
    bad = []
    for c in random_calls(seed=11, count=6):
        n = len(c.params.shift)
        for change in ({"batches": 0}, {"act_min": -129}, {"shift": (32,) * n}, {"requant": 7},
                       # a faster requantization kind where a channel pre-shifts: refused, not mis-computed
                       {"requant": REQUANT_SMMULR, "shift": (1,) * n}, {"requant": REQUANT_NO_PRESHIFT, "shift": (1,) * n}):
            bad.append(KernelCall(c.kernel, dataclasses.replace(c.params, **change), c.inputs, c.output_nbytes,
                                  f"{c.label} {change}"))
    want = [STATUS_NAMES[s] for s, _ in run_calls(build_driver("plain"), bad)]
    for kernel_set in SETS:
        got = [STATUS_NAMES[s] for s, _ in kernel_set.run(bad)]
        assert got == want, kernel_set.label
    assert "EIP_OK" not in want


def test_kernels_built_for_one_model_refuse_the_paths_it_does_not_take() -> None:
    """With a model's eip_model_kernels.h (codegen/aot.py kernel_paths: here one whose MAC layers all use the
    single-multiply requantization and the whole int8 range, no conv on the direct loop, every depthwise on
    the planar path) the Arm DSP kernels leave the other paths out: a layer on a built path is exact, one that
    needs another is refused with EIP_ERR_BAD_PARAM; ops/conv2d.py's dsp_direct and ops/depthwise_conv2d.py's
    dsp_planar say which, as the kernels decide it."""
    facts = {"EIP_MODEL_KERNELS_H": "", "EIP_MODEL_CONV_DIRECT": 0, "EIP_MODEL_DEPTHWISE_GENERAL": 0, **{
        f"EIP_MODEL_{op}_{what}": value for op in ("CONV", "DEPTHWISE", "FULLY_CONNECTED")
        for what, value in (("REQUANTS", 1 << REQUANT_SMMULR), ("CLAMPS", 0))}}
    built = KernelSet("dsp", board="qemu-m4", defines=tuple(f"{k}={v}" if v != "" else k for k, v in facts.items()))
    calls = (random_calls(seed=21, count=180) + random_calls(seed=22, count=30, wrap=True)
             + random_calls(seed=23, count=30, big_bias=True))
    calls = [c for c in calls if c.kernel in ("eip_conv2d", "eip_fully_connected", "eip_depthwise_conv2d")]
    calls += planar_depthwise_calls(seed=24)

    def on_path(c: KernelCall) -> bool:   # what codegen/aot.py kernel_paths reasons from
        p = c.params
        full = (p.act_min, p.act_max) == (-128, 127)
        if c.kernel == "eip_depthwise_conv2d":
            return full and dsp_planar(p)   # and so the single-multiply requantization
        if c.kernel == "eip_conv2d":
            return full and p.requant == REQUANT_SMMULR and not dsp_direct(p)
        return p.requant == REQUANT_SMMULR

    reference = run_calls(build_driver("plain"), calls)
    results = built.run(calls)
    kept = [on_path(c) for c in calls]
    for kernel in ("eip_conv2d", "eip_fully_connected", "eip_depthwise_conv2d"):
        assert {k for k, c in zip(kept, calls, strict=True) if c.kernel == kernel} == {True, False}
    for c, ok, want, got in zip(calls, kept, reference, results, strict=True):
        if ok:
            assert got == want, c.label
        elif want[0] == 0:
            assert STATUS_NAMES[got[0]] == "EIP_ERR_BAD_PARAM", c.label


# ---------------------------------------------------------------------------------------------------------
# Every op's test specification and the MLPerf Tiny models against tflite_micro


def model_calls(model: bytes, label: str, seed: int, sets: tuple[str, ...] | None = None
                ) -> tuple[list[KernelCall], list[np.ndarray]]:
    graph = load_graph(model)
    wanted = sorted({t for o in graph.ops for t in o.inputs + o.outputs if t >= 0 and not graph.tensors[t].is_constant})
    tflm = Tflm(model, arena_size=16 << 20)
    calls, expected = [], []
    for name, inputs in input_sets(graph, seed):
        if sets is not None and name not in sets:
            continue
        values = tflm.run(inputs, wanted)
        for node in graph.ops:
            calls.append(node_call(graph, node, values, f"{label} node {node.index} {node.opcode} input {name}"))
            expected.append(values[node.outputs[0]])
    return calls, expected


def registry_calls() -> tuple[list[KernelCall], list[np.ndarray]]:
    """Every node of every op's single-op models (the registry's test specs), the wrapping edits, and the
    MLPerf Tiny models, each node fed TFLM's own input tensors; TFLM's outputs as the expectation."""
    calls, expected = [], []
    for op in sorted(op for op in qp.REGISTRY if qp.REGISTRY[op].tests):
        for m, (spec, model) in enumerate(op_models(op)):
            c, e = model_calls(model, f"{op} model {m} {spec['layer']}", seed=m, sets=("random0", "min", "max", "ramp"))
            calls += c
            expected += e
    for edit, (op, index, fn) in sorted(WRAP_EDITS.items()):
        base = op_models(op)[index][1]
        graph = load_graph(base)
        node = next(o for o in graph.ops if o.opcode == op)
        c, e = model_calls(edit_model(base, lambda m, g=graph, n=node, f=fn: f(m, g, n)), edit, seed=index)
        calls += c
        expected += e
    for name in ("vww", "resnet8", "kws"):
        c, e = model_calls(mlperf_model(name).read_bytes(), name, seed=3, sets=("random0", "ramp"))
        calls += c
        expected += e
    return calls, expected


@pytest.mark.parametrize("kernel_set", SETS, ids=SET_IDS)
def test_every_op_spec_and_mlperf_node_equals_tflm(kernel_set: KernelSet) -> None:
    calls, expected = registry_calls()
    covered = {c.kernel for c in calls}
    assert covered == {op.kernel for op in qp.kernels()}, "a registered kernel has no test model"
    problems = compare(calls, expected, kernel_set.run(calls))
    assert not problems, f"{kernel_set.label}: {len(problems)}/{len(calls)} differ:\n" + "\n".join(problems[:10])


def streamed(calls: list[KernelCall]) -> list[int]:
    """Each call whose op declares a streaming contract (ops/stream.py), placed as the memory plan may place
    it: the output starting the contract's least lag below the input (rounded up to a word, tighter than the
    plan's 16 bytes) or a word more, in one block. Returns the indexes of the calls changed."""
    contracts = {op.kernel: op.stream for op in qp.kernels() if op.stream is not None}
    changed = []
    for i, c in enumerate(calls):
        contract = contracts.get(c.kernel)
        if contract is None or c.in_place:
            continue
        # every other call 4 bytes further: a lag that is a multiple of the channel count would hide a kernel
        # that walks channel blocks outermost (each block's writes would land on its own channels' bytes)
        lag = -(-contract(c.params).min_lag() // 4) * 4 + 4 * (i % 2)
        calls[i] = dataclasses.replace(c, stream_lag=lag, label=f"{c.label} streamed {lag} B below its input")
        changed.append(i)
    return changed


@pytest.mark.parametrize("kernel_set", SETS, ids=SET_IDS)
def test_streamed_layers_equal_tflm_and_the_reference(kernel_set: KernelSet) -> None:
    """Every conv, depthwise, pool and PAD call of the registry's specs, the MLPerf nodes, random shapes and
    random pools, with its output overlapping its input at the least lag its op's contract allows: each
    kernel set keeps the contract (a read of an input byte its own output has overwritten shows)."""
    calls, expected = registry_calls()
    random = random_calls(seed=17, count=300) + random_pool_calls(seed=37, count=120)
    reference = run_calls(build_driver("plain"), random)
    kept = [i for i, (status, _) in enumerate(reference) if status == 0]
    calls += [random[i] for i in kept]
    expected += [np.frombuffer(reference[i][1], np.int8) for i in kept]
    changed = streamed(calls)
    kinds = {calls[i].kernel for i in changed}
    assert kinds == {"eip_conv2d", "eip_depthwise_conv2d", "eip_max_pool2d", "eip_average_pool2d", "eip_pad"}
    overlapping = [i for i in changed if (calls[i].stream_lag or 0) < calls[i].output_nbytes]
    assert len(overlapping) > 0.75 * len(changed)   # most really overlap their input (not the tiniest)
    calls = [calls[i] for i in changed]
    problems = compare(calls, [expected[i] for i in changed], kernel_set.run(calls))
    assert not problems, f"{kernel_set.label}: {len(problems)}/{len(calls)} differ:\n" + "\n".join(problems[:10])


@pytest.mark.host
def test_dsp_requantize_equals_reference_mbqm(tmp_path):
    """The DSP kernels' faster requantization equals fixedpoint.h's eip_mbqm on every shift, the extremes
    and 2 M random operands (host build under UBSan)."""

    kernels = runtime_dir() / "kernels"
    exe = tmp_path / "requantize_check"
    subprocess.run(["gcc", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined",
                    "-fno-sanitize-recover=all", f"-I{kernels}", f"-I{runtime_dir() / 'include'}",
                    str(Path(__file__).parent / "c" / "requantize_check.c"), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe), "2000000"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("0 mismatches")


def test_mve_requantize_equals_reference_mbqm(tmp_path: Path) -> None:
    """The Helium requantization (VQRDMULH, the sign fixup, VRSHL; per lane and with one multiplier) equals
    fixedpoint.h's eip_mbqm on every shift, the int32 extremes and 200 k random lanes, run on qemu-m55."""
    from edgeimpro.boards.build import board_config_header, memory_ld
    from edgeimpro.boards.registry import get_board
    from edgeimpro.firmware import firmware_dir

    board = get_board("qemu-m55")
    common = firmware_dir() / "boards" / "common"
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "eip_board_config.h").write_text(board_config_header(board, "qemu"))
    (gen / "memory.ld").write_text(memory_ld(board))
    elf = tmp_path / "check.elf"
    rt = runtime_dir()
    subprocess.run([CROSS + "gcc", *board.cpu_flags, "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror",
                    f"-I{gen}", f"-I{common}", f"-I{rt / 'include'}", f"-I{rt / 'kernels'}",
                    str(Path(__file__).parent / "c" / "mve_requantize_check.c"), str(common / "startup.c"),
                    str(common / "fatal.c"), "-nostartfiles", "--specs=nano.specs", f"-L{gen}",
                    f"-T{common / 'sections.ld'}", "-o", str(elf)], check=True)
    proc = subprocess.run(["qemu-system-arm", "-M", board.qemu_machine, "-nographic", "-monitor", "none", "-serial",
                           "null", "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the Helium requantization differs from eip_mbqm: {proc.stderr[-500:]}"
