"""Layer by layer: which op first computes something else on the device than in tflite_micro.

The device's layer index is the op index in the .tflite and its dump is the op's first output
(docs/protocol.md, LAYER); tflite_micro's preserved intermediates are keyed by tensor index. Ops run in
index order, so the first op whose output differs is where the divergence starts: every later difference
may only be its consequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeimpro.graph.model import Graph


@dataclass(frozen=True)
class LayerDiff:
    layer: int               # op index
    opcode: str              # e.g. CONV_2D
    elements: int
    differing: int           # elements that differ
    max_abs: int             # largest difference in int8 steps (-1: the dump has another size)

    @property
    def exact(self) -> bool:
        return self.differing == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Divergence:
    layers: list[LayerDiff]              # every layer the device dumped, in op order
    first: LayerDiff | None              # the first that differs; None: all layers identical
    missing: list[int]                   # ops the device did not dump (a conv run fused with its pool has none)


def layer_divergence(graph: Graph, device_layers: Mapping[int, Any], expected: Mapping[int, np.ndarray]
                     ) -> Divergence:
    """Compare each dumped layer (`device_layers`: op index -> object with a flat int8 `.data`, as
    `Device.layers()` returns) with tflite_micro's tensors (`expected`: tensor index -> array)."""
    out: list[LayerDiff] = []
    missing: list[int] = []
    for op in graph.ops:
        dumped = device_layers.get(op.index)
        if (dumped is None or not op.outputs or op.outputs[0] not in expected
                or np.asarray(dumped.data).size == 0):   # no bytes: a conv fused with its pool, never whole
            missing.append(op.index)
            continue
        got = np.asarray(dumped.data).reshape(-1).astype(np.int16)
        want = np.asarray(expected[op.outputs[0]]).reshape(-1).astype(np.int16)
        if got.size != want.size:
            out.append(LayerDiff(op.index, op.opcode, int(want.size), int(want.size), -1))
            continue
        delta = np.abs(got - want)
        out.append(LayerDiff(op.index, op.opcode, int(want.size), int(np.count_nonzero(delta)),
                             int(delta.max()) if delta.size else 0))
    first = next((x for x in out if not x.exact), None)
    return Divergence(out, first, missing)
