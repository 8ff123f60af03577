"""The op registry: every op the int8 runtime runs, declared once, in one module per op.

An op module (e.g. `conv2d.py`) defines its params record (which *is* its C struct: `eip_kernels.h` is
generated from the records by `edgeimpro.ops.header`), its prepare function (TFLM's Prepare arithmetic for
the op, INT8_SEMANTICS.md, and the part of it that is TFLM's own refusal), its calling convention, its
in-place / alias properties, its options parser, its `inspect` summary, its int32 wrap analysis and its
test specification, and lists them in `OPS`. Validation (`graph.validate`), code generation
(`codegen.aot`), the memory planner, `inspect` and the kernel test suite all read this registry.

Adding an op: one module here (added to `MODULES`), one C kernel file in firmware/runtime/kernels/, the
header regenerated (`python -m edgeimpro.ops.header`), and its test specs. `register()` adds an op module
from anywhere (the tests add a toy op that way).

Pure Python + numpy: no TensorFlow.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import tflite

from edgeimpro.errors import UnsupportedOpError
from edgeimpro.graph.model import Graph, Op
from edgeimpro.ops.arith import (
    ADD_LEFT_SHIFT,
    SOFTMAX_OUTPUT_SCALE,
    activation_range,
    compute_padding,
    quantize_multiplier,
    round_away,
)
from edgeimpro.ops.base import (
    ARRAY,
    MAX_DIMS,
    NEVER,
    POINTER,
    RUNTIME_ABI_VERSION,
    SAME_SHAPES,
    SCALAR,
    KernelParams,
    OpDef,
    Refusal,
)
from edgeimpro.ops.stream import Stream
from edgeimpro.ops.wrap import WrapWarning

MODULES = ("conv2d", "depthwise_conv2d", "fully_connected", "pool2d", "add", "mul", "mean", "softmax", "logistic",
           "hard_swish", "leaky_relu", "relu", "relu6", "pad", "concatenation", "quantize", "reshape")

REGISTRY: dict[str, OpDef] = {}


def register(module: ModuleType) -> list[OpDef]:
    """Add the ops an op module declares in its `OPS`; an opcode already registered is an error."""
    added = list(module.OPS)
    codes = [op.opcode for op in added]
    twice = sorted({c for c in codes if c in REGISTRY or codes.count(c) > 1})
    if twice:   # checked before any is added: a refused module leaves the registry as it was
        raise ValueError(f"op {', '.join(twice)} is registered twice ({module.__name__})")
    for op in added:
        REGISTRY[op.opcode] = op
    return added


@contextmanager
def extra_ops(module: ModuleType) -> Iterator[list[OpDef]]:
    """The registry with `module`'s ops added for the duration (an op defined outside this package)."""
    added = register(module)
    try:
        yield added
    finally:
        for op in added:
            REGISTRY.pop(op.opcode, None)


for _name in MODULES:
    register(importlib.import_module(f"edgeimpro.ops.{_name}"))


def get(opcode: str) -> OpDef | None:
    return REGISTRY.get(opcode)


def supported() -> list[str]:
    return sorted(REGISTRY)


def params_classes() -> list[type[KernelParams]]:
    """Every params record, once, in registry order (the order of the structs in eip_kernels.h)."""
    return list(dict.fromkeys(op.params for op in REGISTRY.values()))


def kernels() -> list[OpDef]:
    """One op per C entry point (PADV2 shares eip_pad with PAD), in registry order."""
    seen: dict[str, OpDef] = {}
    for op in REGISTRY.values():
        seen.setdefault(op.kernel, op)
    return list(seen.values())


def external_sources() -> list[Path]:
    """Kernel files of ops registered from outside the runtime (an OpDef whose `source` is an absolute path):
    the host builds compile them beside the runtime."""
    return list(dict.fromkeys(Path(op.source) for op in REGISTRY.values() if op.source and Path(op.source).is_absolute()))


def _unsupported_hint() -> str:
    return f"supported operators: {', '.join(supported())}"


def refusal(graph: Graph, op: Op) -> Refusal | None:
    """TFLM's own refusal of `op` at its int8 Prepare (None when TFLM prepares it, the op is not registered,
    or its first input and output are not quantized int8: 16x8 and float ops have other rules)."""
    spec = REGISTRY.get(op.opcode)
    if spec is None or spec.refusal is None:
        return None
    ends = [graph.tensors[i] for i in op.inputs[:1] + op.outputs[:1] if i >= 0]
    if len(ends) != 2 or any(t.dtype != "int8" or t.quantization is None for t in ends):
        return None
    return spec.refusal(graph, op)


def refusal_error(op: Op, refused: Refusal) -> UnsupportedOpError:
    what = "TFLite Micro aborts on it" if refused.aborts else "TFLite Micro refuses to prepare it"
    return UnsupportedOpError(f"op {op.index} ({op.opcode}): {refused.problem}: {what}", hint=refused.hint)


def op_params(graph: Graph, op: Op) -> KernelParams:
    """The integer params record of one op, as TFLM's Prepare derives it. Raises UnsupportedOpError for what
    TFLM refuses or aborts on and for what the runtime cannot run."""
    spec = REGISTRY.get(op.opcode)
    if spec is None:
        raise UnsupportedOpError(f"op {op.index} ({op.opcode}): operator not supported by the int8 runtime",
                                 hint=_unsupported_hint())
    refused = refusal(graph, op)
    if refused is not None:
        raise refusal_error(op, refused)
    params = spec.prepare(graph, op)
    bad = params.out_of_range_field()
    if bad is not None:
        raise UnsupportedOpError(f"op {op.index} ({op.opcode}): parameter {bad} = {getattr(params, bad)} does not "
                                 "fit the int32 params struct", hint="this model cannot run on the int8 runtime")
    return params


def kernel_name(opcode: str) -> str:
    """C entry point of an opcode, e.g. "CONV_2D" -> "eip_conv2d"."""
    spec = REGISTRY.get(opcode)
    if spec is None:
        raise UnsupportedOpError(f"operator {opcode} is not supported by the int8 runtime", hint=_unsupported_hint())
    return spec.kernel


def builtin_code(opcode: str) -> int:
    """TFLite BuiltinOperator number of an opcode name (what the layer hook reports)."""
    code = getattr(tflite.BuiltinOperator, opcode, None)
    if not isinstance(code, int):
        raise UnsupportedOpError(f"operator {opcode} is not a TFLite builtin")
    return code


def wrap_warnings(graph: Graph, op: Op, params: KernelParams) -> list[WrapWarning]:
    """The int32 wrap-arounds `op` (with its `op_params`) can hit for some inputs: none for ordinary models."""
    spec = REGISTRY.get(op.opcode)
    return spec.wrap(graph, op, params) if spec is not None and spec.wrap is not None else []


def can_run_inplace(graph: Graph, op: Op) -> bool:
    """The kernel's promise that its output may take its input's bytes (read element i before writing it)."""
    spec = REGISTRY.get(op.opcode)
    if spec is None or spec.in_place == NEVER:
        return False
    if spec.in_place == SAME_SHAPES:
        return len({graph.tensors[i].shape for i in op.inputs + op.outputs if i >= 0}) == 1
    return True


def stream(op: Op, params: KernelParams) -> Stream | None:
    """The streaming contract of `op` with its params record (ops/stream.py), or None: the output may not
    overlap the input."""
    spec = REGISTRY.get(op.opcode)
    return spec.stream(params) if spec is not None and spec.stream is not None else None


def lean_scratch(op: Op, params: KernelParams) -> KernelParams | None:
    """`params` with less arena scratch for a slightly slower kernel path, or None (OpDef.lean_scratch)."""
    spec = REGISTRY.get(op.opcode)
    return spec.lean_scratch(params) if spec is not None and spec.lean_scratch is not None else None


def is_alias(opcode: str) -> bool:
    """The op's output is a view of its first input (the planner gives both the same bytes)."""
    spec = REGISTRY.get(opcode)
    return spec is not None and spec.alias


def options_parser(kind: str) -> Any:
    """The parser of BuiltinOptions table `kind` ("Conv2DOptions"), or None."""
    from edgeimpro.ops.options import OTHER

    for spec in REGISTRY.values():
        if spec.options is not None and spec.options[0] == kind:
            return spec.options[1]
    return OTHER.get(kind)


def describe(graph: Graph, op: Op) -> list[str]:
    """The op's parameter summary parts for `inspect` (registered ops, and the others TFLM runs)."""
    from edgeimpro.ops.describe import OTHER

    spec = REGISTRY.get(op.opcode)
    fn = spec.describe if spec is not None else OTHER.get(op.opcode)
    return fn(graph, op) if fn is not None else []


__all__ = [
    "ADD_LEFT_SHIFT", "ARRAY", "MAX_DIMS", "MODULES", "POINTER", "REGISTRY", "RUNTIME_ABI_VERSION", "SCALAR",
    "SOFTMAX_OUTPUT_SCALE", "KernelParams", "OpDef", "Refusal", "Stream", "WrapWarning", "activation_range", "builtin_code",
    "can_run_inplace", "compute_padding", "describe", "external_sources", "extra_ops", "get", "is_alias", "kernel_name", "kernels",
    "op_params", "options_parser", "params_classes", "quantize_multiplier", "refusal", "refusal_error", "register",
    "lean_scratch", "round_away", "stream", "supported", "wrap_warnings",
]
