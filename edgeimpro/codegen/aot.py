"""Ahead-of-time C for a full-int8 .tflite: weights as const arrays, precomputed kernel parameters, one static
arena with a memory plan, and one entry point. No interpreter; the kernels live in firmware/runtime/.

The generated code follows docs/aot-model-api.md. Every op, its integer parameters (TFLM's Prepare
arithmetic), its params struct and its calling convention come from the op registry (`edgeimpro.ops`), from
which the runtime's `eip_kernels.h` is generated too, so Python and C cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro import __version__, ops
from edgeimpro.codegen import fusion
from edgeimpro.codegen.planner import MemoryPlan, plan_arena
from edgeimpro.errors import UnsupportedOpError, UsageError
from edgeimpro.escape import c_comment, c_ident, c_string, shell_arg
from edgeimpro.graph.analysis import op_macs as analysis_macs
from edgeimpro.graph.analysis import op_params as describe_op
from edgeimpro.graph.model import Graph, Tensor
from edgeimpro.graph.validate import check_int8, check_single_subgraph, check_static_shapes
from edgeimpro.ops.base import SCRATCH
from edgeimpro.ops.conv2d import dsp_direct
from edgeimpro.ops.depthwise_conv2d import dsp_planar

FORMAT_VERSION = 1
POISON_BYTE = 0xA5


@dataclass(frozen=True)
class ModelNames:
    """The C names of one model's API. Without a prefix: the generic single-model names of
    docs/aot-model-api.md (`eip_model_invoke`, `EIP_MODEL_ARENA_BYTES`, in model.h), which edgeimpro's
    firmware app and host runners use. With a prefix (`export --name kws`): `kws_invoke`, `KWS_ARENA_BYTES`
    in kws.h, so several models can share one program."""
    prefix: str | None = None

    def fn(self, base: str) -> str:
        return f"{self.prefix}_{base}" if self.prefix else f"eip_model_{base}"

    def macro(self, base: str) -> str:
        return f"{self.prefix.upper()}_{base}" if self.prefix else f"EIP_MODEL_{base}"

    @property
    def header(self) -> str:
        return f"{self.prefix}.h" if self.prefix else "model.h"

    # every function and object the generated code defines with external linkage (base names)
    FUNCTIONS = ("inputs", "outputs", "invoke_n", "invoke", "input_ptr", "output_ptr", "set_layer_hook")


@dataclass
class AotResult:
    files: dict[str, str]            # file name -> text
    plan: MemoryPlan
    arena_bytes: int
    weights_bytes: int
    layers: int
    # layers whose int32 arithmetic wraps around for some inputs, as TFLM's does (ops.wrap_warnings)
    warnings: list[str] = field(default_factory=list)
    kernels: list[str] = field(default_factory=list)   # runtime entry points model.c calls, first use first


# --- emission -------------------------------------------------------------------------------------------

def _c_array(values: np.ndarray, per_line: int = 16) -> str:
    flat = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    if not flat:
        return "{0}"
    lines = [", ".join(flat[i:i + per_line]) for i in range(0, len(flat), per_line)]
    return "{\n    " + ",\n    ".join(lines) + ",\n}"


def _shape(t: Tensor) -> str:
    return "x".join(str(d) for d in t.shape) or "scalar"


class _Emitter:
    def __init__(self, graph: Graph, name: str) -> None:
        self.g = graph
        self.name = name
        self.consts: list[str] = []       # const data definitions
        self.params: list[str] = []       # params struct definitions
        self.calls: list[str] = []        # body of invoke
        self.const_names: dict[int, str] = {}
        self.weights_bytes = 0
        self.source = f"{name}.tflite"

    # tensors: identifiers are unique by their index prefix; the name part is only for reading
    def tname(self, idx: int) -> str:
        t = self.g.tensors[idx]
        return f"T{idx}_{c_ident(t.name)}".upper()

    def const(self, idx: int) -> str:
        if idx in self.const_names:
            return self.const_names[idx]
        t = self.g.tensors[idx]
        ctype = {"int8": "int8_t", "int32": "int32_t"}.get(t.dtype)
        if ctype is None:
            raise UnsupportedOpError(f"constant tensor {idx} ({t.name!r}) has type {t.dtype}; the AOT runtime "
                                     "takes int8 and int32 constants only")
        name = f"c{idx}_{c_ident(t.name)}"
        self.consts.append(f"/* tensor {idx} '{c_comment(t.name)}' {t.dtype} {_shape(t)} */\n"
                           f"static const {ctype} {name}[{max(t.size, 1)}] __attribute__((aligned(16))) = "
                           f"{_c_array(t.data)};\n")
        self.const_names[idx] = name
        self.weights_bytes += t.nbytes
        return name

    def ptr(self, idx: int, writable: bool = False) -> str:
        if idx < 0:
            return "NULL"
        t = self.g.tensors[idx]
        if t.is_constant:
            if writable:
                raise UnsupportedOpError(f"op writes constant tensor {idx}")
            return self.const(idx)
        return f"(arena + {self.tname(idx)})"

    # params
    def render_params(self, layer: int, params: ops.KernelParams, scratch_offset: int | None = None,
                      scratch_expr: str | None = None) -> str:
        """The layer's static params struct; its scratch member points at the layer's planned scratch, or at
        `scratch_expr` (a pipeline's shared kernel scratch)."""
        struct = params.C_STRUCT
        inits = []
        for member, kind in params.c_fields():
            v = getattr(params, member)
            if kind == ops.SCALAR:
                inits.append(f"    .{member} = {int(v)},")
            elif kind == SCRATCH:
                if int(v) > 0 and scratch_offset is None and scratch_expr is None:
                    raise AssertionError(f"layer {layer} needs {v} B of scratch the memory plan did not place")
                where = scratch_expr or f"arena + L{layer}_SCRATCH"
                inits.append(f"    .{member} = {'NULL' if int(v) == 0 else where},"
                             + (f" /* {int(v)} B */" if int(v) else ""))
            elif kind == ops.ARRAY:
                inits.append(f"    .{member} = {{{', '.join(str(int(x)) for x in v)}}},")
            else:
                arr = f"layer{layer}_{member}"
                array = f"static const int32_t {arr}[{max(len(v), 1)}] = {_c_array(np.asarray(v))};"
                cond = params.c_conditions().get(member)
                if cond:   # only the kernel set that reads it gets the array: NULL elsewhere
                    self.params.append(f"#if {cond}\n{array}\n#endif")
                    inits.append(f"#if {cond}\n    .{member} = {arr},\n#else\n    .{member} = NULL,\n#endif")
                else:
                    self.params.append(array)
                    inits.append(f"    .{member} = {arr},")
        self.params.append(f"static const {struct} layer{layer}_params = {{\n" + "\n".join(inits) + "\n};\n")
        return f"&layer{layer}_params"


def memory_plan(graph: Graph, op_params: list[ops.KernelParams] | None = None) -> MemoryPlan:
    """The arena plan of `graph` for the AOT runtime: its kernels' in-place promises, streaming contracts and
    scratch (each layer's scratch as `plan_layers` chooses it)."""
    return plan_layers(graph, op_params)[0]


FUSE_CHOICES = ("auto", "all", "off")
PATCH_AUTO_CUT = 0.25      # --patches auto: only where they cut the arena by more than this
PATCH_AUTO_MAX = 8         # --patches auto tries 2 .. this many bands (and 12, 16, 24, one row each)
PATCH_AUTO_MACS = 0.25     # --patches auto: at most this share of the model's MACs recomputed in the halo


def plan_layers(graph: Graph, op_params: list[ops.KernelParams] | None = None, fuse: str = "auto",
                patches: str | int = "off", fit_bytes: int | None = None) -> tuple[MemoryPlan, list[ops.KernelParams]]:
    """The plan and the params the layers run with.

    A conv and the pool after it run fused (a two-layer pipeline, band by band: codegen/fusion.py) where
    that lowers the planned arena (`fuse` "auto"; "all": every pair that can, "off"). `patches`: the first
    stage as a pipeline of that many bands (an int: the smallest arena for that count), "auto" (2..8, 12,
    16, 24 and one-row bands recomputing at most 25% of the model's MACs, the smallest arena of them, only
    where it cuts the arena by more than 25% or makes it fit `fit_bytes`, the RAM a board leaves the arena)
    or "off". Each layer takes its fastest kernel path, except where a leaner one (less
    scratch, ops.lean_scratch) is what keeps the arena at its least: every layer lean first, the pipelines
    chosen, then each layer back on its fast path where the arena does not grow."""
    if fuse not in FUSE_CHOICES:
        raise UsageError(f"fuse must be one of {', '.join(FUSE_CHOICES)}, not {fuse!r}")
    counts = check_patches(patches)
    fast = list(op_params) if op_params is not None else [ops.op_params(graph, op) for op in graph.ops]
    params = [_lean(op, p) for op, p in zip(graph.ops, fast, strict=True)]
    plan, pipes = fusion.choose(fusion.fusion_candidates(graph, params), lambda f: _plan(graph, params, f), fuse)
    if counts:
        best = None
        macs = sum(analysis_macs(graph, op) for op in graph.ops)
        for n in counts:
            for cand in fusion.patch_candidates(graph, params, n):
                if patches == "auto" and cand.extra_macs() > PATCH_AUTO_MACS * macs:
                    continue
                trial = [p for p in pipes if not set(p.ops) & set(cand.ops)] + [cand]
                leanest = [_leanest(op, p) if op.index in cand.ops else p
                           for op, p in zip(graph.ops, params, strict=True)]
                t = _plan(graph, leanest, trial)
                if best is None or t.arena_bytes < best[0].arena_bytes:
                    best = (t, trial, leanest)
        if best is not None and (patches != "auto" or best[0].arena_bytes < (1 - PATCH_AUTO_CUT) * plan.arena_bytes
                                 or (fit_bytes is not None and plan.arena_bytes > fit_bytes >= best[0].arena_bytes)):
            plan, pipes, params = best
    for op in graph.ops:
        if params[op.index] is fast[op.index]:
            continue
        trial_params = params[:op.index] + [fast[op.index]] + params[op.index + 1:]
        faster = _plan(graph, trial_params, pipes)
        if faster.arena_bytes <= plan.arena_bytes:
            plan, params = faster, trial_params
    # the op-order bound is the model's as written: no pipelines, every layer on its fast path
    base = plan_arena(graph, scratch={op.index: p.scratch_bytes() for op, p in zip(graph.ops, params, strict=True)})
    plan.lower_bound, plan.lower_bound_op = base.lower_bound, base.lower_bound_op
    plan.layer_params = params
    return plan, params


def _lean(op, params: ops.KernelParams) -> ops.KernelParams:   # noqa: ANN001
    """The layer one step leaner, but never down to no scratch at all (a depthwise's direct loops cost more
    than the strip's RAM saves, except in a patched stage, where the largest scratch of its layers counts)."""
    lean = ops.lean_scratch(op, params)
    return lean if lean is not None and (lean.scratch_bytes() or not params.scratch_bytes()) else params


def _leanest(op, params: ops.KernelParams) -> ops.KernelParams:   # noqa: ANN001
    """The layer's leanest kernel path (a patched stage's layers share one scratch: the largest counts)."""
    while (lean := ops.lean_scratch(op, params)) is not None:
        params = lean
    return params


def check_patches(patches: str | int) -> list[int]:
    """The band counts `patches` asks to try ("off": none); UsageError for anything else than auto, off or
    a count of 2 or more."""
    if patches == "off":
        return []
    if patches == "auto":
        return [*range(2, PATCH_AUTO_MAX + 1), 12, 16, 24, 1 << 15]   # the last: one output row per band
    try:
        n = int(patches)
    except (TypeError, ValueError):
        n = 0
    if n < 2 or n > 1 << 15:
        raise UsageError(f"--patches takes auto, off or a number of patches (2 or more), not {patches!r}")
    return [n]


def _plan(graph: Graph, params: list[ops.KernelParams], pipes: list[fusion.Pipeline] | None = None) -> MemoryPlan:
    pipes = pipes or []
    streams = {op.index: s for op, p in zip(graph.ops, params, strict=True) if (s := ops.stream(op, p)) is not None}
    scratch = {op.index: p.scratch_bytes() for op, p in zip(graph.ops, params, strict=True)}
    for pipe in pipes:
        kernel = max(scratch[k] for k in pipe.ops)
        for k in pipe.ops:
            streams.pop(k, None)
            scratch[k] = 0
        streams[pipe.first] = pipe.stream()
        scratch[pipe.first] = pipe.scratch_bytes(kernel)
    plan = plan_arena(graph, lambda op: ops.can_run_inplace(graph, op), scratch=scratch, streams=streams,
                      pipelines=[pipe.ops for pipe in pipes])
    plan.pipeline_meta = [(pipe.rows, pipe.patches) for pipe in pipes]
    return plan


def plan_pipelines(graph: Graph, plan: MemoryPlan, params: list[ops.KernelParams]) -> list[fusion.Pipeline]:
    """The plan's pipelines with the layers' params and sources."""
    out = []
    for chain, (rows, patched) in zip(plan.pipelines, plan.pipeline_meta, strict=True):
        sources = fusion.stage_sources(graph, params, chain[0], chain[-1])
        if sources is None:
            raise AssertionError(f"layers {chain[0]}..{chain[-1]} cannot run as a pipeline")
        out.append(fusion.Pipeline(tuple(fusion.Layer(k, params[k], src) for k, src in zip(chain, sources, strict=True)),
                                   rows, patched))
    return out


def generate_aot(graph: Graph, name: str = "model", plan: MemoryPlan | None = None,
                 source: str | None = None, prefix: str | None = None, fuse: str = "auto",
                 patches: str | int = "off", fit_bytes: int | None = None) -> AotResult:
    """C code for `graph`: model.c and model.h with the generic names, or with `prefix` model.c,
    PREFIX.h (the prefixed API) and model.h (the generic names mapped onto it, for a one-model program).
    Raises ModelError / UnsupportedOpError naming the op, layer and parameter."""
    check_single_subgraph(graph)
    check_int8(graph)
    check_static_shapes(graph)
    for op in graph.ops:
        if ops.get(op.opcode) is None:
            raise UnsupportedOpError(
                f"layer {op.index} ({op.opcode}) is not supported by the AOT runtime",
                hint="supported ops: " + ", ".join(ops.supported())
                     + "; export for TensorFlow Lite Micro instead: --target tflm")
    op_params = [ops.op_params(graph, op) for op in graph.ops]  # validates every op first
    if plan is None:
        plan, op_params = plan_layers(graph, op_params, fuse, patches, fit_bytes)
    elif plan.layer_params:   # a given plan (plan_layers'): the layers run with the params it planned
        op_params = list(plan.layer_params)
    em = _Emitter(graph, name)
    em.source = source or f"{name}.tflite"
    names = ModelNames(prefix)

    body: list[str] = []
    kernels: dict[str, None] = {}
    pipes = {pipe.first: pipe for pipe in plan_pipelines(graph, plan, op_params)}
    inside = {k: pipe for pipe in pipes.values() for k in pipe.ops[1:]}
    for op, params in zip(graph.ops, op_params, strict=True):
        spec = ops.REGISTRY[op.opcode]
        function, pattern = spec.kernel, spec.convention.kind
        ins = op.input_tensors(graph)
        out = op.outputs[0]
        out_t = graph.tensors[out]
        act_in = [t for t in ins if t is not None and not t.is_constant]
        detail = describe_op(graph, op)
        desc = (f"layer {op.index}: {op.opcode} {' + '.join(_shape(t) for t in act_in)} -> {_shape(out_t)}"
                + (f", {detail}" if detail else ""))
        body.append(f"    /* {c_comment(desc)} */")
        aliased = spec.alias and plan.offsets.get(op.inputs[0]) == plan.offsets.get(out)
        if op.index in inside and op.index != inside[op.index].last:
            body.append(f"    /* run in the pipeline of layer {inside[op.index].first} */")
            body.append(f"    LAYER_FUSED({op.index}, {ops.builtin_code(op.opcode)});")
            continue
        if op.index in pipes:
            pipe = pipes[op.index]
            body.append(f"    /* {c_comment(pipe.describe(graph))} */")
            block = f"(arena + L{pipe.first}_SCRATCH)"
            at = fusion.kernel_scratch_at(pipe)
            calls, structs, refs = [], [], []
            for k in pipe.ops:
                kop, kparams = graph.ops[k], op_params[k]
                kspec = ops.REGISTRY[kop.opcode]
                if kspec.convention.kind == "in_w_b":
                    calls.append(f"{kspec.kernel}({{p}}, {{input}}, {em.ptr(kop.inputs[1])}, "
                                 f"{em.ptr(kop.inputs[2]) if len(kop.inputs) > 2 else 'NULL'}, {{output}})")
                elif kspec.convention.kind == "in2":
                    calls.append(f"{kspec.kernel}({{p}}, {{input}}, {{input2}}, {{output}})")
                else:
                    calls.append(f"{kspec.kernel}({{p}}, {{input}}, {{output}})")
                structs.append(kparams.C_STRUCT)
                refs.append(em.render_params(k, kparams, scratch_expr=f"{block} + {at}"))
                kernels[kspec.kernel] = None
            loop, table = fusion.c_code(pipe, calls, structs, refs, em.ptr(op.inputs[0]),
                                        em.ptr(graph.ops[pipe.last].outputs[0], writable=True), block,
                                        f"layer{pipe.first}_bands")
            em.params.append(table)
            body += loop
            body.append(f"    LAYER_FUSED({op.index}, {ops.builtin_code(op.opcode)});")
            continue
        if op.index in inside:   # a pipeline's last layer: its output is whole, the hook and poisoning below
            body.append(f"    /* run in the pipeline of layer {inside[op.index].first} */")
        elif aliased:
            body.append("    /* no copy: the output aliases the input in the arena */")
        else:
            pref = em.render_params(op.index, params, plan.scratch.get(op.index))
            if pattern == "in_w_b":
                args = [em.ptr(op.inputs[0]), em.ptr(op.inputs[1]),
                        em.ptr(op.inputs[2]) if len(op.inputs) > 2 else "NULL"]
            elif pattern == "in2":
                args = [em.ptr(op.inputs[0]), em.ptr(op.inputs[1])]
            elif pattern == "inputs":
                arr = f"layer{op.index}_inputs"
                body.append(f"    const int8_t *const {arr}[{len(op.inputs)}] = "
                            f"{{{', '.join(em.ptr(i) for i in op.inputs)}}};")
                args = [arr]
            else:
                args = [em.ptr(op.inputs[0])]
            body.append(f"    st = {function}({pref}, {', '.join(args)}, {em.ptr(out, writable=True)});")
            kernels[function] = None
            body.append("    if (st != EIP_OK) {\n        return st;\n    }")
        builtin = ops.builtin_code(op.opcode)
        body.append(f"    LAYER_DONE({op.index}, {builtin}, {em.ptr(out)}, {out_t.nbytes}u);")
    em.calls = body
    files = {names.header: _header(graph, name, plan, em, names), "model.c": _source(graph, plan, em, names),
             KERNEL_PATHS_HEADER: kernel_paths_header(graph, op_params)}
    if prefix:
        files["model.h"] = _generic_header(graph, name, plan, em, names)
    warnings = [str(w) for op, params in zip(graph.ops, op_params, strict=True)
                for w in ops.wrap_warnings(graph, op, params)]
    return AotResult(files=files, plan=plan, arena_bytes=plan.arena_bytes, weights_bytes=em.weights_bytes,
                     layers=len(graph.ops), warnings=warnings, kernels=list(kernels))


KERNEL_PATHS_HEADER = "eip_model_kernels.h"
# the MAC ops whose kernels read it, by the op name of its macros
_PATH_OPS = {"CONV_2D": "CONV", "DEPTHWISE_CONV_2D": "DEPTHWISE", "FULLY_CONNECTED": "FULLY_CONNECTED"}


def kernel_paths(graph: Graph, op_params: list[ops.KernelParams]) -> dict[str, int]:
    """What the model's layers ask of the MAC kernels, as the macros of eip_model_kernels.h: per op, the
    requantizations its layers use (EIP_MODEL_<OP>_REQUANTS, a mask of 1 << EIP_REQUANT_*) and whether any
    clamps to less than the int8 range (EIP_MODEL_<OP>_CLAMPS); convs the Arm DSP kernel runs on its direct
    loop (EIP_MODEL_CONV_DIRECT, ops/conv2d.py dsp_direct); depthwise layers off its planar path
    (EIP_MODEL_DEPTHWISE_GENERAL, ops/depthwise_conv2d.py dsp_planar). The Arm kernels leave out the code of
    a path no layer takes (runtime/kernels/kernel_paths.h)."""
    facts = {f"EIP_MODEL_{name}_{what}": 0 for name in _PATH_OPS.values() for what in ("REQUANTS", "CLAMPS")}
    facts["EIP_MODEL_CONV_DIRECT"] = 0
    facts["EIP_MODEL_DEPTHWISE_GENERAL"] = 0
    for op, p in zip(graph.ops, op_params, strict=True):
        name = _PATH_OPS.get(op.opcode)
        if name is None or not hasattr(p, "requant"):
            continue
        facts[f"EIP_MODEL_{name}_REQUANTS"] |= 1 << p.requant
        facts[f"EIP_MODEL_{name}_CLAMPS"] |= int(p.act_min != -128 or p.act_max != 127)
        if name == "CONV" and dsp_direct(p):
            facts["EIP_MODEL_CONV_DIRECT"] = 1
        if name == "DEPTHWISE" and not dsp_planar(p):
            facts["EIP_MODEL_DEPTHWISE_GENERAL"] = 1
    return facts


def kernel_paths_header(graph: Graph, op_params: list[ops.KernelParams]) -> str:
    """eip_model_kernels.h: kernel_paths() as C macros. The runtime's kernels include it when it is on the
    include path (beside model.c); without it every path is built."""
    defines = "\n".join(f"#define {k} {v}" for k, v in kernel_paths(graph, op_params).items())
    return ("/*\n * Generated by edgeimpro " + __version__ + ": the kernel paths this model's layers take "
            "(edgeimpro/codegen/aot.py,\n * kernel_paths). The Arm kernels leave the others out; a layer of "
            "another model that needs one\n * gets EIP_ERR_BAD_PARAM (regenerate the model code).\n */\n"
            f"#ifndef EIP_MODEL_KERNELS_H\n#define EIP_MODEL_KERNELS_H\n\n{defines}\n\n"
            "#endif /* EIP_MODEL_KERNELS_H */\n")


def _banner(graph: Graph, source: str, names: ModelNames | None = None) -> str:
    name = f" --name {names.prefix}" if names is not None and names.prefix else ""
    regenerate = c_comment(f"edgeimpro export {shell_arg(source)} --target aot{name}")
    return (f"/*\n * Generated by edgeimpro {__version__} (AOT format {FORMAT_VERSION}) from {c_comment(source)}\n"
            f" * sha256 {graph.sha256}\n"
            f" * Do not edit: regenerate with `{regenerate}`.\n */\n")


def _info_rows(graph: Graph, tensors: list[int]) -> str:
    rows = []
    for i in tensors:
        t = graph.tensors[i]
        s, z = t.quantization.scalar if t.quantization else (0.0, 0)
        dims = list(t.shape) + [0] * (6 - len(t.shape))
        rows.append(f"    {{{c_string(t.name)}, {len(t.shape)}, {{{', '.join(map(str, dims))}}}, {t.nbytes}u, "
                    f"{float(np.float32(s))!r}f, {z}}},")
    return "\n".join(rows)


def _macro_lines(graph: Graph, name: str, plan: MemoryPlan, em: _Emitter, names: ModelNames) -> list[str]:
    m = names.macro
    lines = [f"#define {m('FORMAT_VERSION')} {FORMAT_VERSION}",
             f'#define {m("SHA256")} "{graph.sha256}"',
             f"#define {m('NAME')} {c_string(name)}",
             f"#define {m('ARENA_BYTES')} {plan.arena_bytes}u",
             f"#define {m('WEIGHTS_BYTES')} {em.weights_bytes}u",
             f"#define {m('NUM_LAYERS')} {len(graph.ops)}",
             f"#define {m('NUM_INPUTS')} {len(graph.inputs)}",
             f"#define {m('NUM_OUTPUTS')} {len(graph.outputs)}"]
    for kind, idxs in (("INPUT", graph.inputs), ("OUTPUT", graph.outputs)):
        for j, i in enumerate(idxs):
            t = graph.tensors[i]
            s, z = t.quantization.scalar if t.quantization else (0.0, 0)
            lines += [f"#define {m(f'{kind}_{j}_BYTES')} {t.nbytes}u",
                      f"#define {m(f'{kind}_{j}_SCALE')} {float(np.float32(s))!r}f",
                      f"#define {m(f'{kind}_{j}_ZERO_POINT')} ({z})"]
        lines.append(f"#define {m(f'MAX_{kind}_BYTES')} {max(graph.tensors[i].nbytes for i in idxs)}u")
    return lines


def _header(graph: Graph, name: str, plan: MemoryPlan, em: _Emitter, names: ModelNames) -> str:
    guard = f"EIP_MODEL_{c_ident(names.prefix or name).upper()}_H"
    fn, m = names.fn, names.macro
    lines = [_banner(graph, em.source, names), f"#ifndef {guard}", f"#define {guard}", "", "#include <stdint.h>", "",
             '#include "eip_model_api.h"', "", '#ifdef __cplusplus\nextern "C" {\n#endif', "",
             *_macro_lines(graph, name, plan, em, names)]
    lines += ["",
              f"extern const eip_tensor_info_t {fn('inputs')}[{m('NUM_INPUTS')}];",
              f"extern const eip_tensor_info_t {fn('outputs')}[{m('NUM_OUTPUTS')}];", "",
              "/* Run one inference. Inputs and outputs may point into the arena (then nothing is copied). */",
              f"eip_status_t {fn('invoke_n')}(const int8_t *const inputs[], int8_t *const outputs[]);"]
    if len(graph.inputs) == 1 and len(graph.outputs) == 1:
        lines.append(f"eip_status_t {fn('invoke')}(const int8_t *input, int8_t *output);")
    lines += ["/* Where input / output i lives in the arena: fill or read it in place. */",
              f"int8_t *{fn('input_ptr')}(int i);",
              f"const int8_t *{fn('output_ptr')}(int i);", "",
              "#ifdef EIP_LAYER_HOOK",
              f"void {fn('set_layer_hook')}(eip_layer_hook_t hook, void *ctx);",
              "#endif", "", '#ifdef __cplusplus\n}\n#endif', "", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def _generic_header(graph: Graph, name: str, plan: MemoryPlan, em: _Emitter, names: ModelNames) -> str:
    """model.h of a prefixed export: the generic names of a one-model program (edgeimpro's firmware app and
    host runners) for this model. The constants are repeated as literals: tools read them from model.h."""
    generic = ModelNames()
    aliases = [f"#define {generic.fn(base)} {names.fn(base)}" for base in ModelNames.FUNCTIONS
               if base != "invoke" or (len(graph.inputs) == 1 and len(graph.outputs) == 1)]
    lines = [_banner(graph, em.source, names),
             f"/* One model per program: the generic names (eip_model_*, EIP_MODEL_*) for model {c_comment(name)}.",
             f"   A program holding several models includes {c_comment(names.header)} instead. */",
             "#ifndef EIP_MODEL_H", "#define EIP_MODEL_H", "", f'#include "{names.header}"', "",
             *_macro_lines(graph, name, plan, em, generic), "", *aliases, "", "#endif /* EIP_MODEL_H */", ""]
    return "\n".join(lines)


def _source(graph: Graph, plan: MemoryPlan, em: _Emitter, names: ModelNames) -> str:
    fn, m = names.fn, names.macro
    offsets = []
    streamed = {p.dst: p for p in plan.streams if p.lag is not None}
    for b in sorted(plan.blocks, key=lambda b: (b.offset, b.first)):
        for t in b.tensors:
            tt = graph.tensors[t]
            over = ""
            if t in streamed:
                p = streamed[t]
                shared = min(tt.nbytes, p.lag + graph.tensors[p.src].nbytes) - p.lag
                over = (f"; streams over {em.tname(p.src)}: starts {p.lag} B below it and overlaps its first "
                        f"{shared} B, which layer {p.op} has read before writing there (least lag {p.min_lag} B)")
            offsets.append(f"    {em.tname(t)} = {b.offset}, /* {tt.nbytes} B, {_shape(tt)}, "
                           f"live ops {b.first}..{b.last}{over} */")
        chain = next((c for c in plan.pipelines if c[0] == b.scratch_op), None)
        if chain is not None:
            offsets.append(f"    L{b.scratch_op}_SCRATCH = {b.offset}, /* {b.nbytes} B, the pipeline of layers "
                           f"{chain[0]}..{chain[-1]}: its band buffers, then its layers' kernel scratch */")
        elif b.scratch_op is not None:
            offsets.append(f"    L{b.scratch_op}_SCRATCH = {b.offset}, /* {b.nbytes} B, layer {b.scratch_op}'s scratch */")
    blocks = "\n".join(f"    {{{b.offset}u, {b.nbytes}u, {b.first}, {b.last}}}," for b in plan.blocks)
    in_ptrs = ", ".join(f"arena + {em.tname(i)}" for i in graph.inputs)
    out_ptrs = ", ".join(f"arena + {em.tname(i)}" for i in graph.outputs)
    copy_in = "\n".join(
        f"    if (inputs[{j}] != arena + {em.tname(i)}) {{\n"
        f"        memcpy(arena + {em.tname(i)}, inputs[{j}], {graph.tensors[i].nbytes}u);\n    }}"
        for j, i in enumerate(graph.inputs))
    copy_out = "\n".join(
        f"    if (outputs[{j}] != arena + {em.tname(i)}) {{\n"
        f"        memcpy(outputs[{j}], arena + {em.tname(i)}, {graph.tensors[i].nbytes}u);\n    }}"
        for j, i in enumerate(graph.outputs))
    single = ""
    if len(graph.inputs) == 1 and len(graph.outputs) == 1:
        single = (f"\neip_status_t {fn('invoke')}(const int8_t *input, int8_t *output)\n{{\n"
                  "    const int8_t *const inputs[1] = {input};\n    int8_t *const outputs[1] = {output};\n"
                  f"    return {fn('invoke_n')}(inputs, outputs);\n}}\n")
    return f"""{_banner(graph, em.source, names)}
#include <stddef.h>
#include <string.h>

#include "eip_kernels.h"
#include "{names.header}"

#if EIP_RUNTIME_ABI_VERSION != {ops.RUNTIME_ABI_VERSION}
#error "model.c was generated for runtime ABI {ops.RUNTIME_ABI_VERSION}: regenerate it with this edgeimpro"
#endif

/* Memory plan: byte offset of every activation tensor and kernel scratch in the arena ({plan.arena_bytes} B). */
enum {{
{chr(10).join(offsets)}
}};

static int8_t arena[{m('ARENA_BYTES')}] __attribute__((aligned(16)));

const eip_tensor_info_t {fn('inputs')}[{m('NUM_INPUTS')}] = {{
{_info_rows(graph, graph.inputs)}
}};
const eip_tensor_info_t {fn('outputs')}[{m('NUM_OUTPUTS')}] = {{
{_info_rows(graph, graph.outputs)}
}};

/* ---- weights and biases (flash) ---- */
{chr(10).join(em.consts)}
/* ---- kernel parameters, precomputed at export ---- */
{chr(10).join(em.params)}
/* ---- per-layer hook and dead-buffer poisoning (both compiled out by default) ---- */
#ifdef EIP_LAYER_HOOK
static eip_layer_hook_t layer_hook;
static void *layer_hook_ctx;

void {fn('set_layer_hook')}(eip_layer_hook_t hook, void *ctx)
{{
    layer_hook = hook;
    layer_hook_ctx = ctx;
}}
#endif

#ifdef EIP_POISON_DEAD
/* {{offset, bytes, first op, last op}} of every arena block; after layer k only blocks with
   first <= k < last hold data anyone will read again: everything else is overwritten. */
static const struct {{
    uint32_t offset;
    uint32_t bytes;
    int32_t first;
    int32_t last;
}} blocks[] = {{
{blocks}
}};

static void poison_dead(int layer)
{{
    static int8_t keep[{m('ARENA_BYTES')}];
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {{
        if (blocks[i].first <= layer && layer < blocks[i].last) {{
            memcpy(keep + blocks[i].offset, arena + blocks[i].offset, blocks[i].bytes);
        }}
    }}
    memset(arena, (int8_t){POISON_BYTE:#x}, sizeof arena);
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {{
        if (blocks[i].first <= layer && layer < blocks[i].last) {{
            memcpy(arena + blocks[i].offset, keep + blocks[i].offset, blocks[i].bytes);
        }}
    }}
}}
#endif

/* After every layer: the test-only perturbation, the hook, the poisoning; each compiled out by default. */
#ifdef EIP_TEST_PERTURB_LAYER
/* Tests of the comparison tooling: corrupt one layer's output on purpose (flip the low bit of byte 0). */
#define LAYER_PERTURB(layer, out)                   \\
    do {{                                            \\
        if ((layer) == (EIP_TEST_PERTURB_LAYER)) {{  \\
            (out)[0] = (int8_t)((out)[0] ^ 1);      \\
        }}                                          \\
    }} while (0)
#else
#define LAYER_PERTURB(layer, out) ((void)0)
#endif
#ifdef EIP_LAYER_HOOK
#define LAYER_HOOK(layer, opcode, out, bytes)                               \\
    do {{                                                                    \\
        if (layer_hook != NULL) {{                                          \\
            layer_hook((layer), (opcode), (out), (bytes), layer_hook_ctx);  \\
        }}                                                                  \\
    }} while (0)
#else
#define LAYER_HOOK(layer, opcode, out, bytes) ((void)0)
#endif
#ifdef EIP_POISON_DEAD
#define LAYER_POISON(layer) poison_dead(layer)
#else
#define LAYER_POISON(layer) ((void)0)
#endif
#define LAYER_DONE(layer, opcode, out, bytes)   \\
    do {{                                        \\
        LAYER_PERTURB(layer, out);              \\
        LAYER_HOOK(layer, opcode, out, bytes);  \\
        LAYER_POISON(layer);                    \\
    }} while (0)
/* A conv fused with the pool after it: its output never existed whole, the hook gets no bytes for it. */
#define LAYER_FUSED(layer, opcode)              \\
    do {{                                        \\
        LAYER_HOOK(layer, opcode, NULL, 0u);    \\
        LAYER_POISON(layer);                    \\
    }} while (0)

int8_t *{fn('input_ptr')}(int i)
{{
    static int8_t *const ptrs[{m('NUM_INPUTS')}] = {{{in_ptrs}}};
    return (i >= 0 && i < {m('NUM_INPUTS')}) ? ptrs[i] : NULL;
}}

const int8_t *{fn('output_ptr')}(int i)
{{
    static const int8_t *const ptrs[{m('NUM_OUTPUTS')}] = {{{out_ptrs}}};
    return (i >= 0 && i < {m('NUM_OUTPUTS')}) ? ptrs[i] : NULL;
}}

eip_status_t {fn('invoke_n')}(const int8_t *const inputs[], int8_t *const outputs[])
{{
    eip_status_t st = EIP_OK;
    if (inputs == NULL || outputs == NULL) {{
        return EIP_ERR_NULL_POINTER;
    }}
{copy_in}

{chr(10).join(em.calls)}

{copy_out}
    return st;
}}
{single}"""


def aot_report(graph: Graph, result: AotResult, tflm_arena: dict[str, Any] | None) -> dict[str, Any]:
    """The figures `export --target aot` prints and writes beside the code (aot_report.json)."""
    from edgeimpro.graph.analysis import ram_lower_bound

    activations, _ = ram_lower_bound(graph)
    bound, peak_op = result.plan.lower_bound, result.plan.lower_bound_op
    rep: dict[str, Any] = {
        "model_sha256": graph.sha256,
        "generator": f"edgeimpro {__version__}",
        "format_version": FORMAT_VERSION,
        "layers": result.layers,
        "arena_bytes": result.arena_bytes,
        "weights_bytes": result.weights_bytes,
        "ram_lower_bound": bound,            # op order: tensors live at once plus the op's kernel scratch
        "ram_lower_bound_op": peak_op,
        "streamed_lower_bound": result.plan.streamed_bound,   # the same with streamed outputs over inputs
        "streamed_layers": [p.op for p in result.plan.streams if p.lag is not None],
        "activations_lower_bound": activations,
        "scratch_bytes": max((b.nbytes for b in result.plan.blocks if b.scratch_op is not None), default=0),
        "arena_vs_lower_bound": round(result.arena_bytes / bound, 4) if bound else None,
        "inplace_ops": [op for op, _, _ in result.plan.inplace],
        "pipelines": [{"layers": chain, "rows_per_band": rows, "kind": "patches" if patched else "fused"}
                      for chain, (rows, patched) in zip(result.plan.pipelines, result.plan.pipeline_meta, strict=True)],
        "tflm_arena_bytes_64bit": None,
        "tflm_arena_bytes_32bit": None,
        "arena_vs_tflm_32bit": None,
        "tflm_arena_note": tflm_arena["note"] if tflm_arena else "not measured (disabled)",
        "warnings": result.warnings,
    }
    if tflm_arena and tflm_arena["bytes_32bit"]:
        rep["tflm_arena_bytes_64bit"] = tflm_arena["bytes_64bit"]
        rep["tflm_arena_bytes_32bit"] = tflm_arena["bytes_32bit"]
        rep["arena_vs_tflm_32bit"] = round(result.arena_bytes / tflm_arena["bytes_32bit"], 4)
    return rep


def export_aot(model_path: Path, out_dir: Path, measure_tflm: bool = True, *, layout: str | None = None,
               core: str | None = None, name: str | None = None, patches: str | int = "auto",
               fit_bytes: int | None = None) -> dict[str, Any]:
    """Write the AOT export to `out_dir` (all or nothing) and return the report (aot_report.json).

    Without `layout`: model.c and model.h with the generic names, for edgeimpro's own firmware and host
    builds, which bring the runtime. With a layout (codegen.package.LAYOUTS): a self-contained folder, the
    model's names prefixed with `name` (default: from the file name), the runtime sources it needs for
    `core` (default generic: the reference kernels) and the layout's build files. `patches`, `fit_bytes`:
    plan_layers'."""
    import json

    from edgeimpro.codegen import package
    from edgeimpro.codegen.output import check_out_dir, write_export
    from edgeimpro.graph.loader import load_graph, read_model_bytes

    model_path, out_dir = Path(model_path), Path(out_dir)
    check_out_dir(out_dir)
    check_patches(patches)
    if layout is not None:   # refuse bad options before any work
        name = package.check_name(name) if name is not None else package.default_name(model_path)
        core = core or package.DEFAULT_CORE
        package.check_options(layout, core)
    elif name is not None or core is not None:
        raise UsageError("--name and --core need a layout (--layout cmake|platformio|arduino|zephyr)")
    graph = load_graph(read_model_bytes(model_path))
    stem = c_ident(model_path.stem, 40)
    result = generate_aot(graph, name or stem, source=model_path.name, prefix=name, patches=patches,
                          fit_bytes=fit_bytes)
    files: dict[str, str | bytes]
    manifest: dict[str, Any] = {"format": "edgeimpro-export", "target": "aot", "edgeimpro": __version__,
                                "model": model_path.name, "model_sha256": graph.sha256}
    if layout is None:
        files = dict(result.files)
    else:
        assert name is not None and core is not None
        pkg = package.package_files(graph, result, name=name, layout=layout, core=core,
                                    model_file=model_path.name)
        files = dict(pkg.files)
        manifest.update(layout=layout, name=name, core=core, kernels=pkg.kernels, code_dir=pkg.code_dir or ".")
    tflm = measure_tflm_arena_sizes(model_path) if measure_tflm else None
    report = aot_report(graph, result, tflm)
    report["patches"] = patch_report(graph, result, patches)
    if layout is not None:
        report.update(name=name, layout=layout, core=core, code_dir=pkg.code_dir or ".", sources=pkg.sources)
    files["aot_report.json"] = json.dumps(report, indent=2) + "\n"
    write_export(out_dir, files, manifest)
    return report


def patch_report(graph: Graph, result: AotResult, patches: str | int) -> dict[str, Any] | None:
    """What the patched first stage costs and saves (None without one): its layers, bands, the MACs
    recomputed in the halo and the arena without it (export prints it, bench adds the instructions)."""
    params = result.plan.layer_params or [ops.op_params(graph, op) for op in graph.ops]
    stage = next((p for p in plan_pipelines(graph, result.plan, params) if p.patches), None)
    if stage is None:
        return None
    without = plan_layers(graph, patches="off")[0].arena_bytes   # from the fast params, as export plans
    macs = sum(analysis_macs(graph, op) for op in graph.ops)
    return {"option": str(patches), "layers": stage.ops, "bands": len(stage.bands()), "rows_per_band": stage.rows,
            "extra_macs": stage.extra_macs(), "model_macs": macs, "arena_without": without,
            "arena_saved": without - result.arena_bytes}


def measure_tflm_arena_sizes(model_path: Path) -> dict[str, Any]:
    """TFLM's arena for the same model (x86-64 measured, 32-bit estimated). A figure for comparison only:
    when it cannot be measured (no tflite_micro, TFLM refuses or crashes on the file) the sizes are None
    and `note` says why."""
    from edgeimpro.errors import DependencyError, EdgeImproError
    from edgeimpro.references import estimate_arena_32bit, measure_tflm_arena

    try:
        m = measure_tflm_arena(model_path)
    except DependencyError:
        return {"bytes_64bit": None, "bytes_32bit": None, "note": "not measured (tflite_micro not installed)"}
    except EdgeImproError as e:
        return {"bytes_64bit": None, "bytes_32bit": None, "note": f"not measured: {e.message}"}
    return {"bytes_64bit": m.total, "bytes_32bit": estimate_arena_32bit(m), "note": None}
