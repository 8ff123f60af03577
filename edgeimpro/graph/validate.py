"""Validation of a graph for the int8 path: one clear error naming the op or tensor and the fix.

The graph's structure (indices, dataflow, shapes, quantization ranges, per-op arity and shapes) was already
checked when it was loaded (structure.py); these checks are about what the int8 path and TFLM accept.

Checks run in this order and the first problem found is raised (a model with several problems is fixed
at its root first: a dynamic batch, for instance, is what drags SHAPE/STRIDED_SLICE/PACK into a graph):
  1. one subgraph;
  2. int8 activations: not a float model, not a hybrid (float activations with int8 weights), int8
     input and output, quantization parameters on every int8 activation;
  3. static shapes;
  4. every op in the target's table;
  5. what TFLM's Prepare refuses or aborts on (the process dies, so it is rejected before anything runs
     it): the op registry's refusal rules, shared with the AOT export.
"""

from __future__ import annotations

from collections.abc import Collection

from edgeimpro import ops
from edgeimpro.errors import ModelError, UnsupportedOpError
from edgeimpro.graph.model import Graph, Tensor

# TFLite builtin op -> the MicroMutableOpResolver method that registers its kernel. Every entry has a
# kernel in the pinned tflite-micro (tests check the names against the wheel's Register_* symbols).
TFLM_OPS: dict[str, str] = {
    "ABS": "AddAbs",
    "ADD": "AddAdd",
    "ADD_N": "AddAddN",
    "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce",
    "CAST": "AddCast",
    "CEIL": "AddCeil",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "COS": "AddCos",
    "CUMSUM": "AddCumSum",
    "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice",
    "ELU": "AddElu",
    "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "EQUAL": "AddEqual",
    "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims",
    "FILL": "AddFill",
    "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater",
    "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf",
    "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu",
    "LESS": "AddLess",
    "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MAXIMUM": "AddMaximum",
    "MEAN": "AddMean",
    "MINIMUM": "AddMinimum",
    "MIRROR_PAD": "AddMirrorPad",
    "MUL": "AddMul",
    "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize",
    "READ_VARIABLE": "AddReadVariable",
    "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MAX": "AddReduceMax",
    "REDUCE_MIN": "AddReduceMin",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "REVERSE_V2": "AddReverseV2",
    "ROUND": "AddRound",
    "RSQRT": "AddRsqrt",
    "SELECT_V2": "AddSelectV2",
    "SHAPE": "AddShape",
    "SIN": "AddSin",
    "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit",
    "SPLIT_V": "AddSplitV",
    "SQRT": "AddSqrt",
    "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "SUM": "AddSum",
    "SVDF": "AddSvdf",
    "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "UNPACK": "AddUnpack",
    "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile",
    "ZEROS_LIKE": "AddZerosLike",
}

# What to do instead of an op a target lacks (ops the converter emits from common Keras layers).
_OP_FIXES: dict[str, str] = {
    "GELU": "use activation='relu' (or 'relu6' / hard_swish) instead of 'gelu'",
    "TILE": "avoid tf.tile / keras.ops.tile: repeat with Concatenate, or let broadcasting in ADD/MUL do it",
    "LOCAL_RESPONSE_NORMALIZATION": "replace LRN with BatchNormalization (folded into the conv at conversion)",
    "REDUCE_PROD": "avoid a product reduction in the model",
    "TOPK_V2": "take the top-k on the host from the output scores, outside the model",
    "ONE_HOT": "do the one-hot encoding outside the model",
    "RANGE": "build with keras.Input(shape, batch_size=1) so shapes are constants",
    "SELECT": "use keras.ops.where with same-shaped operands (SELECT_V2)",
}

_WEIGHT_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV",
                         "BATCH_MATMUL", "UNIDIRECTIONAL_SEQUENCE_LSTM", "SVDF", "EMBEDDING_LOOKUP"})
_FLOAT_TYPES = frozenset({"float32", "float16", "float64"})
_CONVERT_HINT = ("convert with full-integer quantization: `edgeimpro convert model.keras -o model.tflite` "
                 "(or TFLiteConverter with optimizations=[DEFAULT], a representative_dataset, "
                 "supported_ops=[TFLITE_BUILTINS_INT8] and inference_input_type = inference_output_type "
                 "= tf.int8)")


def validate_int8(graph: Graph, supported_ops: Collection[str] = TFLM_OPS,
                  target: str = "TFLite Micro") -> None:
    """Raise ModelError / UnsupportedOpError for the first reason `graph` cannot run on the int8 path of
    `target`, whose kernels are `supported_ops` (op names; a dict such as TFLM_OPS works)."""
    check_single_subgraph(graph)
    check_int8(graph)
    check_static_shapes(graph)
    check_ops(graph, supported_ops, target)
    check_tflm_prepare(graph)


def check_single_subgraph(graph: Graph) -> None:
    if graph.subgraph_count > 1:
        raise ModelError(
            f"model has {graph.subgraph_count} subgraphs; the int8 path runs a single graph",
            hint="remove control flow (tf.cond, tf.while_loop, RNN loops) from the model and convert one "
                 "signature only")


def check_int8(graph: Graph) -> None:
    """Float, hybrid, float-interface, uint8 and int16 models are each named as such."""
    acts = [graph.tensors[t] for t in graph.activation_tensors()]
    float_acts = {t.index for t in acts if t.dtype in _FLOAT_TYPES}
    for op in graph.ops:  # hybrid: float activations into an op whose weights are int8
        if op.opcode not in _WEIGHT_OPS or not op.inputs or op.inputs[0] not in float_acts:
            continue
        w = next((t for t in op.input_tensors(graph)[1:] if t is not None and t.is_constant
                  and t.dtype in ("int8", "uint8", "int4")), None)
        if w is not None:
            raise ModelError(
                f"hybrid model: op {op.index} {op.opcode} takes float32 activations with {w.dtype} "
                f"weights '{w.name}' (dynamic-range quantization); TFLite Micro and the int8 path do not "
                "run hybrid models", hint=_CONVERT_HINT)
    if float_acts:
        io = [graph.tensors[t] for t in graph.inputs + graph.outputs if t in float_acts]
        compute = [op for op in graph.ops if op.opcode not in ("QUANTIZE", "DEQUANTIZE")
                   and any(i in float_acts for i in op.inputs + op.outputs)]
        if not compute and io:
            raise ModelError(
                f"model {_kind(graph, io[0])} '{io[0].name}' is {io[0].dtype}: the model is int8 inside but "
                "has a float interface; the int8 path needs int8 input and output",
                hint="convert with inference_input_type = inference_output_type = tf.int8 "
                     "(`edgeimpro convert` does)")
        if compute:
            op = compute[0]
            t = next(graph.tensors[i] for i in op.inputs + op.outputs if i in float_acts)
            raise ModelError(
                f"float model: op {op.index} {op.opcode} computes in {t.dtype} (tensor '{t.name}'); "
                "the int8 path needs a full-integer int8 model", hint=_CONVERT_HINT)
        # only QUANTIZE/DEQUANTIZE touch the float tensors: an int8 model with a float round trip inside
        op = next(op for op in graph.ops if any(i in float_acts for i in op.inputs + op.outputs))
        t = next(graph.tensors[i] for i in op.inputs + op.outputs if i in float_acts)
        raise ModelError(
            f"op {op.index} {op.opcode} passes tensor '{t.name}' through {t.dtype}: the int8 path keeps "
            "every activation int8", hint=_CONVERT_HINT)
    for t in acts:
        if t.dtype == "uint8":
            raise ModelError(f"tensor '{t.name}' is uint8 (TF1-style quantization); TFLite Micro's int8 "
                             "kernels need int8", hint=_CONVERT_HINT)
        if t.dtype == "int16":
            raise ModelError(f"tensor '{t.name}' is int16 (16x8 quantization); the int8 path needs int8 "
                             "activations", hint="convert with supported_ops=[TFLITE_BUILTINS_INT8]")
        if t.dtype == "int8" and t.quantization is None:
            raise ModelError(f"int8 tensor '{t.name}' has no quantization parameters",
                             hint="the model file is not a quantized model; " + _CONVERT_HINT)
    for t in graph.input_tensors + graph.output_tensors:
        if t.dtype != "int8":
            raise ModelError(f"model {_kind(graph, t)} '{t.name}' is {t.dtype}; the int8 path needs int8 "
                             "input and output", hint=_CONVERT_HINT)


def check_static_shapes(graph: Graph) -> None:
    """Every dimension must be known. A -1 batch in the shape signature is accepted when the graph does
    not compute shapes from it (TFLM uses the static shape, batch 1), as in the MLPerf Tiny models."""
    fix = "build the Keras model with keras.Input(shape, batch_size=1) and convert again"
    for t in (graph.tensors[i] for i in graph.activation_tensors()):
        if any(d <= 0 for d in t.shape):
            raise ModelError(f"tensor '{t.name}' has an unknown shape {list(t.shape)}", hint=fix)
        sig = t.shape_signature
        if sig is not None and any(d < 0 for d in sig[1:]):
            raise ModelError(f"tensor '{t.name}' has a dynamic shape {list(sig)} (-1 = decided at run "
                             "time); the int8 path needs every dimension fixed", hint=fix)
    dynamic_batch = [t for t in graph.input_tensors if t.dynamic]
    shape_ops = [op for op in graph.ops if op.opcode == "SHAPE"]
    if dynamic_batch and shape_ops:
        t = dynamic_batch[0]
        raise ModelError(
            f"model input '{t.name}' has a dynamic batch size (shape signature {list(t.shape_signature or ())})"
            f" and the graph computes shapes from it at run time (SHAPE op {shape_ops[0].index})",
            hint=fix)


def check_ops(graph: Graph, supported_ops: Collection[str], target: str = "TFLite Micro") -> None:
    """Every op must have a kernel in `supported_ops`; all missing ops are named in one error."""
    missing: dict[str, list[int]] = {}
    for op in graph.ops:
        if op.opcode not in supported_ops:
            missing.setdefault(op.opcode, []).append(op.index)
    if not missing:
        return
    names = ", ".join(f"{name} (op {', '.join(map(str, idx[:5]))}{', ...' if len(idx) > 5 else ''})"
                      for name, idx in missing.items())
    fixes = [_op_fix(name) for name in missing]
    raise UnsupportedOpError(
        f"{target} has no kernel for {names}",
        hint="; ".join(dict.fromkeys(fixes)) + "; then train/convert again")


def _op_fix(name: str) -> str:
    if name.startswith("CUSTOM:"):
        return (f"custom op {name[7:]!r} needs its own kernel; convert with "
                "supported_ops=[TFLITE_BUILTINS_INT8] so only builtin ops are used")
    return _OP_FIXES.get(name, f"replace the layer that produces {name} with supported layers "
                               "(Conv2D, DepthwiseConv2D, Dense, pooling, Add, ReLU, Softmax, ...)")


def check_tflm_aborts(graph: Graph) -> None:
    """Parameters that make TFLM's int8 Prepare abort the whole process (INT8_SEMANTICS.md §5): checked
    before anything runs tflite_micro in this process."""
    _check_refusals(graph, aborts_only=True)


def check_tflm_prepare(graph: Graph) -> None:
    """What TFLM's int8 Prepare refuses (AllocateTensors fails on the board) or aborts on, INT8_SEMANTICS.md
    §5: each registered op's own refusal rules (edgeimpro.ops), the one copy that the AOT export applies
    too. The first refused op is named with the tensors and the fix."""
    _check_refusals(graph, aborts_only=False)


def _check_refusals(graph: Graph, aborts_only: bool) -> None:
    for op in graph.ops:
        refused = ops.refusal(graph, op)   # the int8 rules; 16x8 and float ops have their own
        if refused is not None and (refused.aborts or not aborts_only):
            raise ops.refusal_error(op, refused)


def _kind(graph: Graph, t: Tensor) -> str:
    return "input" if t.index in graph.inputs else "output"


def resolver_ops(graph: Graph, supported_ops: dict[str, str] = TFLM_OPS) -> list[tuple[str, str]]:
    """(op name, resolver method) for each distinct op of `graph` in first-use order; raises
    UnsupportedOpError when one has no method."""
    check_ops(graph, supported_ops)
    return [(name, supported_ops[name]) for name in graph.opcodes]

