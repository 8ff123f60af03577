"""RESHAPE (INT8_SEMANTICS §3.20): the planner aliases output and input; a byte copy otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops import options as opt
from edgeimpro.ops.base import ALWAYS, KernelParams, OpDef
from edgeimpro.ops.prepare import tensor_at, unsupported
from edgeimpro.ops.testspec import spec


@dataclass(frozen=True)
class ReshapeParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_reshape_params_t"
    C_DOC: ClassVar[str] = 'RESHAPE when the planner cannot alias input and output: a byte copy.'
    size: int


def prepare(graph: Graph, op: Op) -> ReshapeParams:
    """RESHAPE (§3.20): a byte copy (or an alias, decided by the planner)."""
    x, y = tensor_at(graph, op, 0, "input"), tensor_at(graph, op, 0, "output", True)
    if x.nbytes != y.nbytes:
        raise unsupported(op, f"input {list(x.shape)} and output {list(y.shape)} hold different byte counts")
    return ReshapeParams(size=x.nbytes)


TESTS = (
    spec("reshape", [[4, 6, 2]], [[-1, 1]], 181, target=[12, 4]),
    spec("reshape", [[3, 3, 3]], [[0, 2]], 182, target=[27]),
    spec("flatten", [[2, 5, 3]], [[-3, 1]], 183),
    spec("reshape", [[1, 1, 5]], [[-300, 2]], 184, target=[5]),
)


OPS = (OpDef("RESHAPE", "eip_reshape", ReshapeParams, prepare, in_place=ALWAYS, alias=True,
              options=("ReshapeOptions", opt.reshape), tests=TESTS),)
