"""Streaming contracts: how every kernel set of an op walks its first input while it writes its output.

The memory planner may place an op's output over the part of its input the op has consumed (issue 13): the
output starts `lag` bytes *below* the input's first byte, so output byte i lands on input byte i - lag. That
is safe when no output byte is written over an input byte the kernel will still read. The contract an op
declares (`OpDef.stream`, from the op's params record, the same record the kernels get) says, for every
output unit (a pixel's channels, in the raster order the kernels complete them):
  - `first_read[q]`: the lowest input byte unit q's window reads (its clamped top-left tap, channel 0), or
    NO_READ when it reads none (a PAD row in the padding);
  - `pending[q]`: the first unit whose window a kernel may still read once any byte of unit q is written:
    q - group + 1 for kernels that compute `group` pixels at a time (their writes may precede the reads of
    the group's other pixels), the row's first pixel for kernels that finish a row a channel block at a
    time. The one value holds for every kernel set (reference, Arm DSP, Helium): the largest group wins.
`min_lag` is the least lag the contract allows; `clobbered_read` replays the contract against a lag and
returns the first unit whose pending reads a write would have overwritten (None: safe), the check the planner
runs on every placement it makes. The kernel suite runs every op's tests with its output placed at the
planner's lag, on every kernel set, so a kernel that breaks its op's contract fails there.

Pure Python + numpy: no TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_READ = np.iinfo(np.int64).max
ROW = 0   # `group` for kernels that finish an output row a channel block at a time


@dataclass(frozen=True)
class Stream:
    """One op's streaming contract for its current shapes (see the module docstring)."""

    in_bytes: int
    out_bytes: int
    unit_bytes: int          # bytes of one output unit (a pixel's channels)
    first_read: np.ndarray   # int64 [units]
    pending: np.ndarray      # int64 [units], each <= its own index

    def min_lag(self) -> int:
        """The least lag (bytes the output starts below the input) under which no pending read is clobbered."""
        units = len(self.first_read)
        if units == 0:
            return 0
        reads = _suffix_min(self.first_read)[self.pending]      # the lowest byte still to be read
        written_end = (np.arange(units, dtype=np.int64) + 1) * self.unit_bytes
        need = written_end - reads                               # NO_READ: nothing pending, no constraint
        return int(max(0, need.max()))

    def clobbered_read(self, lag: int) -> int | None:
        """Replay the contract with the output `lag` bytes below the input: walk the output units in order,
        keep the highest input byte the writes so far have covered, and return the first unit after whose
        write a pending read lies at or below it (None: every read sees the input)."""
        units = len(self.first_read)
        # after unit q's write: the highest input byte overwritten, and the lowest one still to be read
        covered = np.maximum.accumulate((np.arange(units, dtype=np.int64) + 1) * self.unit_bytes - 1 - lag)
        low = _suffix_min(self.first_read)[self.pending] if units else np.zeros(0, np.int64)
        bad = np.flatnonzero((low != NO_READ) & (low <= covered))
        return int(bad[0]) if bad.size else None


def _suffix_min(a: np.ndarray) -> np.ndarray:
    return np.minimum.accumulate(a[::-1])[::-1]


def window_stream(batches: int, in_hwc: tuple[int, int, int], out_hwc: tuple[int, int, int],
                  stride: tuple[int, int], pad: tuple[int, int], extent: tuple[int, int], group: int) -> Stream:
    """The contract of a kernel whose output pixel (y, x) reads the window of rows y * stride_h - pad_top ..
    + extent_h - 1 and the matching columns (conv, depthwise, pooling; extent counts dilation), `group`
    pixels at a time (ROW: a row at a time)."""
    (h, w, c), (oh, ow, oc) = in_hwc, out_hwc
    y = np.arange(oh, dtype=np.int64) * stride[0] - pad[0]
    x = np.arange(ow, dtype=np.int64) * stride[1] - pad[1]
    rows_hit = (y + extent[0] > 0) & (y < h)
    cols_hit = (x + extent[1] > 0) & (x < w)
    start = (np.clip(y, 0, h)[:, None] * w + np.clip(x, 0, w)[None, :]) * c
    start = np.where(rows_hit[:, None] & cols_hit[None, :], start, NO_READ)
    per_batch = h * w * c
    first = np.concatenate([np.where(start == NO_READ, NO_READ, start + b * per_batch).ravel()
                            for b in range(batches)]) if batches > 0 else np.zeros(0, np.int64)
    q = np.arange(len(first), dtype=np.int64)
    pending = (q // ow) * ow if group == ROW else np.maximum(0, q - group + 1)
    return Stream(in_bytes=batches * per_batch, out_bytes=batches * oh * ow * oc, unit_bytes=oc,
                  first_read=first, pending=pending)


def pad_stream(in_dims: tuple[int, ...], before: tuple[int, ...], after: tuple[int, ...]) -> Stream:
    """PAD's contract: the kernel walks the output's rows of the last dimension in order, each filled and
    copied from the input row it maps to (if any) before the next."""
    lead_in = np.array(in_dims[:-1], np.int64)
    lead_out = lead_in + np.array(before[:-1], np.int64) + np.array(after[:-1], np.int64)
    units = int(np.prod(lead_out))
    idx = np.stack(np.unravel_index(np.arange(units), tuple(lead_out)), axis=1) - np.array(before[:-1], np.int64)
    inside = np.all((idx >= 0) & (idx < lead_in), axis=1)
    flat = np.ravel_multi_index(tuple(np.clip(idx, 0, lead_in - 1).T), tuple(lead_in)) if units else np.zeros(0)
    row = int(in_dims[-1])
    first = np.where(inside, np.asarray(flat, np.int64) * row, NO_READ)
    out_row = int(before[-1] + in_dims[-1] + after[-1])
    return Stream(in_bytes=int(np.prod(lead_in)) * row, out_bytes=units * out_row, unit_bytes=out_row,
                  first_read=first, pending=np.arange(units, dtype=np.int64))
