"""Structural checks of an untrusted model, run by `load_graph` before anything else reads the graph.

A .tflite file is input written by whoever made it. These checks make every later reader (analysis, the
code generators, the references) safe to index the graph: every index in range, one producer per tensor,
activations written before they are read, sane shapes and quantization, option values in range, and each
op's inputs and outputs consistent with its opcode (OP_RULES: arity, ranks and shape relations, so a
CONV_2D rewritten to ADD or an op output redirected to another tensor is caught). Types and op support for
a target are checked later, by `validate.py`; these rules accept float and dynamic-batch models so that
those get their own, better messages there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tflite

from edgeimpro.errors import ModelError
from edgeimpro.graph.model import DTYPE_BYTES, Graph, Op, Tensor

CORRUPT_HINT = ("the file is corrupt or was not written by a TFLite converter: re-export it "
                "(`edgeimpro convert`, or TFLiteConverter with full-integer int8)")

MAX_RANK = 8
MAX_TENSOR_BYTES = 2 ** 31          # no int32 offset or size in the runtime may overflow
# Quantization scales: legitimate converter output spans about 3e-13 (VWW's smallest bias scale,
# input scale x a near-dead channel's weight scale) to 4.4 (ResNet-8's largest); the bounds leave
# seven orders of magnitude on either side and reject denormals (1e-45), zero, NaN and 1e30-like values.
# One exception: a per-channel weight scale of exactly 0 (an all-zero channel; TFLM gives that channel the
# output zero point, bit-exact in our kernels too, INT8_SEMANTICS.md §4).
MIN_SCALE = 1e-20
MAX_SCALE = 1e9
ZERO_POINT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int4": (-8, 7),
                    "int32": (0, 0), "int64": (0, 0)}
KNOWN_DTYPES = frozenset(k.lower() for k in vars(tflite.TensorType) if not k.startswith("_"))
KNOWN_ACTIVATIONS = frozenset({"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"})
KNOWN_PADDINGS = frozenset({"SAME", "VALID"})


# ---------------------------------------------------------------------------------------------- op table


ShapeCheck = Callable[[Graph, Op], "str | None"]


@dataclass(frozen=True)
class OpRule:
    """What a well-formed op of one opcode looks like."""
    inputs: tuple[int, int]                  # (min, max) input count; max -1: unbounded
    outputs: int                             # exact output count
    ranks: tuple[tuple[int, ...] | None, ...] = ()   # allowed ranks per input position (None: any)
    out_rank: tuple[int, ...] | None = None
    optional: frozenset[int] = frozenset()   # input positions that may be -1 (absent)
    options: str | None = None               # the BuiltinOptions table the op must carry
    options_required: bool = False
    shape: ShapeCheck | None = None          # relation between input and output shapes


def _t(graph: Graph, i: int) -> Tensor:
    return graph.tensors[i]


def _spatial(graph: Graph, op: Op, kh: int, kw: int, dh: int = 1, dw: int = 1) -> str | None:
    """Output height/width of a windowed op against TFLite's formula for its padding and strides."""
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    o = op.options
    want = []
    for size, k, s, d in ((x.shape[1], kh, o["stride_h"], dh), (x.shape[2], kw, o["stride_w"], dw)):
        eff = (k - 1) * d + 1
        want.append(-(-size // s) if o["padding"] == "SAME" else max(0, -(-(size - eff + 1) // s)))
    if list(y.shape[1:3]) != want:
        return (f"output shape {list(y.shape)} does not follow from input {list(x.shape)} with a {kh}x{kw} "
                f"window, strides {o['stride_h']}x{o['stride_w']}, dilation {dh}x{dw} and {o['padding']} "
                f"padding (expected height x width {want[0]}x{want[1]})")
    if x.shape[0] != y.shape[0]:
        return f"input batch {x.shape[0]} differs from output batch {y.shape[0]}"
    return None


def _conv_shapes(graph: Graph, op: Op) -> str | None:
    x, w, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    if w.shape[0] != y.shape[3]:
        return f"filter {list(w.shape)} has {w.shape[0]} output channels, output {list(y.shape)} has {y.shape[3]}"
    if w.shape[3] < 1 or x.shape[3] % w.shape[3]:
        return (f"input {list(x.shape)} has {x.shape[3]} channels, not a multiple of the filter's "
                f"{w.shape[3]} ({list(w.shape)})")
    if w.shape[1] < 1 or w.shape[2] < 1:
        return f"filter {list(w.shape)} has an empty window"
    return _bias(graph, op, y.shape[3]) or _spatial(graph, op, w.shape[1], w.shape[2], op.options["dilation_h"],
                                                    op.options["dilation_w"])


def _depthwise_shapes(graph: Graph, op: Op) -> str | None:
    x, w, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    dm = op.options["depth_multiplier"]
    if w.shape[0] != 1 or w.shape[3] != y.shape[3]:
        return f"filter {list(w.shape)} must be [1, kh, kw, {y.shape[3]}] for output {list(y.shape)}"
    if x.shape[3] * dm != y.shape[3]:
        return (f"depth_multiplier {dm} x input channels {x.shape[3]} != output channels {y.shape[3]} "
                f"(input {list(x.shape)}, output {list(y.shape)})")
    if w.shape[1] < 1 or w.shape[2] < 1:
        return f"filter {list(w.shape)} has an empty window"
    return _bias(graph, op, y.shape[3]) or _spatial(graph, op, w.shape[1], w.shape[2], op.options["dilation_h"],
                                                    op.options["dilation_w"])


def _bias(graph: Graph, op: Op, channels: int) -> str | None:
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        b = _t(graph, op.inputs[2])
        if _size(b) != channels:
            return f"bias {list(b.shape)} has {_size(b)} values for {channels} output channels"
    return None


def _fc_shapes(graph: Graph, op: Op) -> str | None:
    x, w, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    units, depth = w.shape
    if depth < 1 or _size(x) % depth:
        return f"input {list(x.shape)} ({_size(x)} values) is not a whole number of rows of weights {list(w.shape)}"
    if not y.shape or y.shape[-1] != units or _size(y) != _size(x) // depth * units:
        return (f"output {list(y.shape)} does not hold {_size(x) // depth} rows of {units} units "
                f"(input {list(x.shape)}, weights {list(w.shape)})")
    return _bias(graph, op, units)


def _pool_shapes(graph: Graph, op: Op) -> str | None:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    if x.shape[3] != y.shape[3]:
        return f"input {list(x.shape)} and output {list(y.shape)} have different channel counts"
    return _spatial(graph, op, op.options["filter_h"], op.options["filter_w"])


def _broadcast_shapes(graph: Graph, op: Op) -> str | None:
    a, b, y = (_t(graph, i) for i in (*op.inputs, op.outputs[0]))
    try:
        want = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        return f"input shapes {list(a.shape)} and {list(b.shape)} do not broadcast"
    if y.shape != want:
        return f"output {list(y.shape)} is not the broadcast {list(want)} of inputs {list(a.shape)} and {list(b.shape)}"
    return None


def _same_shape(graph: Graph, op: Op) -> str | None:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    if x.shape != y.shape:
        return f"output {list(y.shape)} differs from input {list(x.shape)}"
    return None


def _same_size(graph: Graph, op: Op) -> str | None:
    x, y = _t(graph, op.inputs[0]), _t(graph, op.outputs[0])
    if _size(x) != _size(y):
        return f"output {list(y.shape)} holds {_size(y)} values, input {list(x.shape)} holds {_size(x)}"
    return None


def _concat_shapes(graph: Graph, op: Op) -> str | None:
    ins, y = [_t(graph, i) for i in op.inputs], _t(graph, op.outputs[0])
    rank = len(y.shape)
    axis = op.options.get("axis", 0)
    if not -rank <= axis < rank:
        return f"axis {axis} is outside the output's rank {rank}"
    axis %= rank
    for t in ins:
        if len(t.shape) != rank or any(t.shape[d] != y.shape[d] for d in range(rank) if d != axis):
            return f"input {list(t.shape)} does not fit output {list(y.shape)} along axis {axis}"
    if sum(t.shape[axis] for t in ins) != y.shape[axis]:
        return f"inputs {[list(t.shape) for t in ins]} do not add up to output {list(y.shape)} along axis {axis}"
    return None


def _pad_shapes(graph: Graph, op: Op) -> str | None:
    x, p, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    if p.data is None:
        return None
    if p.data.dtype.kind != "i":
        return f"paddings tensor is {p.dtype}; it must be int32"
    if p.data.shape != (len(x.shape), 2):
        return f"paddings {list(p.data.shape)} must be [{len(x.shape)}, 2] for input {list(x.shape)}"
    pads = [(int(a), int(b)) for a, b in p.data.reshape(-1, 2)]
    want = [d + a + b for d, (a, b) in zip(x.shape, pads, strict=True)]
    if any(a < 0 or b < 0 for a, b in pads) or list(y.shape) != want:
        return f"output {list(y.shape)} is not input {list(x.shape)} padded by {pads}"
    return None


def _reduce_shapes(graph: Graph, op: Op) -> str | None:
    x, a, y = _t(graph, op.inputs[0]), _t(graph, op.inputs[1]), _t(graph, op.outputs[0])
    if a.data is None:
        return None
    if a.data.dtype.kind != "i":
        return f"reduction axes tensor is {a.dtype}; it must be int32"
    rank = len(x.shape)
    axes = [int(v) for v in np.asarray(a.data).reshape(-1)]
    if any(not -rank <= v < rank for v in axes):
        return f"reduction axes {axes} are outside the input's rank {rank} (input {list(x.shape)})"
    dims = {v % rank for v in axes}
    if len(dims) != len(axes):
        return f"reduction axes {axes} name a dimension twice"
    keep = [1 if d in dims else n for d, n in enumerate(x.shape)]
    want = keep if op.options.get("keep_dims") else [n for d, n in enumerate(x.shape) if d not in dims]
    if list(y.shape) != want:
        return f"output {list(y.shape)} is not input {list(x.shape)} reduced over axes {axes} (expected {want})"
    return None


_UNARY = OpRule((1, 1), 1, shape=_same_shape)
_REDUCE = OpRule((2, 2), 1, (None, (0, 1)), options="ReducerOptions", shape=_reduce_shapes)
OP_RULES: dict[str, OpRule] = {
    "CONV_2D": OpRule((2, 3), 1, ((4,), (4,), (1,)), (4,), frozenset({2}), "Conv2DOptions", True, _conv_shapes),
    # the bias of a depthwise conv is not optional: TFLite Micro's kernel crashes (SIGSEGV) without one
    "DEPTHWISE_CONV_2D": OpRule((3, 3), 1, ((4,), (4,), (1,)), (4,), frozenset(), "DepthwiseConv2DOptions",
                                True, _depthwise_shapes),
    "FULLY_CONNECTED": OpRule((2, 3), 1, (None, (2,), (1,)), None, frozenset({2}), "FullyConnectedOptions",
                              False, _fc_shapes),
    "AVERAGE_POOL_2D": OpRule((1, 1), 1, ((4,),), (4,), options="Pool2DOptions", options_required=True,
                              shape=_pool_shapes),
    "MAX_POOL_2D": OpRule((1, 1), 1, ((4,),), (4,), options="Pool2DOptions", options_required=True,
                          shape=_pool_shapes),
    "L2_POOL_2D": OpRule((1, 1), 1, ((4,),), (4,), options="Pool2DOptions", options_required=True,
                         shape=_pool_shapes),
    "ADD": OpRule((2, 2), 1, options="AddOptions", shape=_broadcast_shapes),
    "SUB": OpRule((2, 2), 1, options="SubOptions", shape=_broadcast_shapes),
    "MUL": OpRule((2, 2), 1, options="MulOptions", shape=_broadcast_shapes),
    "DIV": OpRule((2, 2), 1, options="DivOptions", shape=_broadcast_shapes),
    "MAXIMUM": OpRule((2, 2), 1, shape=_broadcast_shapes),
    "MINIMUM": OpRule((2, 2), 1, shape=_broadcast_shapes),
    "SQUARED_DIFFERENCE": OpRule((2, 2), 1, shape=_broadcast_shapes),
    # TFLite Micro aborts (SIGABRT) on a SOFTMAX without its options; converters always write them
    "SOFTMAX": OpRule((1, 1), 1, options="SoftmaxOptions", options_required=True, shape=_same_shape),
    "LEAKY_RELU": OpRule((1, 1), 1, options="LeakyReluOptions", options_required=True, shape=_same_shape),
    "HARD_SWISH": _UNARY, "LOGISTIC": _UNARY, "TANH": _UNARY, "RELU": _UNARY, "RELU6": _UNARY,
    "RELU_N1_TO_1": _UNARY, "QUANTIZE": _UNARY, "DEQUANTIZE": _UNARY, "ABS": _UNARY, "NEG": _UNARY,
    "ELU": _UNARY, "EXP": _UNARY, "LOG": _UNARY, "SQRT": _UNARY, "RSQRT": _UNARY, "SQUARE": _UNARY,
    "FLOOR": _UNARY, "CEIL": _UNARY, "ROUND": _UNARY, "SIN": _UNARY, "COS": _UNARY,
    "RESHAPE": OpRule((1, 2), 1, shape=_same_size),
    "SQUEEZE": OpRule((1, 1), 1, shape=_same_size),
    "EXPAND_DIMS": OpRule((2, 2), 1, shape=_same_size),
    "CONCATENATION": OpRule((1, -1), 1, options="ConcatenationOptions", options_required=True,
                            shape=_concat_shapes),
    "PAD": OpRule((2, 2), 1, (None, (2,)), shape=_pad_shapes),
    "PADV2": OpRule((3, 3), 1, (None, (2,), None), shape=_pad_shapes),
    "MEAN": _REDUCE, "SUM": _REDUCE, "REDUCE_MAX": _REDUCE, "REDUCE_MIN": _REDUCE,
}


# ---------------------------------------------------------------------------------------------- checks


def check_structure(graph: Graph) -> None:
    """Raise ModelError for the first structural problem: indices, dataflow, tensors, ops (in that order,
    so each later check may index the graph safely)."""
    check_indices(graph)
    check_dataflow(graph)
    for t in graph.tensors:
        check_tensor(t)
    for op in graph.ops:
        check_op(graph, op)


def _size(t: Tensor) -> int:
    return math.prod(t.shape)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _op(op: Op) -> str:
    return f"op {op.index} {op.opcode}"


def _tensor(t: Tensor) -> str:
    return f"tensor {t.index} '{t.name}'"


def _fail(message: str) -> ModelError:
    return ModelError(message, hint=CORRUPT_HINT)


def check_indices(graph: Graph) -> None:
    """Every tensor index an op or the subgraph names is in range; -1 only where an op input is absent."""
    n = len(graph.tensors)
    for kind, indices in (("input", graph.inputs), ("output", graph.outputs)):
        for k, i in enumerate(indices):
            if not 0 <= i < n:
                raise _fail(f"model {kind} {k} is tensor index {i}; the model has {n} tensors (0..{n - 1})")
        if len(set(indices)) != len(indices):
            raise _fail(f"model {kind}s {indices} name the same tensor twice")
    if not graph.inputs or not graph.outputs:
        raise _fail(f"model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; an image model "
                    "needs at least one of each")
    for op in graph.ops:
        rule = OP_RULES.get(op.opcode)
        for k, i in enumerate(op.inputs):
            absent_ok = rule is None or k in rule.optional
            if i == -1 and absent_ok:
                continue
            if not 0 <= i < n:
                what = "a required input cannot be absent (-1)" if i == -1 else f"the model has {n} tensors"
                raise _fail(f"{_op(op)}: input {k} is tensor index {i}; {what}")
        for k, i in enumerate(op.outputs):
            if not 0 <= i < n:
                raise _fail(f"{_op(op)}: output {k} is tensor index {i}; the model has {n} tensors")
        if len(set(op.outputs)) != len(op.outputs):
            raise _fail(f"{_op(op)} names tensor {op.outputs[0]} as two of its outputs {op.outputs}")


# Ops whose inputs at these positions are scratch buffers the op writes before it reads them: Vela's
# Ethos-U op takes its scratch and fast scratch (uint8) as inputs 2 and 3 and hands them to the NPU.
_SCRATCH_INPUTS: dict[str, tuple[int, ...]] = {"CUSTOM:ethos-u": (2, 3)}


def check_dataflow(graph: Graph) -> None:
    """One producer per tensor, never a constant or a model input; every activation an op reads is a
    model input, a variable, or written by an earlier op; every model output is written by something."""
    producer: dict[int, int] = {}
    inputs = set(graph.inputs)
    for i in graph.inputs:
        t = graph.tensors[i]
        if t.is_constant:
            raise _fail(f"model input {graph.inputs.index(i)} is {_tensor(t)}, a constant (weights); a model "
                        "input must be an activation")
    for op in graph.ops:
        for k, i in enumerate(op.inputs):
            if i < 0:
                continue
            t = graph.tensors[i]
            if k in _SCRATCH_INPUTS.get(op.opcode, ()) and t.dtype == "uint8":
                continue
            if not (t.is_constant or t.is_variable or i in inputs or i in producer):
                later = next((o.index for o in graph.ops[op.index:] if i in o.outputs), None)
                why = (f"it is written only later, by op {later}" if later is not None
                       else "no op writes it and it is not a model input")
                raise _fail(f"{_op(op)}: input {k} is {_tensor(t)}, read before anything writes it ({why})")
        for i in op.outputs:
            t = graph.tensors[i]
            if i in producer:
                raise _fail(f"{_op(op)}: output {_tensor(t)} is already written by op {producer[i]}; "
                            "a tensor has one producer")
            if t.is_constant:
                raise _fail(f"{_op(op)}: output {_tensor(t)} is a constant (it has data in the file)")
            if i in inputs:
                raise _fail(f"{_op(op)}: output {_tensor(t)} is a model input")
            producer[i] = op.index
    for k, i in enumerate(graph.outputs):
        t = graph.tensors[i]
        if t.is_constant:
            raise _fail(f"model output {k} is {_tensor(t)}, a constant; a model output must be computed")
        if i not in producer and i not in inputs and not t.is_variable:
            raise _fail(f"model output {k} is {_tensor(t)}, which no op writes")


def check_tensor(t: Tensor) -> None:
    """Type, shape and quantization parameters of one tensor."""
    if t.dtype not in KNOWN_DTYPES:
        raise _fail(f"{_tensor(t)} has an unknown element type ({t.dtype})")
    if len(t.shape) > MAX_RANK or any(d < 0 for d in t.shape):
        raise _fail(f"{_tensor(t)} has shape {list(t.shape)}; dimensions must be >= 0 and at most {MAX_RANK}")
    nbytes = math.prod(t.shape) * DTYPE_BYTES.get(t.dtype, 1)
    if nbytes > MAX_TENSOR_BYTES:
        raise _fail(f"{_tensor(t)} has shape {list(t.shape)}: {nbytes:,} bytes, more than "
                    f"{MAX_TENSOR_BYTES:,} (2 GiB)")
    q = t.quantization
    if q is None or t.dtype not in ZERO_POINT_RANGE:
        return
    n = q.scale.size
    if q.zero_point.size != n:
        raise _fail(f"{_tensor(t)} has {n} scales and {q.zero_point.size} zero points; they come in pairs")
    if n > 1:
        rank = len(t.shape)
        if rank == 1 and q.quantized_dimension > 0 and t.shape[0] == n:
            pass  # a 1-D bias naming its conv's channel axis: TFLM accepts it (its own person_detect.tflite)
        elif not 0 <= q.quantized_dimension < rank:
            raise _fail(f"{_tensor(t)} is quantized per channel along dimension {q.quantized_dimension}; "
                        f"its shape {list(t.shape)} has rank {rank}")
        elif t.shape[q.quantized_dimension] != n:
            raise _fail(f"{_tensor(t)} has {n} per-channel scales along dimension {q.quantized_dimension}, "
                        f"which has {t.shape[q.quantized_dimension]} channels (shape {list(t.shape)})")
    scale = q.scale.astype(np.float64)
    ok = np.isfinite(scale) & (scale >= MIN_SCALE) & (scale <= MAX_SCALE)
    if n > 1 and t.is_constant:  # an all-zero filter channel: TFLM flushes it (INT8_SEMANTICS.md §4)
        ok |= scale == 0.0
    bad = np.flatnonzero(~ok)
    if bad.size:
        k = int(bad[0])
        raise _fail(f"{_tensor(t)} has quantization scale {float(scale[k]):.6g}"
                    f"{f' (channel {k})' if n > 1 else ''}; a scale must be finite and between "
                    f"{MIN_SCALE:g} and {MAX_SCALE:g}")
    lo, hi = ZERO_POINT_RANGE[t.dtype]
    bad = np.flatnonzero((q.zero_point < lo) | (q.zero_point > hi))
    if bad.size:
        k = int(bad[0])
        allowed = f"{lo}..{hi}" if lo != hi else f"{lo}"
        raise _fail(f"{_tensor(t)} ({t.dtype}) has zero point {int(q.zero_point[k])}"
                    f"{f' (channel {k})' if n > 1 else ''}; {t.dtype} zero points must be {allowed}")


def check_op(graph: Graph, op: Op) -> None:
    """Options in range, and the op's inputs and outputs consistent with its opcode (OP_RULES)."""
    check_options(op)
    rule = OP_RULES.get(op.opcode)
    if rule is None:
        return
    lo, hi = rule.inputs
    if not (lo <= len(op.inputs) and (hi < 0 or len(op.inputs) <= hi)) or len(op.outputs) != rule.outputs:
        want_in = f"{lo}" if lo == hi else f"{lo} or more" if hi < 0 else f"{lo} to {hi}"
        raise _fail(f"{_op(op)} has {_n(len(op.inputs), 'input')} and {_n(len(op.outputs), 'output')}; "
                    f"{op.opcode} takes {want_in} inputs and {_n(rule.outputs, 'output')}")
    allowed = {rule.options} if rule.options_required else {rule.options, ""}
    if rule.options is not None and op.options_type not in allowed:
        raise _fail(f"{_op(op)} carries {op.options_type or 'no options'}; {op.opcode} needs {rule.options}")
    for k, i in enumerate(op.inputs):
        ranks = rule.ranks[k] if k < len(rule.ranks) else None
        if i >= 0 and ranks is not None and len(graph.tensors[i].shape) not in ranks:
            t = graph.tensors[i]
            raise _fail(f"{_op(op)}: input {k} {_tensor(t)} has shape {list(t.shape)}; {op.opcode} needs rank "
                        f"{' or '.join(map(str, ranks))} there")
    if rule.out_rank is not None:
        t = graph.tensors[op.outputs[0]]
        if len(t.shape) not in rule.out_rank:
            raise _fail(f"{_op(op)}: output {_tensor(t)} has shape {list(t.shape)}; {op.opcode} needs rank "
                        f"{' or '.join(map(str, rule.out_rank))}")
    problem = rule.shape(graph, op) if rule.shape is not None else None
    if problem is not None:
        raise _fail(f"{_op(op)}: {problem}")


def check_options(op: Op) -> None:
    o = op.options
    for key in ("stride_h", "stride_w", "dilation_h", "dilation_w", "filter_h", "filter_w", "depth_multiplier"):
        if key in o and not 1 <= o[key] <= 2 ** 16:
            raise _fail(f"{_op(op)} has {key} {o[key]}; it must be between 1 and 65536")
    if "padding" in o and o["padding"] not in KNOWN_PADDINGS:
        raise _fail(f"{_op(op)} has padding {o['padding']}; TFLite knows SAME and VALID")
    if "activation" in o and o["activation"] not in KNOWN_ACTIVATIONS:
        raise _fail(f"{_op(op)} has fused activation {o['activation']}; TFLite knows "
                    f"{', '.join(sorted(KNOWN_ACTIVATIONS))}")
    for key in ("beta", "alpha"):
        if key in o and not math.isfinite(o[key]):
            raise _fail(f"{_op(op)} has {key} {o[key]}; it must be a finite number")
    if "beta" in o and not o["beta"] > 0:
        raise _fail(f"{_op(op)} has beta {o['beta']}; softmax needs beta > 0")
