"""PAD and PADV2 (INT8_SEMANTICS §3.17): a raw copy with padded cells set to one code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.base import MAX_DIMS, KernelParams, OpDef, array_field
from edgeimpro.ops.prepare import int8_activation, optional_input, padded_shape, tensor_at, unsupported
from edgeimpro.ops.stream import Stream, pad_stream
from edgeimpro.ops.testspec import spec


@dataclass(frozen=True)
class PadParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_pad_params_t"
    C_DOC: ClassVar[str] = 'PAD / PADV2: raw copy, padded cells get pad_value. Shapes padded to EIP_MAX_DIMS with leading 1s.'
    in_dims: tuple[int, ...] = array_field()
    pad_before: tuple[int, ...] = array_field()
    pad_after: tuple[int, ...] = array_field()
    pad_value: int


def prepare(graph: Graph, op: Op) -> PadParams:
    """PAD / PADV2 (§3.17): raw copy; padded cells get the output zero point (PAD) or the constant (PADV2)."""
    x, p, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 1, "paddings"), tensor_at(graph, op, 0, "output", True)
    int8_activation(op, x, "input")
    s_out, z_out = int8_activation(op, y, "output")
    if p.data is None:
        raise unsupported(op, "the paddings tensor is not a constant")
    rank = len(x.shape)
    pads = np.asarray(p.data).reshape(-1, 2)
    if pads.shape[0] != rank or rank > MAX_DIMS or (pads < 0).any():
        raise unsupported(op, f"paddings {pads.tolist()} do not fit input rank {rank} (or are negative)")
    out_shape = [int(d + a + b) for d, (a, b) in zip(x.shape, pads.tolist(), strict=True)]
    if out_shape != list(y.shape):
        raise unsupported(op, f"output {list(y.shape)} is not the padded input {out_shape}")
    value = z_out
    constant = optional_input(graph, op, 2) if op.opcode == "PADV2" else None
    if constant is not None:
        if constant.data is None or constant.dtype != "int8" or constant.size != 1:
            raise unsupported(op, "the constant_values tensor must be a constant int8 scalar")
        s_c, z_c = int8_activation(op, constant, "constant_values")
        if np.float32(s_c) != np.float32(s_out) or z_c != z_out:
            raise unsupported(op, "constant_values quantization differs from the output's")
        value = int(np.asarray(constant.data).reshape(-1)[0])
    lead = [0] * (MAX_DIMS - rank)
    return PadParams(in_dims=tuple(padded_shape(x.shape)), pad_before=tuple(lead + [int(a) for a in pads[:, 0]]),
                     pad_after=tuple(lead + [int(b) for b in pads[:, 1]]), pad_value=value)


TESTS = (
    spec("zeropad", [[4, 5, 3]], [[-1, 1]], 151, pads=[[1, 2], [0, 3]]),
    spec("zeropad", [[1, 1, 2]], [[0, 2]], 152, pads=[[1, 1], [1, 1]]),
    spec("pad", [[3, 4, 2]], [[-2, 0]], 153, pads=[[0, 0], [1, 0], [0, 2], [1, 2]], value=0.0),
    spec("pad", [[5, 3, 2]], [[-1, 3]], 154, pads=[[0, 0], [2, 1], [1, 1], [0, 0]], value=0.5),
    spec("pad", [[6, 2]], [[-50, 50]], 155, pads=[[0, 0], [3, 1], [0, 4]], value=0.0),
    spec("pad", [[2, 2, 3]], [[-1, 1]], 156, pads=[[0, 0], [0, 0], [0, 0], [2, 3]], value=-0.25),
)


def stream(p: PadParams) -> Stream:
    return pad_stream(p.in_dims, p.pad_before, p.pad_after)


OPS = (
    OpDef("PAD", "eip_pad", PadParams, prepare, stream=stream, tests=TESTS, tested_with=frozenset({"PADV2"})),
    OpDef("PADV2", "eip_pad", PadParams, prepare, stream=stream),   # tested by PAD's models (the converter emits both)
)
