"""What one op declares to the registry (`OpDef`), and the params-record base every op's params derive from.

A params record is a frozen dataclass that *is* the C params struct: `eip_kernels.h` is generated from the
records (`edgeimpro.ops.header`), so the two cannot drift. Field kinds: `int` -> `int32_t x;`,
`array_field()` -> `int32_t x[EIP_MAX_DIMS];`, `pointer_field()` -> `const int32_t *x;` (the values live in
a separate const array). `doc` on a field becomes the member's comment in the header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from edgeimpro.graph.model import Graph, Op

RUNTIME_ABI_VERSION = 6  # EIP_RUNTIME_ABI_VERSION in eip_runtime.h: bump both when a params struct changes
MAX_DIMS = 6            # EIP_MAX_DIMS
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# eip_status_t, in enum order: (name, comment in eip_runtime.h, text of eip_status_str)
STATUSES: tuple[tuple[str, str, str], ...] = (
    ("EIP_OK", "", "ok"),
    ("EIP_ERR_NULL_POINTER", "a required tensor or params pointer is NULL",
     "a required tensor or params pointer is NULL"),
    ("EIP_ERR_BAD_SHAPE", "a dimension is zero, negative or inconsistent with another",
     "a tensor dimension is zero, negative or inconsistent"),
    ("EIP_ERR_BAD_PARAM", "a precomputed parameter is outside the range the arithmetic allows",
     "a kernel parameter is out of range (regenerate the model code)"),
    ("EIP_ERR_SOFTMAX_SUM", "a softmax row's exponent sum reached 512 (TFLM aborts the process here)",
     "softmax row exponent sum reached 512 (TFLite Micro aborts on this input)"),
    ("EIP_ERR_ARENA", "the tensor arena is too small for the memory plan",
     "tensor arena too small for the memory plan"),
    ("EIP_ERR_VERSION", "generated model code built for another runtime ABI version",
     "model code was generated for another runtime version (regenerate it)"),
)
STATUS = {name: code for code, (name, _, _) in enumerate(STATUSES)}

SCALAR, ARRAY, POINTER = "int32_t", "int32_t[EIP_MAX_DIMS]", "const int32_t *"
SCRATCH = "int8_t *"   # the kernel's working memory in the arena: the record holds its size in bytes


def scalar_field(doc: str = "") -> Any:
    """An `int32_t name;` member, with its header comment."""
    return field(metadata={"c_kind": SCALAR, "doc": doc})


def array_field(doc: str = "") -> Any:
    """A fixed `int32_t name[EIP_MAX_DIMS]` member (a tuple of MAX_DIMS ints)."""
    return field(metadata={"c_kind": ARRAY, "doc": doc})


def scratch_field(doc: str = "") -> Any:
    """An `int8_t *name` member: scratch memory the memory planner places in the arena for this layer only
    (the record's value is its size in bytes; 0 gives NULL)."""
    return field(metadata={"c_kind": SCRATCH, "doc": doc})


def pointer_field(doc: str = "", only_if: str = "") -> Any:
    """A `const int32_t *name` member (a tuple of ints stored in a separate const array). `only_if`: a C
    preprocessor condition; the generated model holds the array only where it is true, and NULL elsewhere
    (values only one kernel set reads cost the others no flash)."""
    return field(metadata={"c_kind": POINTER, "doc": doc, "only_if": only_if})


@dataclass(frozen=True)
class KernelParams:
    """Base of the params records. C_STRUCT names the struct, C_DOC is its comment in eip_kernels.h."""

    C_STRUCT: ClassVar[str] = ""
    C_DOC: ClassVar[str] = ""

    @classmethod
    def c_fields(cls) -> list[tuple[str, str]]:
        """[(member name, c kind)] in struct order; c kind is SCALAR, ARRAY, POINTER or SCRATCH."""
        return [(f.name, f.metadata.get("c_kind", SCALAR)) for f in fields(cls)]

    @classmethod
    def c_docs(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("doc", "") for f in fields(cls)}

    @classmethod
    def c_conditions(cls) -> dict[str, str]:
        """member -> the preprocessor condition under which a generated model fills it (pointer_field only_if)."""
        return {f.name: f.metadata["only_if"] for f in fields(cls) if f.metadata.get("only_if")}

    def scratch_bytes(self) -> int:
        """Bytes of arena scratch the kernel needs during this layer."""
        return sum(int(getattr(self, name)) for name, kind in self.c_fields() if kind == SCRATCH)

    def out_of_range_field(self) -> str | None:
        """Name of the first field holding a value outside int32 (or an array of the wrong length)."""
        for name, kind in self.c_fields():
            value = getattr(self, name)
            values = value if kind in (ARRAY, POINTER) else (value,)
            if kind == ARRAY and len(values) != MAX_DIMS:
                return name
            if any(not INT32_MIN <= int(v) <= INT32_MAX for v in values):
                return name
        return None


@dataclass(frozen=True)
class Convention:
    """How a kernel takes its tensors after the params pointer. `kind` is what the generators switch on:
    in: (input, output); in_w_b: (input, weights, bias or NULL, output); in2: (input1, input2, output);
    inputs: (const int8_t *const inputs[], output)."""

    kind: str
    args: tuple[tuple[str, str], ...]   # (C type, name) after the params pointer
    count: str = ""                     # "inputs": the params field holding the number of inputs

    def prototype(self, kernel: str, struct: str) -> str:
        args = ", ".join(f"{ctype}{'' if ctype.endswith('*') else ' '}{name}" for ctype, name in self.args)
        return f"eip_status_t {kernel}(const {struct} *p, {args});"


IN = Convention("in", (("const int8_t *", "input"), ("int8_t *", "output")))
IN2 = Convention("in2", (("const int8_t *", "input1"), ("const int8_t *", "input2"), ("int8_t *", "output")))
INPUTS = Convention("inputs", (("const int8_t *const *", "inputs"), ("int8_t *", "output")), count="num_inputs")


def in_w_b(weights: str) -> Convention:
    return Convention("in_w_b", (("const int8_t *", "input"), ("const int8_t *", weights),
                                 ("const int32_t *", "bias"), ("int8_t *", "output")))


# In-place promises (what the planner may do with the output's bytes):
NEVER = "never"              # output and inputs must be distinct buffers
ALWAYS = "always"            # element i is read before element i is written (elementwise, softmax rows)
SAME_SHAPES = "same_shapes"  # in place only when every input has the output's shape (no broadcasting)


@dataclass(frozen=True)
class Refusal:
    """Why TFLM will not run an op: `aborts` when Prepare kills the process, otherwise it returns an error
    (AllocateTensors fails on the board)."""

    problem: str
    hint: str
    aborts: bool = False


RECALIBRATE = ("convert again with `edgeimpro convert` (the TFLite converter inserts the requantization "
               "these ops need); a hand-edited model must keep the int8 spec")


@dataclass(frozen=True)
class OpDef:
    """Everything the toolkit knows about one TFLite builtin op the int8 runtime runs.

    - `prepare(graph, op)`: TFLM's Prepare for this op, the one copy: the params record, or
      UnsupportedOpError for what the runtime or TFLM cannot run; `refusal(graph, op)` is the part of it
      that is TFLM's own refusal (checked for the TFLM export too).
    - `kernel`, `params`, `convention`: the C entry point, its params struct and its arguments;
      `source`: the kernel's C file in runtime/kernels/ (default: the entry point's name, conv2d.c), or an
      absolute path for an op kept outside the runtime (the host builds compile it).
    - `in_place`, `alias`: what the memory planner may do (alias: the output *is* the input's bytes).
    - `stream(params)`: the streaming contract every kernel set of the op keeps for these params
      (ops/stream.py), or None: the planner may then place the output over the input's consumed bytes.
    - `lean_scratch(params)`: the params of a variant whose kernel needs less arena scratch (and runs a
      little slower), or None; the generator takes it where that lowers the planned arena.
    - `wrap(graph, op, params)`: the int32 wrap-arounds the layer can hit (quantization warnings).
    - `describe(graph, op)`: the short parameter summary `inspect` prints.
    - `options`: (BuiltinOptions table name, parser) of the op's options in the .tflite.
    - `tests`: the single-op models (testspec) the kernel suite runs against tflite_micro on every kernel
      set; `tested_with`: other ops the converter may put into those models (glue such as RESHAPE).
    """

    opcode: str
    kernel: str
    params: type[KernelParams]
    prepare: Callable[[Graph, Op], KernelParams]
    convention: Convention = IN
    refusal: Callable[[Graph, Op], Refusal | None] | None = None
    in_place: str = NEVER
    alias: bool = False
    stream: Callable[[Any], Any] | None = None
    lean_scratch: Callable[[Any], Any] | None = None
    wrap: Callable[[Graph, Op, Any], list[Any]] | None = None
    describe: Callable[[Graph, Op], list[str]] | None = None
    summary: str = ""
    options: tuple[str, Callable[[Any], dict[str, Any]]] | None = None
    source: str = ""
    tests: tuple[dict[str, Any], ...] = ()
    tested_with: frozenset[str] = frozenset()

    @property
    def source_file(self) -> str:
        return (self.source.rsplit("/", 1)[-1] if self.source else "") or self.kernel.removeprefix("eip_") + ".c"
