"""`bench`: what the AOT runtime costs on a board, next to TFLite Micro's measured yardsticks.

Figures: flash (runtime code, model constants), RAM (arena, stack, the rest), instructions per inference
on an emulated board (QEMU -icount: instructions, not cycles) or cycles on a real board, link throughput
and wire efficiency, the RAM lower bound and TFLM's arena with the ratios; latency in milliseconds at the
board's clock (an estimate from instructions on an emulated board, a lower bound; measured on a real one);
with `layers`, the per-layer profile the firmware measures in its per-layer hook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.boards.registry import get_board
from edgeimpro.graph.analysis import GraphStats
from edgeimpro.graph.loader import load_graph

# TFLite Micro's yardsticks, keyed by the model's sha256, per core: Invoke only, release builds at -O2
# (TFLM 90b983c2, CMSIS-NN 4ab83cc3), instructions counted the same way as `bench` on the same QEMU
# machines (qemu-m4: mps2-an386, qemu-m55: mps3-an547); code bytes besides the model, and the arena TFLM
# measured on a Cortex-M4. Figures of the issues (DESIGN.md §8); None where not measured.
YARDSTICKS: dict[str, dict[str, Any]] = {
    "597a384c8c2c8a1276f04702f25013b7838f2f814f1ca7c174d295b73e3d6b7b": {
        "name": "VWW (MLPerf Tiny)", "tflm_arena_m4": 100_660, "cores": {
            "cortex-m4": {"tflm_ref_instructions": 100_400_000, "tflm_cmsis_instructions": 24_100_000,
                          "tflm_code_bytes": 45_600, "tflm_cmsis_code_bytes": 57_700},
            "cortex-m55": {"tflm_ref_instructions": 96_300_000, "tflm_cmsis_instructions": 6_560_000,
                           "tflm_code_bytes": None, "tflm_cmsis_code_bytes": None}}},
    "3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415": {
        "name": "ResNet-8 (MLPerf Tiny)", "tflm_arena_m4": 54_340, "cores": {
            "cortex-m4": {"tflm_ref_instructions": 107_400_000, "tflm_cmsis_instructions": 29_870_000,
                          "tflm_code_bytes": 50_000, "tflm_cmsis_code_bytes": 55_500},
            "cortex-m55": {"tflm_ref_instructions": 97_600_000, "tflm_cmsis_instructions": 4_910_000,
                           "tflm_code_bytes": None, "tflm_cmsis_code_bytes": None}}},
    "aeea436800704fce17b17292e4412630ad856e9d777c044c64ef748a880bd0ae": {
        "name": "KWS (MLPerf Tiny)", "tflm_arena_m4": None, "cores": {
            "cortex-m4": {"tflm_ref_instructions": 43_100_000, "tflm_cmsis_instructions": 7_700_000,
                          "tflm_code_bytes": None, "tflm_cmsis_code_bytes": None},
            "cortex-m55": {"tflm_ref_instructions": 42_100_000, "tflm_cmsis_instructions": 1_810_000,
                           "tflm_code_bytes": None, "tflm_cmsis_code_bytes": None}}},
}
CODE_SECTIONS = (".vectors", ".text", ".ARM.exidx")
LATENCY_BASIS = {"instructions": "estimate from instructions (a lower bound)", "cycles": "measured"}


@dataclass
class BenchResult:
    figures: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.figures, indent=2)


def bench_model(model: Path, board: str, *, port: str | None = None, inputs: int = 5, seed: int = 0,
                layers: bool = False, status=None, baudrate: int | None = None,
                patches: str | int = "auto") -> BenchResult:
    from edgeimpro.codegen.aot import generate_aot, measure_tflm_arena_sizes, patch_report
    from edgeimpro.graph.analysis import analyze
    from edgeimpro.link.bench import input_wire_bytes, measure
    from edgeimpro.targets import emulated_firmware, open_target

    model = Path(model)
    graph = load_graph(model)
    stats = analyze(graph)
    from edgeimpro.boards.build import board_fit_bytes
    from edgeimpro.boards.registry import get_board

    aot = generate_aot(graph, patches=patches, fit_bytes=board_fit_bytes(get_board(board)))
    fig: dict[str, Any] = {"model": model.name, "model_sha256": graph.sha256, "board": board,
                           "macs": stats.macs, "arena_bytes": aot.arena_bytes,
                           "ram_lower_bound": aot.plan.lower_bound, "activations_lower_bound": stats.ram_lower_bound,
                           "arena_vs_lower_bound": round(aot.arena_bytes / aot.plan.lower_bound, 4),
                           "streamed_lower_bound": aot.plan.streamed_bound,
                           "streamed_layers": [p.op for p in aot.plan.streams if p.lag is not None]}
    tflm = measure_tflm_arena_sizes(model)
    if tflm["bytes_32bit"]:
        fig["tflm_arena_32bit_estimate"] = tflm["bytes_32bit"]
        fig["arena_vs_tflm"] = round(aot.arena_bytes / tflm["bytes_32bit"], 4)
    if port is None:
        build = emulated_firmware(model, board, status=status, patches=patches)
        size = json.loads((build / "size.json").read_text())
        sec = size["sections"]
        fig["firmware"] = {
            "flash_used": size["flash_used"], "flash_total": size["flash_total"],
            "ram_used": size["ram_used"], "ram_total": size["ram_total"],
            "code_bytes": sum(sec.get(s, 0) for s in CODE_SECTIONS),
            "code_parts": size.get("code_parts", {}),
            "constants_bytes": sec.get(".rodata", 0), "stack_bytes": sec.get(".stack", 0),
            "arena_bytes": aot.arena_bytes,
        }
    rng = np.random.default_rng(seed)
    shape = graph.input_tensors[0].shape
    xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(inputs)]
    with open_target(model, port=port, emulate=None if port else board, status=status, baudrate=baudrate,
                     patches=patches) as dev:
        counts = []
        for x in xs:
            r = dev.infer(x)
            counts.append(r.count)
            kind = r.count_kind.name.lower()
        repeat = dev.infer(xs[0]).count       # the same input again: the count must repeat exactly
        profiled = dev.infer(xs[0], profile=True) if layers else None
        link = measure(dev, xs[:2])
        info = dev.info()
    fig["count_kind"] = kind
    fig["per_inference"] = counts
    fig["median_per_inference"] = int(np.median(counts))
    fig["per_mac"] = round(fig["median_per_inference"] / stats.macs, 2) if stats.macs else None
    fig["spread"] = [min(counts), max(counts)]           # data-dependent branches (rounding, clamps)
    fig["repeatable"] = repeat == counts[0]
    if kind in LATENCY_BASIS and info.clock_hz:
        fig["clock_hz"] = info.clock_hz
        fig["median_ms"] = round(1000 * fig["median_per_inference"] / info.clock_hz, 3)
        fig["latency_basis"] = LATENCY_BASIS[kind]
    if profiled is not None:
        fig["layers"] = layer_profile(stats, profiled.layer_counts, profiled.count, counts[0], aot.plan.pipelines)
    rep = patch_report(graph, aot, patches)
    if rep is not None:     # a patched first stage: what it saves (the export's report) and what it costs
        if port is None:    # the same first input through the firmware without patches
            with open_target(model, emulate=board, status=status, patches="off") as plain:
                base = plain.infer(xs[0]).count
            rep.update(count_without=base, extra_count=counts[0] - base)
        fig["patches"] = rep
    wire = input_wire_bytes(int(np.prod(shape)), info.max_payload)
    fig["link"] = {"round_trip_s": round(link.round_trip_s, 3),
                   "host_to_device_bytes_per_s": round(link.host_to_device_Bps),
                   "wire_efficiency": round(link.efficiency, 4),
                   "wire_efficiency_worst_case": round(wire.efficiency, 4), "retries": link.retries}
    yard = yardstick(graph.sha256, board)
    if yard:
        fig["yardsticks"] = yard
        if kind == "instructions":
            fig["vs_tflm_reference_kernels"] = round(fig["median_per_inference"] / yard["tflm_ref_instructions"], 3)
            fig["vs_tflm_cmsis_nn"] = round(fig["median_per_inference"] / yard["tflm_cmsis_instructions"], 3)
        if yard["tflm_arena_m4"]:
            fig["arena_vs_tflm_m4_measured"] = round(aot.arena_bytes / yard["tflm_arena_m4"], 4)
        if "firmware" in fig and yard["tflm_code_bytes"]:
            fig["code_vs_tflm"] = round(fig["firmware"]["code_bytes"] / yard["tflm_code_bytes"], 3)
        if "firmware" in fig and yard["tflm_cmsis_code_bytes"]:
            fig["code_vs_tflm_cmsis_nn"] = round(fig["firmware"]["code_bytes"] / yard["tflm_cmsis_code_bytes"], 3)
    return BenchResult(fig)


def yardstick(model_sha256: str, board: str) -> dict[str, Any] | None:
    """TFLM's figures for this model on the board's core, or None (another model, or a core not measured)."""
    known = YARDSTICKS.get(model_sha256)
    core = get_board(board).core
    if known is None or core not in known["cores"]:
        return None
    return {"name": known["name"], "core": core, "tflm_arena_m4": known["tflm_arena_m4"], **known["cores"][core]}


def layer_profile(stats: GraphStats, layer_counts: list[int], profiled_total: int | None, plain_total: int,
                  pipelines: list[list[int]] | None = None) -> dict[str, Any]:
    """The per-layer table and its check against the whole-inference counts of the same input.

    `layer_counts` add up exactly to the count at the end of the last layer; `profiled_total` (the same
    inference's count) exceeds that sum by the tail (the return from the model, the last counter read);
    `plain_total` (that input without profiling) differs from `profiled_total` by the hook's cost that the
    firmware cannot exclude (the call and the first counter read of every layer). The layers of a pipeline
    (`pipelines`: a conv fused with its pool, a patched first stage) run together: the first one's count
    is the pipeline's, per MAC over all its layers' MACs; each row names its pipeline.
    """
    total = sum(layer_counts)
    chain_of = {k: chain for chain in pipelines or [] for k in chain}
    rows = []
    for layer, count in zip(stats.layers, layer_counts, strict=True):
        chain = chain_of.get(layer.index)
        macs = sum(stats.layers[k].macs for k in chain) if chain and chain[0] == layer.index else layer.macs
        rows.append({"layer": layer.index, "op": layer.op, "output_shape": layer.output_shapes[0]
                     if layer.output_shapes else [], "macs": layer.macs, "count": count,
                     "per_mac": round(count / macs, 2) if macs and (not chain or chain[0] == layer.index) else None,
                     "share": round(count / total, 4) if total else 0.0,
                     "pipeline": [chain[0], chain[-1]] if chain else None})
    out: dict[str, Any] = {"rows": rows, "sum": total, "profiled_total": profiled_total,
                           "plain_total": plain_total}
    if profiled_total is not None:
        out["tail"] = profiled_total - total
        out["hook_overhead"] = profiled_total - plain_total
    return out
