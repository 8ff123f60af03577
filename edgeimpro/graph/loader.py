"""Read a .tflite flatbuffer into a typed Graph with the `tflite` schema package (no TensorFlow)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import tflite

from edgeimpro.errors import ModelError
from edgeimpro.graph.model import Graph, Op, Quantization, Tensor
from edgeimpro.graph.structure import CORRUPT_HINT, check_structure

_OPCODE_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k.lower() for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_OPTION_NAMES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
_NP_DTYPES = {
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "float16": np.float16, "float32": np.float32, "float64": np.float64, "bool": np.bool_,
    "uint16": np.uint16, "uint32": np.uint32,
}


def read_model_bytes(path: str | Path) -> bytes:
    """The bytes of a model file. ModelError when it is missing or a folder; any other OSError (permissions,
    I/O) propagates for the CLI to report with its path and hint."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a folder, not a .tflite file", hint="give the .tflite file inside it") from None


def load_graph(source: str | Path | bytes) -> Graph:
    """Parse a .tflite file (path or bytes) and check its structure (structure.py) before anyone reads it.
    Raises ModelError naming the file when it is not one, and the op or tensor when it is malformed."""
    name = "<bytes>"
    if isinstance(source, (str, Path)):
        name = str(source)
        buf = read_model_bytes(source)
    else:
        buf = bytes(source)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError(f"{name} is not a TFLite flatbuffer (no TFL3 identifier)",
                         hint="give a .tflite written by `edgeimpro convert` or the TFLite converter")
    try:
        graph = _parse(buf)
    except ModelError:
        raise
    except Exception as e:  # a truncated or corrupt flatbuffer surfaces as struct/index errors
        raise ModelError(f"{name} is corrupt: cannot parse the flatbuffer ({type(e).__name__}: {e})",
                         hint="re-export the model; the file may be truncated") from None
    check_structure(graph)   # outside the try: a bug in a check must not pass for a corrupt file
    return graph


def _count(n: int, what: str, buf: bytes, elem_bytes: int = 4) -> int:
    """A vector length read from the file, refused when the file is too small to hold it (a corrupt
    length would otherwise make the reader loop for a long time over garbage)."""
    if n * elem_bytes > len(buf):
        raise ModelError(f"model is corrupt: it declares {n:,} {what}, more than its {len(buf):,} bytes "
                         "can hold", hint=CORRUPT_HINT)
    return n


def _parse(buf: bytes) -> Graph:
    model = tflite.Model.GetRootAsModel(buf, 0)
    n_subgraphs = _count(model.SubgraphsLength(), "subgraphs", buf)
    if n_subgraphs < 1:
        raise ModelError("model has no subgraph", hint=CORRUPT_HINT)
    sg = model.Subgraphs(0)
    n_codes = _count(model.OperatorCodesLength(), "operator codes", buf)
    n_buffers = _count(model.BuffersLength(), "buffers", buf)

    tensors = [_tensor(model, sg.Tensors(i), i, buf, n_buffers)
               for i in range(_count(sg.TensorsLength(), "tensors", buf))]
    _read_the_rest(model, sg, buf, n_subgraphs, n_buffers, len(tensors))
    ops = []
    for i in range(_count(sg.OperatorsLength(), "operators", buf)):
        o = sg.Operators(i)
        code_index = o.OpcodeIndex()
        if not 0 <= code_index < n_codes:
            raise ModelError(f"op {i} has opcode index {code_index}; the model has {n_codes} operator codes",
                             hint=CORRUPT_HINT)
        code = model.OperatorCodes(code_index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        opcode = _OPCODE_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if opcode == "CUSTOM":
            cc = code.CustomCode()
            opcode = "CUSTOM:" + (cc.decode(errors="replace") if cc else "?")
        kind = o.BuiltinOptionsType()
        ops.append(Op(
            index=i,
            opcode=opcode,
            inputs=[int(x) for x in o.InputsAsNumpy()] if o.InputsLength() else [],
            outputs=[int(x) for x in o.OutputsAsNumpy()] if o.OutputsLength() else [],
            options=_options(o),
            version=code.Version(),
            options_type="" if kind == 0 else _OPTION_NAMES.get(kind, f"BuiltinOptions_{kind}"),
        ))
    desc = model.Description()
    return Graph(
        tensors=tensors,
        ops=ops,
        inputs=[int(x) for x in sg.InputsAsNumpy()] if sg.InputsLength() else [],
        outputs=[int(x) for x in sg.OutputsAsNumpy()] if sg.OutputsLength() else [],
        sha256=hashlib.sha256(buf).hexdigest(),
        size_bytes=len(buf),
        schema_version=model.Version(),
        description=desc.decode(errors="replace") if desc else "",
        subgraph_count=n_subgraphs,
    )


def _read_the_rest(model: Any, sg: Any, buf: bytes, n_subgraphs: int, n_buffers: int, n_tensors: int) -> None:
    """Read every table of the file the graph does not use (metadata, signatures, every buffer, operator
    code and per-op vector): TFLite Micro reads them on the device, so an offset pointing outside the file
    there is corruption too, not something to skip. Raises like the rest of the parse."""
    for i in range(_count(model.MetadataLength(), "metadata entries", buf)):
        md = model.Metadata(i)
        md.Name()
        if md.Buffer() >= n_buffers:
            raise ModelError(f"metadata entry {i} uses buffer {md.Buffer()}; the model has {n_buffers} buffers",
                             hint=CORRUPT_HINT)
    if model.MetadataBufferLength():
        model.MetadataBufferAsNumpy()
    for i in range(_count(model.SignatureDefsLength(), "signatures", buf)):
        sd = model.SignatureDefs(i)
        sd.SignatureKey()
        if sd.SubgraphIndex() >= n_subgraphs:
            raise ModelError(f"signature {i} names subgraph {sd.SubgraphIndex()}; the model has {n_subgraphs}",
                             hint=CORRUPT_HINT)
        maps = [sd.Inputs(j) for j in range(_count(sd.InputsLength(), "signature inputs", buf))]
        maps += [sd.Outputs(j) for j in range(_count(sd.OutputsLength(), "signature outputs", buf))]
        for tm in maps:
            tm.Name()
            if sd.SubgraphIndex() == 0 and tm.TensorIndex() >= n_tensors:
                raise ModelError(f"signature {i} names tensor {tm.TensorIndex()}; the model has {n_tensors} tensors",
                                 hint=CORRUPT_HINT)
    for i in range(n_buffers):
        b = model.Buffers(i)
        if b.DataLength():
            b.DataAsNumpy()
        if b.Offset() > 1 and b.Offset() + b.Size() > len(buf):
            raise ModelError(f"buffer {i} lies at bytes {b.Offset()}..{b.Offset() + b.Size()}, beyond the end of "
                             f"the {len(buf):,}-byte file", hint=CORRUPT_HINT)
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        code.CustomCode()
        code.Version()
    sg.Name()
    for i in range(sg.OperatorsLength()):
        o = sg.Operators(i)
        for vector in ("CustomOptions", "Intermediates", "MutatingVariableInputs"):
            if getattr(o, vector + "Length")():
                getattr(o, vector + "AsNumpy")()
    for i in range(sg.TensorsLength()):
        q = sg.Tensors(i).Quantization()
        if q is not None:
            for vector in ("Min", "Max"):
                if getattr(q, vector + "Length")():
                    getattr(q, vector + "AsNumpy")()


def _tensor(model: Any, t: Any, index: int, buf: bytes, n_buffers: int) -> Tensor:
    name = t.Name().decode(errors="replace") if t.Name() else f"t{index}"
    dtype = _TYPE_NAMES.get(t.Type(), f"type{t.Type()}")
    shape = tuple(int(x) for x in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    sig = tuple(int(x) for x in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else None
    q = t.Quantization()
    quant = None
    if q is not None and q.ScaleLength() > 0:
        scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float32)
        # no zero points at all reads as an empty vector: check_structure names the mismatch
        zp = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(0, np.int64)
        quant = Quantization(scale=scale, zero_point=np.asarray(zp, dtype=np.int64),
                             quantized_dimension=q.QuantizedDimension())
    if t.Buffer() >= n_buffers:
        raise ModelError(f"tensor {index} '{name}' uses buffer {t.Buffer()}; the model has {n_buffers} buffers",
                         hint=CORRUPT_HINT)
    data = None
    b = model.Buffers(t.Buffer())
    raw: bytes | None = None
    if b.DataLength() > 0:
        raw = b.DataAsNumpy().tobytes()
    elif b.Offset() > 1:  # large models keep buffers after the flatbuffer
        raw = buf[b.Offset(): b.Offset() + b.Size()]
    if raw is not None and dtype in _NP_DTYPES:
        arr = np.frombuffer(raw, dtype=_NP_DTYPES[dtype]) if len(raw) % np.dtype(_NP_DTYPES[dtype]).itemsize == 0 \
            else None
        expected = math.prod(shape) if all(d >= 0 for d in shape) else -1
        if arr is None or arr.size != expected:
            raise ModelError(f"tensor {index} ({name}) holds {len(raw)} bytes of {dtype}, its shape {list(shape)} "
                             f"needs {expected} values", hint=CORRUPT_HINT)
        data = arr.reshape(shape).copy()
    elif raw is not None:
        data = np.frombuffer(raw, dtype=np.uint8).copy()
    return Tensor(
        index=index,
        name=name,
        shape=shape,
        dtype=dtype,
        quantization=quant,
        data=data,
        shape_signature=sig,
        is_variable=bool(t.IsVariable()),
    )


# BuiltinOptions type number -> its table's name ("Conv2DOptions"), what op modules declare they parse
_OPTIONS_NAMES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}


def _options(o: Any) -> dict[str, Any]:
    """Builtin options as a plain dict, read by the parser the op registry declares for the table."""
    from edgeimpro import ops
    from edgeimpro.ops.options import table

    raw = o.BuiltinOptions()
    if raw is None:
        return {}
    kind = _OPTIONS_NAMES.get(o.BuiltinOptionsType())
    parser = ops.options_parser(kind) if kind is not None else None
    return parser(table(kind, raw)) if parser is not None else {}
