"""TFLM's integer primitives computed at load time (INT8_SEMANTICS §2): multipliers, clamps, padding."""

from __future__ import annotations

import math

import numpy as np

from edgeimpro.ops.base import INT32_MAX, INT32_MIN

ADD_LEFT_SHIFT = 20     # TFLM's int8 ADD pre-shift
SOFTMAX_OUTPUT_SCALE = np.float32(1.0 / 256.0)
MAX_PRE_SHIFT = 31  # TFLM's `x * (1 << shift)`: undefined beyond 31, and x86 and Cortex-M then disagree


def round_away(x: float) -> int:
    """C `round`/`roundf`: nearest integer, halves away from zero (exact on the binary value)."""
    t = math.trunc(x)
    frac = x - t      # exact for binary floating point
    if abs(frac) >= 0.5:
        t += 1 if x > 0 else -1
    return int(t)


def quantize_multiplier(d: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier (§2.3): d ~= M * 2^(s - 31), M a Q0.31 mantissa. No clamp of s at +30."""
    if d == 0:
        return 0, 0
    m, e = math.frexp(d)
    q = round_away(m * 2.0**31)
    if q == 2**31:
        q, e = 2**30, e + 1
    if e < -31:
        return 0, 0
    return q, e


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """Fused activation clamp on int8 codes (CalculateActivationRangeQuantized, §2.5)."""

    def q(f: float) -> int:
        with np.errstate(over="ignore"):
            ratio = float(np.float32(f) / np.float32(scale))  # float32 division, as TFLM
        if not (math.isfinite(ratio) and INT32_MIN <= round_away(ratio) <= INT32_MAX):
            raise ValueError(f"{activation} bound {f} / output scale {scale:.6g} overflows int32")
        return zero_point + round_away(ratio)

    if activation == "NONE":
        return -128, 127
    if activation == "RELU":
        return max(-128, zero_point), 127
    if activation == "RELU6":
        return max(-128, zero_point), min(127, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(-128, q(-1.0)), min(127, q(1.0))
    raise ValueError(f"fused activation {activation}")


def compute_padding(padding: str, in_size: int, filter_size: int, stride: int, dilation: int = 1
                    ) -> tuple[int, int]:
    """(output size, padding before) along one axis (§2.6); the odd remainder goes after implicitly."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
    elif padding == "VALID":
        out = (in_size - effective) // stride + 1
    else:
        raise ValueError(f"padding {padding}")
    total = max(0, (out - 1) * stride + effective - in_size)
    return out, total // 2
