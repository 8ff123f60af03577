"""Typed view of a .tflite model: tensors, ops and quantization. Plain data, no TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

DTYPE_BYTES = {
    "int8": 1, "uint8": 1, "bool": 1, "int16": 2, "float16": 2, "int32": 4, "float32": 4,
    "int64": 8, "float64": 8, "int4": 1, "uint16": 2, "uint32": 4, "complex64": 8, "string": 1,
}


@dataclass(frozen=True)
class Quantization:
    scale: np.ndarray             # float32, one per channel (per-channel) or one element
    zero_point: np.ndarray        # int64, same length as scale
    quantized_dimension: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def scalar(self) -> tuple[float, int]:
        """(scale, zero_point) of a per-tensor quantization."""
        return float(self.scale[0]), int(self.zero_point[0])


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None = None
    data: np.ndarray | None = None     # constant contents (weights, biases, shape tensors), shaped
    shape_signature: tuple[int, ...] | None = None
    is_variable: bool = False

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * DTYPE_BYTES.get(self.dtype, 1)

    @property
    def dynamic(self) -> bool:
        return self.shape_signature is not None and any(d < 0 for d in self.shape_signature)


@dataclass
class Op:
    index: int
    opcode: str                      # builtin name, e.g. "CONV_2D"; custom ops: "CUSTOM:<name>"
    inputs: list[int]                # tensor indices; -1 marks an absent optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    options_type: str = ""           # the BuiltinOptions table in the file, e.g. "Conv2DOptions" ("": none)

    def input_tensors(self, graph: Graph) -> list[Tensor | None]:
        return [graph.tensors[i] if i >= 0 else None for i in self.inputs]

    def output_tensors(self, graph: Graph) -> list[Tensor]:
        return [graph.tensors[i] for i in self.outputs]


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    sha256: str
    size_bytes: int
    schema_version: int = 3
    description: str = ""
    subgraph_count: int = 1

    @property
    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]

    @property
    def opcodes(self) -> list[str]:
        """Distinct op names in first-use order."""
        seen: dict[str, None] = {}
        for op in self.ops:
            seen.setdefault(op.opcode, None)
        return list(seen)

    def producers(self) -> dict[int, int]:
        """tensor index -> index of the op that writes it."""
        return {t: op.index for op in self.ops for t in op.outputs}

    def consumers(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for op in self.ops:
            for t in op.inputs:
                if t >= 0:
                    out.setdefault(t, []).append(op.index)
        return out

    def activation_tensors(self) -> list[int]:
        """Non-constant tensors (inputs, outputs, intermediates): what lives in the arena."""
        used = {t for op in self.ops for t in op.inputs + op.outputs if t >= 0}
        used |= set(self.inputs) | set(self.outputs)
        return sorted(t for t in used if not self.tensors[t].is_constant)
