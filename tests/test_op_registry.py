"""The op registry is the one place an op lives.

- A toy op (ABS on raw codes) defined entirely outside the package, as one Python module and one C file in a
  temporary folder, goes through validation, TFLM-style refusal, code generation, a host build of the
  generated model and the kernel suite, with nothing else edited.
- Every registered op is complete: a kernel file, a prototype and struct in the generated header, test
  specifications, an options parser where its .tflite options matter, and an inspect summary where it has
  parameters worth printing.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import numpy as np
import pytest
from kernel_models import op_models
from kernel_suite import KernelCall, KernelSet
from tiny_models import edit_model

from edgeimpro import ops
from edgeimpro.codegen.aot import generate_aot
from edgeimpro.codegen.hostbuild import compile_host, run_host
from edgeimpro.errors import UnsupportedOpError
from edgeimpro.firmware import runtime_dir
from edgeimpro.graph import load_graph
from edgeimpro.graph.structure import OP_RULES
from edgeimpro.graph.validate import check_tflm_prepare, validate_int8
from edgeimpro.ops import header

pytestmark = pytest.mark.host

TOY_MODULE = '''
"""ABS on raw codes: y = min(zp + |x - zp|, 127), input and output sharing one quantization."""
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from edgeimpro.ops.base import ALWAYS, KernelParams, OpDef, Refusal, scalar_field
from edgeimpro.ops.prepare import int8_activation, tensor_at


@dataclass(frozen=True)
class ToyAbsParams(KernelParams):
    C_STRUCT: ClassVar[str] = "eip_toy_abs_params_t"
    C_DOC: ClassVar[str] = "ABS on raw codes (the registry test's toy op)."
    size: int
    zp: int = scalar_field("input and output zero point")


def refusal(graph, op):
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.quantization is not None and y.quantization is not None and x.quantization.scalar != y.quantization.scalar:
        return Refusal("input and output quantization differ", "keep them equal")
    return None


def prepare(graph, op):
    x = tensor_at(graph, op, 0, "input")
    _, zp = int8_activation(op, x, "input")
    return ToyAbsParams(size=x.size, zp=zp)


OPS = (OpDef("ABS", "eip_toy_abs", ToyAbsParams, prepare, refusal=refusal, in_place=ALWAYS,
             source=str(Path(__file__).with_name("toy_abs.c"))),)
'''

TOY_KERNEL = """
#include "eip_kernels.h"

eip_status_t eip_toy_abs(const eip_toy_abs_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->size <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t d = input[i] - p->zp;
        const int32_t y = p->zp + (d < 0 ? -d : d);
        output[i] = (int8_t)(y > 127 ? 127 : y);
    }
    return EIP_OK;
}
"""


def _toy_module(folder: Path):  # noqa: ANN202
    (folder / "toy_abs.py").write_text(textwrap.dedent(TOY_MODULE))
    (folder / "toy_abs.c").write_text(TOY_KERNEL)
    spec = importlib.util.spec_from_file_location("toy_abs", folder / "toy_abs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _abs_model(equal_quantization: bool = True) -> bytes:
    """The RELU single-op model (8x8x4 = 256 elements) with its op turned into ABS."""
    spec, model = op_models("RELU")[0]
    assert spec["inputs"] == [[8, 8, 4]]

    def edit(m) -> None:  # noqa: ANN001
        code = next(c for c in m.operatorCodes if max(c.builtinCode, c.deprecatedBuiltinCode) == ops.builtin_code("RELU"))
        code.builtinCode = code.deprecatedBuiltinCode = ops.builtin_code("ABS")
        sg = m.subgraphs[0]
        op = sg.operators[0]
        x, y = sg.tensors[op.inputs[0]].quantization, sg.tensors[op.outputs[0]].quantization
        y.scale = np.array(x.scale, np.float32) * (1.0 if equal_quantization else 2.0)
        y.zeroPoint = np.array(x.zeroPoint, np.int64)

    return edit_model(model, edit)


def _expected(codes: np.ndarray, zp: int) -> np.ndarray:
    return np.minimum(zp + np.abs(codes.astype(np.int32) - zp), 127).astype(np.int8)


def test_a_toy_op_goes_through_the_whole_path_from_its_module_and_c_file_alone(tmp_path: Path) -> None:
    module = _toy_module(tmp_path)
    assert ops.get("ABS") is None
    model = _abs_model()
    with ops.extra_ops(module):
        graph = load_graph(model)
        (op,) = graph.ops
        assert op.opcode == "ABS"
        # validation: the runtime's op table is the registry's
        validate_int8(graph, ops.supported(), "the AOT runtime")
        # the generated header carries the toy's struct and prototype
        text = header.render()
        assert "} eip_toy_abs_params_t;" in text
        assert "eip_status_t eip_toy_abs(const eip_toy_abs_params_t *p, const int8_t *input, int8_t *output);" in text
        # generation, a host build of the generated model (the toy kernel compiled beside the runtime), a run
        params = ops.op_params(graph, op)
        result = generate_aot(graph)
        assert "eip_toy_abs(&layer0_params," in result.files["model.c"]
        assert result.kernels == ["eip_toy_abs"]
        model_dir = tmp_path / "model"
        model_dir.mkdir()
        for name, body in result.files.items():
            (model_dir / name).write_text(body)
        codes = np.arange(-128, 128, dtype=np.int8).reshape(1, 8, 8, 4)
        (out,), _ = run_host(compile_host(model_dir), [codes], [(1, 8, 8, 4)])
        np.testing.assert_array_equal(out.reshape(-1), _expected(codes.reshape(-1), params.zp))
        # the kernel suite: every code, apart and in place, plain and sanitized
        calls = [KernelCall("eip_toy_abs", params, [codes.reshape(-1)], 256, "toy"),
                 KernelCall("eip_toy_abs", params, [codes.reshape(-1)], 256, "toy in place", in_place=True)]
        for variant in ("plain", "sanitize"):
            for status, got in KernelSet("reference", variant=variant).run(calls):
                assert status == 0
                np.testing.assert_array_equal(np.frombuffer(got, np.int8), _expected(codes.reshape(-1), params.zp))
        # the toy's refusal is applied by the export and by the TFLM validation alike
        refused = load_graph(_abs_model(equal_quantization=False))
        with pytest.raises(UnsupportedOpError, match="input and output quantization differ") as generated:
            ops.op_params(refused, refused.ops[0])
        with pytest.raises(UnsupportedOpError) as validated:
            check_tflm_prepare(refused)
        assert str(validated.value) == str(generated.value)
    # gone again: the registry and the header are the package's own
    assert ops.get("ABS") is None
    assert header.render() == header.header_path().read_text()
    assert header.generated_include() is None


def test_registering_an_op_twice_is_refused_and_leaves_the_registry_as_it_was(tmp_path: Path) -> None:
    module = _toy_module(tmp_path)
    with ops.extra_ops(module), pytest.raises(ValueError, match="registered twice"):
        ops.register(module)
    assert ops.get("ABS") is None
    # a module declaring a new op beside one already registered: refused whole, the new op not added
    module.OPS = (*module.OPS, ops.REGISTRY["ADD"])
    with pytest.raises(ValueError, match="ADD is registered twice"):
        ops.register(module)
    assert ops.get("ABS") is None


@pytest.mark.parametrize("opcode", sorted(ops.REGISTRY))
def test_every_registered_op_is_complete(opcode: str) -> None:
    op = ops.REGISTRY[opcode]
    assert (runtime_dir() / "kernels" / op.source_file).is_file(), f"no kernel file {op.source_file}"
    text = header.header_path().read_text()
    assert f"}} {op.params.C_STRUCT};" in text and f"eip_status_t {op.kernel}(const {op.params.C_STRUCT} *p," in text
    tested = op.tests or next(o.tests for o in ops.REGISTRY.values() if opcode in o.tested_with)
    assert tested, f"{opcode} has no test specification"
    assert op.params.C_DOC, f"{op.params.__name__} has no comment for the header"
    assert op.convention.kind in ("in", "in2", "in_w_b", "inputs")
    # the options table the op parses is the one the loader's structural rules expect for it
    rule = OP_RULES.get(opcode)
    if rule is not None and rule.options:
        assert op.options is not None and op.options[0] == rule.options, (opcode, op.options, rule.options)
    if op.options is not None:
        assert ops.options_parser(op.options[0]) is op.options[1]
