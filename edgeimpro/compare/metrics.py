"""Device vs reference metrics: per input (`diff_outputs`), then over a run (`aggregate`). Pure numpy.

Outputs are compared in the int8 output domain ("steps": one step = one int8 level = the output scale).
A float reference (Keras) is mapped into that domain as y / scale + zero_point, unrounded, so its
differences are fractional steps. Per input we keep sums, not arrays, so a run of any length (and a
resumed one) aggregates from results.jsonl alone:

| metric | definition (d: device, r: reference, both dequantized to floats unless "steps") |
|---|---|
| exact-match rate | inputs whose whole output equals the reference's (float reference: its int8 rounding) |
| max abs diff | max over elements of abs(d - r), in int8 steps |
| MAE, RMSE | mean and root mean square of d - r over all elements, in float units (and steps) |
| L2 relative error | norm(d - r) / norm(r) over all elements of all inputs (X-CUBE-AI's l2r) |
| cosine similarity | d . r / (norm(d) norm(r)) over all elements of all inputs |
| top-1 agreement | inputs where argmax of output 0 is the same |
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class OutputQuant:
    """Per-element scale and zero point of the concatenated (flattened) outputs, and output 0's length."""
    scale: np.ndarray        # float64, one per element
    zero_point: np.ndarray   # float64, one per element
    head: int                # elements of output 0 (top-1 is taken over these)

    @classmethod
    def from_outputs(cls, outputs: Sequence[tuple[int, float | None, int | None]]) -> OutputQuant:
        """From (elements, scale, zero point) of each output; an unquantized output counts with scale 1."""
        scale = np.concatenate([np.full(n, 1.0 if s is None else float(s)) for n, s, _ in outputs])
        zero = np.concatenate([np.full(n, 0.0 if z is None else float(z)) for n, _, z in outputs])
        return cls(scale, zero, outputs[0][0])

    def to_steps(self, values: np.ndarray) -> np.ndarray:
        """Float outputs -> the int8 output domain (unrounded)."""
        return np.asarray(values, np.float64).reshape(-1) / self.scale + self.zero_point

    def dequantize(self, steps: np.ndarray) -> np.ndarray:
        return (np.asarray(steps, np.float64).reshape(-1) - self.zero_point) * self.scale


def flat(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """Several outputs as one flat vector, in output order."""
    return np.concatenate([np.asarray(o).reshape(-1) for o in outputs])


def top1(steps: np.ndarray, head: int) -> int:
    """Argmax of output 0 (the first of equal maxima, as numpy's argmax)."""
    return int(np.argmax(np.asarray(steps).reshape(-1)[:head]))


@dataclass(frozen=True)
class Diff:
    """One input against one reference; sums so that a run aggregates without the arrays."""
    n: int
    exact: bool
    max_abs: float               # steps
    sum_abs: float               # float units
    sum_sq: float                # float units
    sum_abs_steps: float
    dot: float                   # sum of d * r, float units
    dev_sq: float                # sum of d * d
    ref_sq: float                # sum of r * r
    top1: int                    # the reference's top-1
    top1_agree: bool
    differing: int               # elements that differ (float reference: after rounding)
    hist: dict[str, int] = field(default_factory=dict)   # d - r as int8 (a float r rounded) -> count, no zeros

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("max_abs", "sum_abs", "sum_sq", "sum_abs_steps", "dot", "dev_sq", "ref_sq"):
            d[k] = float(f"{d[k]:.9g}")
        return d


def diff_outputs(device: np.ndarray, reference: np.ndarray, quant: OutputQuant, float_reference: bool = False) -> Diff:
    """Compare the device's flat int8 output with a reference's: int8 (same domain) or, with
    `float_reference`, float values (mapped into steps with the output quantization)."""
    d = np.asarray(device).reshape(-1).astype(np.int64)
    if float_reference:
        r_steps = quant.to_steps(reference)
        r_float = np.asarray(reference, np.float64).reshape(-1)
        r_int = np.clip(np.round(r_steps), -128, 127).astype(np.int64)
    else:
        r_int = np.asarray(reference).reshape(-1).astype(np.int64)
        r_steps = r_int.astype(np.float64)
        r_float = quant.dequantize(r_int)
    if d.shape != r_int.shape:
        raise ValueError(f"device output has {d.size} elements, the reference {r_int.size}")
    d_float = quant.dequantize(d)
    delta_steps = d - r_steps
    delta = d_float - r_float
    int_delta = d - r_int
    values, counts = np.unique(int_delta[int_delta != 0], return_counts=True)
    ref_top1 = top1(r_steps, quant.head)
    return Diff(
        n=int(d.size),
        exact=bool(np.array_equal(d, r_int)),
        max_abs=float(np.max(np.abs(delta_steps))) if d.size else 0.0,
        sum_abs=float(np.abs(delta).sum()),
        sum_sq=float((delta * delta).sum()),
        sum_abs_steps=float(np.abs(delta_steps).sum()),
        dot=float((d_float * r_float).sum()),
        dev_sq=float((d_float * d_float).sum()),
        ref_sq=float((r_float * r_float).sum()),
        top1=ref_top1,
        top1_agree=top1(d, quant.head) == ref_top1,
        differing=int(np.count_nonzero(d != r_int)),
        hist={str(int(v)): int(c) for v, c in zip(values, counts, strict=True)},
    )


class DiffSums(Protocol):
    """What `aggregate` reads of one input's comparison: a `Diff`, or results.jsonl's `records.RefResult`."""
    n: int
    exact: bool
    max_abs: float
    sum_abs: float
    sum_sq: float
    sum_abs_steps: float
    dot: float
    dev_sq: float
    ref_sq: float
    top1_agree: bool
    differing: int
    hist: dict[str, int]


def aggregate(diffs: Iterable[DiffSums]) -> dict[str, Any]:
    """Run totals from per-input comparisons with one reference (see the module docstring)."""
    n_inputs = n = exact = agree = differing = 0
    max_abs = sum_abs = sum_sq = sum_abs_steps = dot = dev_sq = ref_sq = 0.0
    hist: dict[int, int] = {}
    for x in diffs:
        n_inputs += 1
        n += x.n
        exact += bool(x.exact)
        agree += bool(x.top1_agree)
        differing += x.differing
        max_abs = max(max_abs, x.max_abs)
        sum_abs += x.sum_abs
        sum_sq += x.sum_sq
        sum_abs_steps += x.sum_abs_steps
        dot += x.dot
        dev_sq += x.dev_sq
        ref_sq += x.ref_sq
        for k, c in x.hist.items():
            hist[int(k)] = hist.get(int(k), 0) + c
    if n_inputs == 0:
        return {"inputs": 0}
    zeros = n - sum(hist.values())
    if zeros:
        hist[0] = zeros
    err_norm = math.sqrt(sum_sq)
    return {
        "inputs": n_inputs,
        "elements": n,
        "exact_inputs": exact,
        "exact_rate": exact / n_inputs,
        "differing_elements": differing,
        "max_abs_diff_steps": max_abs,
        "mae": sum_abs / n,
        "mae_steps": sum_abs_steps / n,
        "rmse": math.sqrt(sum_sq / n),
        "l2_relative_error": err_norm / math.sqrt(ref_sq) if ref_sq > 0 else (0.0 if err_norm == 0 else math.inf),
        "cosine_similarity": dot / math.sqrt(dev_sq * ref_sq) if dev_sq > 0 and ref_sq > 0 else
        (1.0 if dev_sq == ref_sq == 0 else 0.0),
        "top1_agreement": agree / n_inputs,
        "top1_agree_inputs": agree,
        "diff_histogram": {str(k): hist[k] for k in sorted(hist)},
    }


def confusion_matrix(truth: Sequence[int], predicted: Sequence[int], classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    m = np.zeros((classes, classes), np.int64)
    for t, p in zip(truth, predicted, strict=True):
        m[t, p] += 1
    return m


def per_class_table(truth: Sequence[int], predictions: dict[str, Sequence[int]], class_names: Sequence[str]
                    ) -> list[dict[str, Any]]:
    """One row per class with support and, for each predictor (device, references), recall (accuracy on
    that class's inputs) and precision."""
    t = np.asarray(truth, np.int64)
    rows = []
    for k, name in enumerate(class_names):
        support = int((t == k).sum())
        row: dict[str, Any] = {"class": name, "support": support}
        for who, preds in predictions.items():
            p = np.asarray(preds, np.int64)
            hit = int(((t == k) & (p == k)).sum())
            predicted = int((p == k).sum())
            row[who] = {"recall": hit / support if support else None,
                        "precision": hit / predicted if predicted else None}
        rows.append(row)
    return rows
