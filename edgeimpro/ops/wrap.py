"""Int32 wrap-around: where TFLM's arithmetic overflows int32 for some inputs, the runtime wraps exactly as
TFLM's compiled code does, and the export names the layer (each op's `wrap` builds its warning here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.prepare import accumulator_range, bias_values


@dataclass(frozen=True)
class WrapWarning:
    """One layer whose int32 value (an accumulator, an input offset, a product) leaves the range that survives
    its pre-shift by 2^shift for some int8 inputs. TFLM's compiled code then wraps around in two's complement,
    and so does the runtime, bit for bit; the layer's outputs for those inputs carry no meaning."""

    op_index: int
    opcode: str
    value: str                  # what wraps: "the accumulator", "x - z_in", ...
    reach: tuple[int, int]      # the range `value` covers over all int8 inputs
    safe: tuple[int, int]       # the range that does not wrap
    shift: int                  # the multiplier pre-shift (0: the int32 arithmetic itself overflows)
    channel: int | None = None  # per-channel ops: the channel reaching furthest beyond `safe`
    channels: int = 0           # per-channel ops: how many channels can wrap
    codes: str = ""             # elementwise ops: the input codes that wrap

    def __str__(self) -> str:
        where = f"op {self.op_index} ({self.opcode})"
        if self.channel is not None:
            where += f" channel {self.channel}" + (f" (and {self.channels - 1} more)" if self.channels > 1 else "")
        step = f"the int32 pre-shift by 2^{self.shift}" if self.shift > 0 else "int32"
        codes = f" ({self.codes})" if self.codes else ""
        return (f"{where}: {self.value} reaches [{self.reach[0]:,}, {self.reach[1]:,}]{codes} but wraps around "
                f"outside [{self.safe[0]:,}, {self.safe[1]:,}] in {step}; TFLM wraps the same way and the export "
                "matches it bit for bit, but outputs for such inputs are meaningless: recalibrate the quantization")


def safe_range(shift: int) -> tuple[int, int]:
    """Values v whose v * 2^max(shift, 0) fits int32."""
    s = max(shift, 0)
    return -(2 ** (31 - s)), 2 ** (31 - s) - 1


def offset_range(zero_point: int) -> tuple[int, int]:
    """x - zero_point over the int8 codes x."""
    return -128 - zero_point, 127 - zero_point


def codes_outside(zero_point: int, safe: tuple[int, int]) -> str:
    """The int8 codes x whose x - zero_point falls outside `safe`, in words."""
    lo, hi = zero_point + safe[0], zero_point + safe[1]
    parts = ([f"below {lo}"] if lo > -128 else []) + ([f"above {hi}"] if hi < 127 else [])
    return "input codes " + " or ".join(parts) if parts else ""


def mac_wrap(graph: Graph, op: Op, weights: np.ndarray, weights_zp: int, in_zp: int, shifts: tuple[int, ...]
              ) -> WrapWarning | None:
    """CONV / DEPTHWISE / FC, `weights` as [channels, taps]: the exact range of every channel's accumulator
    (bias included) against what its pre-shift leaves; one warning naming the worst channel."""
    lo, hi = accumulator_range(weights, weights_zp, in_zp, bias_values(graph, op))
    safe = [safe_range(shift) for shift in shifts]
    wrapping = [c for c, (s_lo, s_hi) in enumerate(safe) if lo[c] < s_lo or hi[c] > s_hi]
    if not wrapping:
        return None
    c = max(wrapping, key=lambda k: max(int(lo[k]) / safe[k][0], int(hi[k]) / (safe[k][1] + 1)))
    return WrapWarning(op.index, op.opcode, "the accumulator", (int(lo[c]), int(hi[c])), safe[c],
                       max(shifts[c], 0), channel=c, channels=len(wrapping))


def elementwise_wrap(op: Op, value: str, reach: tuple[int, int], safe: tuple[int, int], shift: int,
                      codes: str = "") -> WrapWarning | None:
    if safe[0] <= reach[0] and reach[1] <= safe[1]:
        return None
    return WrapWarning(op.index, op.opcode, value, reach, safe, max(shift, 0), codes=codes)
