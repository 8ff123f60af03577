"""`edgeimpro bench model.tflite --board NAME [--port URL] [--inputs N] [--layers] [--json]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgeimpro.boards.registry import BOARDS
from edgeimpro.units import rate_text, size_text


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="full-int8 .tflite")
    p.add_argument("--board", default="qemu-m4", choices=sorted(BOARDS),
                   help="board to build for and emulate, or the board at --port (default qemu-m4)")
    p.add_argument("--port", default=None, help="measure on a real board at this serial URL instead")
    p.add_argument("--baud", type=int, default=None, metavar="RATE",
                   help="serial rate for --port (default: the firmware's, the board's uart_baud in the registry)")
    p.add_argument("--inputs", type=int, default=5, help="inferences to count (default 5)")
    p.add_argument("--layers", action="store_true",
                   help="also profile every layer (op, output shape, MACs, count, per MAC, share of the total)")
    p.add_argument("--patches", default="auto", metavar="auto|N|off",
                   help="the AOT export's --patches (default auto): measure what a patched first stage costs")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    from edgeimpro.bench import bench_model
    from edgeimpro.targets import serial_baud

    res = bench_model(args.model, args.board, port=args.port, inputs=args.inputs, layers=args.layers,
                      status=lambda msg: print(msg, file=sys.stderr),
                      baudrate=serial_baud(args.baud, args.board) if args.port else None, patches=args.patches)
    f = res.figures
    if args.json:
        print(res.to_json())
        return 0
    y = f.get("yardsticks", {})
    print(f"{f['model']} on {f['board']}  ({f['macs'] / 1e6:.2f} M MACs)")
    if "firmware" in f:
        fw = f["firmware"]
        parts = fw.get("code_parts") or {}
        split = (f"\n             (the runtime, its kernels and the model's code {size_text(parts['runtime'])}; serial "
                 f"protocol and board {size_text(parts['firmware'])}; C library {size_text(parts['libraries'])})"
                 if parts else "")
        print(f"  flash      {size_text(fw['flash_used'])} of {size_text(fw['flash_total'])}: runtime code {size_text(fw['code_bytes'])}"
              f", model constants {size_text(fw['constants_bytes'])}" + split
              + (f"\n             (TFLM's code besides the model: {size_text(y['tflm_code_bytes'])} with its reference "
                 f"kernels -> {f['code_vs_tflm']:.3f} x" + (f"; {size_text(y['tflm_cmsis_code_bytes'])} with CMSIS-NN -> "
                                                            f"{f['code_vs_tflm_cmsis_nn']:.3f} x"
                                                            if y.get("tflm_cmsis_code_bytes") else "") + ")"
                 if y.get("tflm_code_bytes") else ""))
        print(f"  RAM        {size_text(fw['ram_used'])} of {size_text(fw['ram_total'])}: arena {f['arena_bytes']:,} B, "
              f"stack {size_text(fw['stack_bytes'])}")
    print(f"  arena      {f['arena_bytes']:,} B = {f['arena_vs_lower_bound']:.3f} x the op-order bound "
          f"({f['ram_lower_bound']:,} B: every layer holding its whole input and output, activations "
          f"{f['activations_lower_bound']:,} B, and the kernel's scratch); streamed bound "
          f"{f['streamed_lower_bound']:,} B ({len(f['streamed_layers'])} layers write over input they have read)")
    if "tflm_arena_32bit_estimate" in f:
        print(f"  TFLM arena {f['tflm_arena_32bit_estimate']:,} B (32-bit estimate) -> ours is "
              f"{f['arena_vs_tflm']:.3f} x" + (f"; measured on a Cortex-M4: {y['tflm_arena_m4']:,} B -> "
                                              f"{f['arena_vs_tflm_m4_measured']:.3f} x" if y.get("tflm_arena_m4") else ""))
    if "patches" in f:
        p = f["patches"]
        cost = (f"; costs {p['extra_count']:+,} {f['count_kind']} ({p['extra_count'] / p['count_without']:+.1%}) "
                f"against {p['count_without']:,} without" if "extra_count" in p else "")
        print(f"  patches    layers {p['layers'][0]}..{p['layers'][-1]} in bands: saves {p['arena_saved']:,} B of arena "
              f"({p['arena_without']:,} B without){cost}")
    again = "repeats exactly" if f["repeatable"] else "DID NOT REPEAT"
    print(f"  speed      {f['median_per_inference']:,} {f['count_kind']} per inference ({f['per_mac']} per MAC)\n"
          f"             median of {len(f['per_inference'])} inputs, range {f['spread'][0]:,}-{f['spread'][1]:,}; "
          f"the same input {again}")
    if "median_ms" in f:
        print(f"  latency    {f['median_ms']} ms at {f['clock_hz'] / 1e6:g} MHz: {f['latency_basis']}")
    if y and "vs_tflm_reference_kernels" in f:
        print(f"  vs TFLM    on {y['core']}, counted the same way: TFLM reference kernels "
              f"{y['tflm_ref_instructions'] / 1e6:.1f} M -> {f['vs_tflm_reference_kernels']:.3f} x;\n"
              f"             TFLM + CMSIS-NN {y['tflm_cmsis_instructions'] / 1e6:.1f} M -> {f['vs_tflm_cmsis_nn']:.3f} x")
    ln = f["link"]
    print(f"  link       round trip {ln['round_trip_s']:.3f} s, host->device {rate_text(ln['host_to_device_bytes_per_s'])},"
          f" wire efficiency {100 * ln['wire_efficiency']:.2f}% (worst case {100 * ln['wire_efficiency_worst_case']:.2f}%)")
    if "layers" in f:
        print_layers(f["layers"], f["count_kind"])
    return 0


def print_layers(prof: dict, kind: str) -> None:
    print(f"\n  {'layer':>5}  {'op':<18} {'output':<14} {'MACs':>11} {kind:>12} {'per MAC':>8} {'share':>7}")
    for r in prof["rows"]:
        shape = "x".join(str(d) for d in r["output_shape"])
        per_mac = f"{r['per_mac']:.2f}" if r["per_mac"] is not None else "-"
        chain = r.get("pipeline")
        note = ""
        if chain:
            note = (f"  layers {chain[0]}..{chain[-1]} run as one pipeline: this count is theirs"
                    if chain[0] == r["layer"] else f"  in the pipeline of layer {chain[0]}")
        print(f"  {r['layer']:>5}  {r['op']:<18} {shape:<14} {r['macs']:>11,} {r['count']:>12,} {per_mac:>8} "
              f"{100 * r['share']:>6.2f}%{note}")
    print(f"  {'total':>5}  {'':<18} {'':<14} {sum(r['macs'] for r in prof['rows']):>11,} {prof['sum']:>12,}")
    if prof.get("profiled_total") is not None:
        print(f"  check: the layers add up to {prof['sum']:,}; the profiled inference counted "
              f"{prof['profiled_total']:,} ({prof['tail']:,} after the last layer);\n"
              f"         the same input without profiling {prof['plain_total']:,} "
              f"(hook overhead {prof['hook_overhead']:+,})")
