"""The graph layer: MACs, RAM lower bound, per-layer stats, validation messages, board fit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, mlperf_model
from tiny_models import edit_model, tiny_model, two_subgraphs

from edgeimpro.boards import BOARDS, get_board
from edgeimpro.errors import BoardFitError, ModelError, UnsupportedOpError
from edgeimpro.graph import Graph, Op, Quantization, Tensor, load_graph
from edgeimpro.graph.analysis import (
    RUNTIME_RAM_ALLOWANCE,
    analyze,
    board_fit,
    check_board_fit,
    live_ranges,
    op_macs,
)
from edgeimpro.graph.validate import TFLM_OPS, validate_int8
from edgeimpro.units import size_text

pytestmark = pytest.mark.unit

# name -> (MACs exactly, MACs in M as published, RAM lower bound, op index of the peak, parameters)
KNOWN = {
    "vww": (7_489_664, 7.49, 55_296, 2, 210_850),
    "resnet8": (12_501_632, 12.50, 49_152, 2, 77_706),
    "kws": (2_656_768, 2.66, 16_000, 1, 22_604),
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_mlperf_macs_and_ram_lower_bound(name: str) -> None:
    macs, macs_m, ram, peak, params = KNOWN[name]
    stats = analyze(load_graph(mlperf_model(name)))
    assert round(stats.macs / 1e6, 2) == macs_m
    assert stats.macs == macs
    assert stats.ram_lower_bound == ram
    assert stats.ram_peak_op == peak
    assert stats.parameters == params
    assert stats.flash_estimate == stats.model_bytes + stats.code_allowance
    assert max(layer.live_bytes for layer in stats.layers) == ram


def test_conv_layer_figures_by_hand() -> None:
    g = load_graph(mlperf_model("vww"))
    conv, dw = g.ops[0], g.ops[1]
    # CONV_2D 96x96x3 -> 48x48x8, 3x3 kernel over 3 input channels
    assert op_macs(g, conv) == 48 * 48 * 8 * (3 * 3 * 3)
    # DEPTHWISE_CONV_2D 48x48x8, 3x3 per channel
    assert op_macs(g, dw) == 48 * 48 * 8 * (3 * 3)
    layer = analyze(g).layers[0]
    assert layer.params == "3x3 s2 SAME relu"
    assert layer.weight_bytes == 8 * 3 * 3 * 3 * 1 + 8 * 4          # int8 weights + int32 bias
    assert layer.input_shapes == [[1, 96, 96, 3]] and layer.output_shapes == [[1, 48, 48, 8]]
    # op 0 holds its input and output: 96*96*3 + 48*48*8
    assert layer.live_bytes == 96 * 96 * 3 + 48 * 48 * 8
    kws = load_graph(mlperf_model("kws"))
    assert op_macs(kws, kws.ops[0]) == 25 * 5 * 64 * (10 * 4 * 1)   # 10x4 kernel, stride 2, 1 channel
    assert analyze(kws).layers[0].params == "10x4 s2 SAME relu"


def test_other_layer_params_and_fc_macs() -> None:
    stats = analyze(load_graph(mlperf_model("vww")))
    by_op = {layer.op: layer for layer in stats.layers}
    assert by_op["AVERAGE_POOL_2D"].params == "3x3 s3 VALID" and by_op["AVERAGE_POOL_2D"].macs == 0
    assert by_op["FULLY_CONNECTED"].params == "256->2" and by_op["FULLY_CONNECTED"].macs == 256 * 2
    assert by_op["FULLY_CONNECTED"].weight_bytes == 2 * 256 + 2 * 4


def test_resnet_skip_connection_keeps_tensor_alive() -> None:
    g = load_graph(mlperf_model("resnet8"))
    ranges = live_ranges(g)
    # tensor 22 (first conv output) is read again by the ADD at op 3: live over ops 0..3
    assert ranges[22] == (0, 3)
    assert ranges[g.inputs[0]] == (0, 0)
    assert ranges[g.outputs[0]] == (len(g.ops) - 1, len(g.ops) - 1)
    assert analyze(g).layers[2].live_bytes == 3 * 32 * 32 * 16        # skip input, conv input, conv output


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_shared_models_pass_int8_validation(name: str) -> None:
    validate_int8(load_graph(mlperf_model(name)))        # -1 batch in the signature, no SHAPE ops: fine


# ------------------------------------------------------------------------------------- bad files


def test_truncated_file(tmp_path: Path) -> None:
    p = tmp_path / "cut.tflite"
    p.write_bytes(mlperf_model("vww").read_bytes()[:50_000])
    with pytest.raises(ModelError, match=r"cut\.tflite is corrupt") as e:
        load_graph(p)
    assert "truncated" in e.value.hint


def test_not_a_tflite_file(tmp_path: Path) -> None:
    p = tmp_path / "image.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ModelError, match=r"image\.png is not a TFLite flatbuffer"):
        load_graph(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_graph(tmp_path / "nope.tflite")


def test_a_folder_is_refused_as_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"is a folder, not a \.tflite file") as e:
        load_graph(tmp_path)
    assert str(tmp_path) in str(e.value) and e.value.hint


# ------------------------------------------------------------------------------------- validation


def test_float_model_is_named() -> None:
    with pytest.raises(ModelError, match=r"^float model: op 0 CONV_2D computes in float32") as e:
        validate_int8(load_graph(tiny_model("float")))
    assert "edgeimpro convert" in e.value.hint


def test_hybrid_model_is_named() -> None:
    with pytest.raises(ModelError, match=r"^hybrid model: op \d+ FULLY_CONNECTED takes float32 activations "
                                         r"with int8 weights") as e:
        validate_int8(load_graph(tiny_model("hybrid")))
    assert "full-integer" in e.value.hint


def test_float_interface_is_named() -> None:
    g = load_graph(tiny_model("float_io"))
    with pytest.raises(ModelError, match=r"^model input '.+' is float32: the model is int8 inside") as e:
        validate_int8(g)
    assert "inference_input_type" in e.value.hint


def test_float_round_trip_inside_an_int8_model_is_named() -> None:
    """int8 in and out, but DEQUANTIZE -> QUANTIZE through a float tensor inside: named, not a crash."""
    q = Quantization(np.array([0.1], np.float32), np.array([0], np.int64))
    tensors = [Tensor(0, "in", (1, 4), "int8", q), Tensor(1, "dequantized", (1, 4), "float32"),
               Tensor(2, "out", (1, 4), "int8", q)]
    ops = [Op(0, "DEQUANTIZE", [0], [1]), Op(1, "QUANTIZE", [1], [2])]
    g = Graph(tensors, ops, inputs=[0], outputs=[2], sha256="0" * 64, size_bytes=0)
    with pytest.raises(ModelError, match=r"^op 0 DEQUANTIZE passes tensor 'dequantized' through float32") as e:
        validate_int8(g)
    assert "full-integer" in e.value.hint


def test_dynamic_batch_is_named() -> None:
    g = load_graph(tiny_model("dynamic"))
    name = g.input_tensors[0].name
    with pytest.raises(ModelError, match=r"has a dynamic batch size \(shape signature \[-1, 8, 8, 3\]\)") as e:
        validate_int8(g)
    assert name in e.value.message and "SHAPE op" in e.value.message
    assert "batch_size=1" in e.value.hint


def test_dynamic_spatial_dimension_is_named() -> None:
    g = load_graph(tiny_model("int8"))
    t = g.tensors[g.ops[0].outputs[0]]
    t.shape_signature = (1, -1, 8, 4)
    with pytest.raises(ModelError, match=rf"tensor '{t.name}' has a dynamic shape \[1, -1, 8, 4\]"):
        validate_int8(g)


def test_unsupported_op_is_named() -> None:
    with pytest.raises(UnsupportedOpError, match=r"^TFLite Micro has no kernel for GELU \(op 1\)") as e:
        validate_int8(load_graph(tiny_model("gelu")))
    assert "relu" in e.value.hint


def test_target_op_set_is_a_parameter() -> None:
    g = load_graph(mlperf_model("vww"))
    with pytest.raises(UnsupportedOpError) as e:
        validate_int8(g, {"CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE"}, target="edgeimpro AOT")
    assert e.value.message.startswith("edgeimpro AOT has no kernel for AVERAGE_POOL_2D (op 27), "
                                      "FULLY_CONNECTED (op 29), SOFTMAX (op 30)")


def test_more_than_one_subgraph() -> None:
    g = load_graph(two_subgraphs(tiny_model("int8").read_bytes()))
    with pytest.raises(ModelError, match=r"^model has 2 subgraphs"):
        validate_int8(g)


def test_add_that_would_abort_tflm_is_rejected() -> None:
    """A degenerate ADD output scale makes TFLM abort the process (INT8_SEMANTICS.md §5): reject first."""
    g0 = load_graph(mlperf_model("resnet8"))
    add = next(op for op in g0.ops if op.opcode == "ADD")
    out = add.outputs[0]

    def shrink(m) -> None:
        m.subgraphs[0].tensors[out].quantization.scale = np.array([7.8e-9], np.float32)

    g = load_graph(edit_model(mlperf_model("resnet8").read_bytes(), shrink))
    with pytest.raises(ModelError, match=rf"^op {add.index} \(ADD\): output rescale factor .*output scale 7.8e-09 "
                                         r".*: TFLite Micro aborts"):
        validate_int8(g)


@pytest.mark.parametrize("case", ["maxpool_zero_point", "softmax_scale", "logistic_zero_point"])
def test_quantization_tflm_refuses_to_prepare_is_named(case: str) -> None:
    """INT8_SEMANTICS.md §5: refused at export, not found by AllocateTensors on the board."""
    g = load_graph(mlperf_model("kws" if case != "logistic_zero_point" else "vww"))
    opcode = {"maxpool_zero_point": "AVERAGE_POOL_2D", "softmax_scale": "SOFTMAX",
              "logistic_zero_point": "SOFTMAX"}[case]
    op = next(o for o in g.ops if o.opcode == opcode)
    out = g.tensors[op.outputs[0]]
    s, z = out.quantization.scalar
    if case == "logistic_zero_point":
        op.opcode = "LOGISTIC"                        # same quantization rules on the output as softmax
        out.quantization = Quantization(np.array([s], np.float32), np.array([0], np.int64))
        match = "output .* zero point 0 must be -128"
    elif case == "softmax_scale":
        out.quantization = Quantization(np.array([1 / 255], np.float32), np.array([z], np.int64))
        match = r"must be \(1/256, -128\)"
    else:
        out.quantization = Quantization(np.array([s], np.float32), np.array([z + 1], np.int64))
        match = "pooling needs them equal"
    with pytest.raises(ModelError, match=rf"^op {op.index} \({op.opcode}\): .*{match}.*refuses to prepare"):
        validate_int8(g)


def test_tflm_op_table_names_real_kernels() -> None:
    """Every table entry has a kernel (Register_<OP>) in the pinned tflite_micro and an Add<Name> method."""
    pytest.importorskip("tflite_micro")
    from tflite_micro.python.tflite_micro import _runtime

    so = Path(_runtime.__file__).read_bytes()
    missing = [op for op in TFLM_OPS if f"Register_{op}Ev".encode() not in so]
    assert missing == []
    assert all(m.startswith("Add") for m in TFLM_OPS.values())
    for op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD",
               "MUL", "SUB", "MEAN", "SOFTMAX", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "RELU",
               "RELU6", "PAD", "PADV2", "CONCATENATION", "RESHAPE", "QUANTIZE", "DEQUANTIZE", "SQUEEZE"):
        assert op in TFLM_OPS
    assert TFLM_OPS["CONV_2D"] == "AddConv2D" and TFLM_OPS["DEPTHWISE_CONV_2D"] == "AddDepthwiseConv2D"


# ------------------------------------------------------------------------------------- boards


def test_model_too_big_for_a_board() -> None:
    stats = analyze(load_graph(tiny_model("big")))
    assert stats.ram_lower_bound == 160 * 160 * 3 + 160 * 160 * 16
    with pytest.raises(BoardFitError) as e:
        check_board_fit(stats, get_board("stm32f405"), alternatives=BOARDS.values())
    needed = stats.ram_lower_bound + RUNTIME_RAM_ALLOWANCE
    assert e.value.message.startswith(f"model needs {size_text(needed)} of RAM")     # 508 KiB
    assert "board stm32f405 has 128 KiB" in e.value.message
    assert f"{size_text(needed - 128 * 1024)} short" in e.value.message
    assert "--input-size" in e.value.hint and "nucleo-l4r5zi" in e.value.hint


def test_fit_margins() -> None:
    stats = analyze(load_graph(mlperf_model("vww")))
    board = get_board("stm32f405")
    fit = board_fit(stats, board, arena_bytes=101_632)
    assert fit.fits
    assert fit.ram_needed == 101_632 + RUNTIME_RAM_ALLOWANCE
    assert fit.ram_margin == 128 * 1024 - fit.ram_needed
    assert fit.flash_margin == 1024 * 1024 - (stats.model_bytes + 64 * 1024)
    assert check_board_fit(stats, board, 101_632) == fit
    assert not board_fit(stats, board, arena_bytes=130_000).fits
    assert set(BOARDS) >= {"qemu-m4", "stm32f405", "nucleo-l4r5zi"}


# ------------------------------------------------------------------------------------- light path


def test_graph_and_inspect_do_not_import_tensorflow() -> None:
    """`inspect` (arena measurement included) must run on a machine without TensorFlow."""
    code = (
        "import sys, io, contextlib\n"
        "import edgeimpro.graph, edgeimpro.graph.analysis, edgeimpro.graph.validate, edgeimpro.cli.inspect\n"
        "import edgeimpro.inspect, edgeimpro.references, edgeimpro.codegen.tflm, edgeimpro.cli.export\n"
        "assert 'tensorflow' not in sys.modules, 'imported tensorflow'\n"
        "from edgeimpro.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main(['inspect', {str(mlperf_model('kws'))!r}, '--json'])\n"
        "assert rc == 0, rc\n"
        "bad = [m for m in sys.modules if m == 'tensorflow' or m.startswith(('tensorflow.', 'keras'))]\n"
        "assert not bad, bad[:5]\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------------------------- structure (untrusted files)

TINY = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"   # CONV, DEPTHWISE, ADD, MAX_POOL, MEAN, FC, SOFTMAX


def _sg(m):  # noqa: ANN001, ANN202
    return m.subgraphs[0]


def _set_input(op: int, k: int, v: int):  # noqa: ANN202
    def edit(m) -> None:  # noqa: ANN001
        ins = [int(x) for x in _sg(m).operators[op].inputs]
        ins[k] = v
        _sg(m).operators[op].inputs = ins
    return edit


def _set_output(op: int, v: int):  # noqa: ANN202
    def edit(m) -> None:  # noqa: ANN001
        _sg(m).operators[op].outputs = [v]
    return edit


def _quant(tensor: int, scale=None, zp=None, dim=None):  # noqa: ANN001, ANN202
    def edit(m) -> None:  # noqa: ANN001
        q = _sg(m).tensors[tensor].quantization
        if scale is not None:
            q.scale = scale
        if zp is not None:
            q.zeroPoint = zp
        if dim is not None:
            q.quantizedDimension = dim
    return edit


def _option(op: int, **values):  # noqa: ANN003, ANN202
    def edit(m) -> None:  # noqa: ANN001
        for k, v in values.items():
            setattr(_sg(m).operators[op].builtinOptions, k, v)
    return edit


def _model_input(v: int):  # noqa: ANN202
    def edit(m) -> None:  # noqa: ANN001
        _sg(m).inputs = [v]
    return edit


def _opcode(op: int, builtin: int):  # noqa: ANN202
    def edit(m) -> None:  # noqa: ANN001
        code = m.operatorCodes[_sg(m).operators[op].opcodeIndex]
        code.builtinCode = code.deprecatedBuiltinCode = builtin
    return edit


def _opcode_index(op: int, v: int):  # noqa: ANN202
    def edit(m) -> None:  # noqa: ANN001
        _sg(m).operators[op].opcodeIndex = v
    return edit


def _duplicate_op(op: int):  # noqa: ANN202
    def edit(m) -> None:  # noqa: ANN001
        import copy
        _sg(m).operators.insert(op + 1, copy.deepcopy(_sg(m).operators[op]))
    return edit


def _swap_ops(a: int, b: int):  # noqa: ANN202
    def edit(m) -> None:  # noqa: ANN001
        ops = _sg(m).operators
        ops[a], ops[b] = ops[b], ops[a]
    return edit


def _buffer(tensor: int, v: int):  # noqa: ANN202
    def edit(m) -> None:  # noqa: ANN001
        _sg(m).tensors[tensor].buffer = v
    return edit


def _shape(tensor: int, shape: list[int]):  # noqa: ANN202
    def edit(m) -> None:  # noqa: ANN001
        _sg(m).tensors[tensor].shape = shape
    return edit


# tiny.tflite: tensor 0 input [1,8,8,3]; op 0 CONV_2D [0, 6, 4] -> 7; op 1 DEPTHWISE [7, 3, 5] -> 8;
# op 2 ADD [7, 8] -> 9; op 3 MAX_POOL [9] -> 10; op 4 MEAN [10, 1] -> 11; op 5 FC [11, 2, -1] -> 12;
# op 6 SOFTMAX [12] -> 13 (the model output). Tensor 6: conv weights (per channel, 4), 4: conv bias.
STRUCTURE_CASES = {
    "op_input_out_of_range": (_set_input(2, 0, 14), r"^op 2 ADD: input 0 is tensor index 14; the model has 14"),
    "op_input_negative": (_set_input(5, 0, -2), r"^op 5 FULLY_CONNECTED: input 0 is tensor index -2"),
    "required_input_absent": (_set_input(0, 1, -1), r"^op 0 CONV_2D: input 1 is tensor index -1; a required "
                                                     r"input cannot be absent"),
    "depthwise_without_bias": (_set_input(1, 2, -1), r"^op 1 DEPTHWISE_CONV_2D: input 2 is tensor index -1"),
    "op_output_out_of_range": (_set_output(3, -1), r"^op 3 MAX_POOL_2D: output 0 is tensor index -1"),
    "op_output_redirected": (_set_output(3, 13), r"^op 4 MEAN: input 0 is tensor 10 '.*', read before anything "
                                                 r"writes it \(no op writes it"),
    "output_onto_weights": (_set_output(3, 6), r"^op 3 MAX_POOL_2D: output tensor 6 '.*' is a constant"),
    "two_producers": (_duplicate_op(0), r"^op 1 CONV_2D: output tensor 7 '.*' is already written by op 0"),
    "read_before_write": (_swap_ops(0, 1), r"^op 0 DEPTHWISE_CONV_2D: input 0 is tensor 7 '.*', read before "
                                           r"anything writes it \(it is written only later, by op 1\)"),
    "model_input_is_intermediate": (_model_input(9), r"^op 0 CONV_2D: input 0 is tensor 0 '.*', read before "
                                                     r"anything writes it \(no op writes it and it is not a model "
                                                     r"input\)"),
    "model_input_out_of_range": (_model_input(99), r"^model input 0 is tensor index 99; the model has 14 tensors"),
    "opcode_index_out_of_range": (_opcode_index(2, 7), r"^op 2 has opcode index 7; the model has 7 operator codes"),
    "conv_rewritten_to_add": (_opcode(0, 0), r"^op 0 ADD has 3 inputs and 1 output; ADD takes 2 inputs"),
    "depthwise_rewritten_to_conv": (_opcode(1, 3), r"^op 1 CONV_2D carries DepthwiseConv2DOptions; CONV_2D needs "
                                                   r"Conv2DOptions"),
    "buffer_out_of_range": (_buffer(6, 999), r"^tensor 6 '.*' uses buffer 999; the model has \d+ buffers"),
    "weights_lose_their_buffer": (_buffer(6, 0), r"^op 0 CONV_2D: input 1 is tensor 6 '.*', read before anything "
                                                 r"writes it"),
    "negative_dimension": (_shape(9, [1, 8, -8, 4]), r"^tensor 9 '.*' has shape \[1, 8, -8, 4\]; dimensions must"),
    "huge_tensor": (_shape(9, [1, 2**20, 2**20, 4]), r"^tensor 9 '.*' has shape .*: 4,398,046,511,104 bytes"),
    "zero_point_count": (_quant(0, zp=[0, 0]), r"^tensor 0 '.*' has 1 scales and 2 zero points"),
    "zero_point_2^40": (_quant(0, zp=[2**40]), r"^tensor 0 '.*' \(int8\) has zero point 1099511627776; int8 zero "
                                               r"points must be -128\.\.127"),
    "bias_zero_point": (_quant(4, zp=[0, 0, 3, 0]), r"^tensor 4 '.*' \(int32\) has zero point 3 \(channel 2\); int32 "
                                                    r"zero points must be 0"),
    "quantized_dimension_outside_rank": (_quant(6, dim=4), r"^tensor 6 '.*' is quantized per channel along "
                                                           r"dimension 4; its shape \[4, 3, 3, 3\] has rank 4"),
    "per_channel_count": (_quant(6, dim=1), r"^tensor 6 '.*' has 4 per-channel scales along dimension 1, which has "
                                            r"3 channels"),
    "depth_multiplier_0": (_option(1, depthMultiplier=0), r"^op 1 DEPTHWISE_CONV_2D has depth_multiplier 0; it must "
                                                          r"be between 1 and 65536"),
    "depth_multiplier_2": (_option(1, depthMultiplier=2), r"^op 1 DEPTHWISE_CONV_2D: depth_multiplier 2 x input "
                                                          r"channels 4 != output channels 4"),
    "stride_0": (_option(0, strideH=0), r"^op 0 CONV_2D has stride_h 0"),
    "stride_inconsistent_with_shape": (_option(0, strideW=2), r"^op 0 CONV_2D: output shape \[1, 8, 8, 4\] does not "
                                                              r"follow from input .* \(expected height x width 8x4\)"),
    "pool_filter_0": (_option(3, filterWidth=0), r"^op 3 MAX_POOL_2D has filter_w 0"),
    "unknown_padding": (_option(0, padding=7), r"^op 0 CONV_2D has padding PADDING_7; TFLite knows SAME and VALID"),
    "unknown_activation": (_option(2, fusedActivationFunction=9), r"^op 2 ADD has fused activation ACT_9"),
    "softmax_beta_nan": (_option(6, beta=float("nan")), r"^op 6 SOFTMAX has beta nan; it must be a finite number"),
    "mean_axes": (lambda m: None, None),   # replaced below: needs the axes buffer
}


def _mean_axes(m) -> None:  # noqa: ANN001
    axes = _sg(m).tensors[1]
    m.buffers[axes.buffer].data = np.array([1, 7], np.int32).view(np.uint8)


STRUCTURE_CASES["mean_axes"] = (_mean_axes, r"^op 4 MEAN: reduction axes \[1, 7\] are outside the input's rank 4")


@pytest.mark.parametrize("case", sorted(STRUCTURE_CASES))
def test_structural_corruption_is_named(case: str) -> None:
    """Each corruption the hostile-input review found is refused at load with the op or tensor, the value and
    the re-export hint (not a traceback, not a silent acceptance)."""
    edit, match = STRUCTURE_CASES[case]
    data = edit_model(TINY.read_bytes(), edit)
    with pytest.raises(ModelError, match=match) as e:
        load_graph(data)
    assert "re-export" in e.value.hint


@pytest.mark.parametrize("value", [float("nan"), 0.0, -1.0, 1e-45, 1e30, float("inf")])
def test_bad_scales_are_named(value: float) -> None:
    data = edit_model(TINY.read_bytes(), _quant(9, scale=[value]))
    with pytest.raises(ModelError, match=r"^tensor 9 '.*' has quantization scale .*; a scale must be finite and "
                                         r"between 1e-20 and 1e\+09"):
        load_graph(data)


def test_edge_values_a_converter_writes_are_accepted() -> None:
    """The limits leave room for what converters write: VWW's 2.9e-13 bias scale, an all-zero filter
    channel (per-channel weight scale 0, which TFLM flushes), an absent FC bias, a 1-D bias whose
    quantized_dimension is 3 (TFLM's person_detect.tflite has it)."""
    g = load_graph(mlperf_model("vww"))
    assert min(float(t.quantization.scale.min()) for t in g.tensors if t.quantization) < 1e-12
    edits = [_quant(6, scale=[0.0, 0.01, 0.02, 1e-13]), _quant(4, dim=3)]
    data = TINY.read_bytes()
    for edit in edits:
        data = edit_model(data, edit)
    g = load_graph(data)
    assert g.tensors[6].quantization.scale[0] == 0.0 and g.ops[5].inputs[2] == -1


def test_vector_length_beyond_the_file_is_refused_quickly() -> None:
    """A corrupt vector length must not make the reader loop over garbage for a long time."""
    from edgeimpro.graph.loader import _count

    with pytest.raises(ModelError, match=r"declares 1,000,000 tensors, more than its 3,544 bytes can hold"):
        _count(1_000_000, "tensors", bytes(3544))
