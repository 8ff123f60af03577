"""Test specifications: the single-op models each op's kernel is checked on against tflite_micro, on every
kernel set. A spec is plain JSON data read by the model builder of the test suite (tests/kernel_models.py):
the layer kind, input shapes, the float range of each input's representative data (which sets scale and
zero point: [0, hi] gives zero point -128, [lo, 0] gives 127, tiny or huge spans give extreme scales), the
layer's parameters and a seed for its weights."""

from __future__ import annotations

from typing import Any

import numpy as np

Spec = dict[str, Any]


def spec(layer: str, inputs: list[list[int]], ranges: list[list[float]], seed: int = 0, **kw: Any) -> Spec:
    return {"layer": layer, "inputs": inputs, "ranges": ranges, "seed": seed, **kw}


def random_specs(op: str, count: int, seed: int) -> list[Spec]:
    """Random shapes and parameters for the ops whose parameter space is large."""
    rng = np.random.default_rng(seed)
    out: list[Spec] = []
    ranges = [[-1.0, 1.0], [0.0, 4.0], [-3.0, 0.0], [-0.002, 0.003], [-300.0, 200.0], [-0.5, 6.0]]
    acts = ["none", "relu", "relu6"]
    for i in range(count):
        h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        c = int(rng.integers(1, 9))
        r = ranges[int(rng.integers(len(ranges)))]
        act = acts[int(rng.integers(3))]
        k = int(rng.integers(1, 4))
        stride = int(rng.integers(1, 4))
        padding = "same" if rng.random() < 0.5 else "valid"
        if padding == "valid":
            h, w = max(h, k), max(w, k)
        if op == "CONV_2D":
            out.append(spec("conv", [[h, w, c]], [r], seed + i, filters=int(rng.integers(1, 9)), kernel=[k, k],
                            strides=[stride, stride], padding=padding, dilation=[1, 1], act=act,
                            bias=bool(rng.random() < 0.8)))
        elif op == "DEPTHWISE_CONV_2D":
            out.append(spec("dwconv", [[h, w, c]], [r], seed + i, kernel=[k, k], strides=[stride, stride],
                            padding=padding, dilation=[1, 1], multiplier=int(rng.integers(1, 4)), act=act,
                            bias=bool(rng.random() < 0.8)))
        elif op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            out.append(spec("maxpool" if op == "MAX_POOL_2D" else "avgpool", [[h, w, c]], [r], seed + i,
                            pool=[k, k], strides=[stride, stride], padding=padding, act="none"))
    return out
