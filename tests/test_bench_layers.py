"""The per-layer profile: PROFILE/COUNTS on the wire, `Device.infer(profile=True)` on an emulated board and
`bench --layers`. The firmware reads its counter in the per-layer hook; on qemu-m4 one SysTick tick is 40
instructions, so every count is a multiple of 40 and the same input gives the same counts."""

from __future__ import annotations

import json
import shutil
import zlib

import numpy as np
import pytest
from conftest import mlperf_model

from edgeimpro.cli.main import main
from edgeimpro.graph.analysis import analyze
from edgeimpro.graph.loader import load_graph
from edgeimpro.link.codec import FrameError, counts_payload, parse_counts, profile_payload
from edgeimpro.link.protocol import MsgType, layout, render_c_header

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)")
TICK = 40                 # instructions per SysTick tick on qemu-m4 (1e9 / 25 MHz)
TAIL_MAX = 400            # instructions from the last layer's hook to the final counter read
HOOK_MAX_PER_LAYER = 100  # hook cost the firmware cannot exclude (the call, the first counter read)


@pytest.mark.unit
def test_counts_slices_round_trip_and_refuse_inconsistent_ones():
    c = parse_counts(counts_payload(3, 13, [40, 0, 2**40]))
    assert (c.first, c.total, c.counts) == (3, 13, (40, 0, 2**40))
    with pytest.raises(FrameError, match="runs past"):
        parse_counts(counts_payload(12, 13, [1, 2]))
    with pytest.raises(FrameError, match="multiple of 8"):
        parse_counts(counts_payload(0, 13, [1])[:-1])
    with pytest.raises(FrameError, match="needs at least"):
        parse_counts(b"\x00")
    assert profile_payload(True) == b"\x01" and profile_payload(False) == b"\x00"
    header = render_c_header()
    assert f"EIP_MSG_PROFILE = 0x{MsgType.PROFILE:02X}," in header
    assert f"#define EIP_COUNTS_SIZE {layout('COUNTS').size}" in header


@pytest.fixture(scope="module")
def kws_device():
    from edgeimpro.targets import open_target

    model = mlperf_model("kws")
    with open_target(model, emulate="qemu-m4") as dev:
        yield model, dev


@pytest.mark.qemu
@needs_qemu
@pytest.mark.xdist_group("qemu-kws")
def test_profile_counts_every_layer_repeatably_and_adds_up(kws_device):
    model, dev = kws_device
    stats = analyze(load_graph(model))
    info = dev.info()
    x = np.random.default_rng(zlib.crc32(b"bench-layers")).integers(-128, 128, info.inputs[0].shape, dtype=np.int8)
    plain = dev.infer(x)
    first = dev.infer(x, profile=True)
    second = dev.infer(x, profile=True)
    assert len(first.layer_counts) == info.num_layers == len(stats.layers)
    assert first.layer_counts == second.layer_counts and first.count == second.count   # deterministic
    for layer, count in zip(stats.layers, first.layer_counts, strict=True):
        assert count % TICK == 0
        if layer.macs:
            assert count >= layer.macs // 2, (layer.index, layer.op, count)   # the SMLAD floor is 0.5 per MAC
    total = sum(first.layer_counts)
    assert 0 <= first.count - total <= TAIL_MAX
    assert 0 <= first.count - plain.count <= HOOK_MAX_PER_LAYER * info.num_layers
    for got, want in zip(first.outputs, plain.outputs, strict=True):
        np.testing.assert_array_equal(got, want)
    after = dev.infer(x)                       # profiling was switched off again
    assert after.layer_counts == [] and after.count == plain.count


@pytest.mark.qemu
@needs_qemu
@pytest.mark.xdist_group("qemu-kws")
def test_bench_layers_json_has_one_row_per_layer_and_a_consistent_check(capsys):
    model = mlperf_model("kws")
    assert main(["bench", str(model), "--board", "qemu-m4", "--inputs", "1", "--layers", "--json"]) == 0
    f = json.loads(capsys.readouterr().out)
    stats = analyze(load_graph(model))
    prof = f["layers"]
    assert [r["layer"] for r in prof["rows"]] == list(range(len(stats.layers)))
    assert [r["op"] for r in prof["rows"]] == [layer.op for layer in stats.layers]
    assert [r["macs"] for r in prof["rows"]] == [layer.macs for layer in stats.layers]
    assert sum(r["count"] for r in prof["rows"]) == prof["sum"]
    assert prof["tail"] == prof["profiled_total"] - prof["sum"] and 0 <= prof["tail"] <= TAIL_MAX
    assert prof["plain_total"] == f["per_inference"][0]
    assert prof["hook_overhead"] == prof["profiled_total"] - prof["plain_total"]
    assert abs(sum(r["share"] for r in prof["rows"]) - 1) < 1e-3
    assert f["latency_basis"] == "estimate from instructions (a lower bound)"
    assert f["median_ms"] == round(1000 * f["median_per_inference"] / 25_000_000, 3)


def test_yardsticks_are_per_core_for_the_three_mlperf_models() -> None:
    """bench compares with TFLM's figures for the board's own core: M55 figures on qemu-m55, none on a core
    nobody measured."""
    from edgeimpro.bench import yardstick
    from edgeimpro.graph import load_graph

    for name, m4, m55 in (("vww", 24_100_000, 6_560_000), ("resnet8", 29_870_000, 4_910_000),
                          ("kws", 7_700_000, 1_810_000)):
        sha = load_graph(mlperf_model(name)).sha256
        assert yardstick(sha, "qemu-m4")["tflm_cmsis_instructions"] == m4
        assert yardstick(sha, "qemu-m55")["tflm_cmsis_instructions"] == m55
        assert yardstick(sha, "qemu-m4")["core"] == "cortex-m4"
        assert yardstick(sha, "qemu-m7") is None
    # code besides the model, TFLM on a Cortex-M4 (DESIGN.md §8): its reference kernels and with CMSIS-NN
    vww = yardstick(load_graph(mlperf_model("vww")).sha256, "qemu-m4")
    assert (vww["tflm_code_bytes"], vww["tflm_cmsis_code_bytes"]) == (45_600, 57_700)
    assert yardstick("0" * 64, "qemu-m4") is None


@pytest.mark.unit
def test_profile_rows_name_their_pipeline() -> None:
    """A pipeline's layers run together: its first row holds their count, per MAC over all their MACs; the
    others name the pipeline and have no per-MAC figure of their own."""
    from edgeimpro.bench import layer_profile

    stats = analyze(load_graph(mlperf_model("vww")))
    counts = [1000, 40, 40, 80] + [500] * (len(stats.layers) - 4)
    prof = layer_profile(stats, counts, None, sum(counts), [[0, 1, 2, 3]])
    rows = prof["rows"]
    assert rows[0]["pipeline"] == [0, 3]
    assert rows[0]["per_mac"] == round(1000 / sum(stats.layers[k].macs for k in range(4)), 2)
    assert [r["pipeline"] for r in rows[1:4]] == [[0, 3]] * 3 and [r["per_mac"] for r in rows[1:4]] == [None] * 3
    assert rows[4]["pipeline"] is None and rows[4]["per_mac"] == round(500 / stats.layers[4].macs, 2)
