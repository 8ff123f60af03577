"""`edgeimpro bench model.tflite --board NAME [--port URL] [--inputs N] [--json]`."""

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
    p.add_argument("--inputs", type=int, default=5, help="inferences to count (default 5)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    from edgeimpro.bench import bench_model

    res = bench_model(args.model, args.board, port=args.port, inputs=args.inputs,
                      status=lambda msg: print(msg, file=sys.stderr))
    f = res.figures
    if args.json:
        print(res.to_json())
        return 0
    y = f.get("yardsticks", {})
    print(f"{f['model']} on {f['board']}  ({f['macs'] / 1e6:.2f} M MACs)")
    if "firmware" in f:
        fw = f["firmware"]
        print(f"  flash      {size_text(fw['flash_used'])} of {size_text(fw['flash_total'])}: runtime code {size_text(fw['code_bytes'])}"
              f", model constants {size_text(fw['constants_bytes'])}"
              + (f"   (TFLM code besides the model: {size_text(y['tflm_code_bytes'])})" if y else ""))
        print(f"  RAM        {size_text(fw['ram_used'])} of {size_text(fw['ram_total'])}: arena {f['arena_bytes']:,} B, "
              f"stack {size_text(fw['stack_bytes'])}")
    print(f"  arena      {f['arena_bytes']:,} B = {f['arena_vs_lower_bound']:.3f} x the RAM lower bound "
          f"({f['ram_lower_bound']:,} B)")
    if "tflm_arena_32bit_estimate" in f:
        print(f"  TFLM arena {f['tflm_arena_32bit_estimate']:,} B (32-bit estimate) -> ours is "
              f"{f['arena_vs_tflm']:.3f} x" + (f"; measured on a Cortex-M4: {y['tflm_arena_m4']:,} B -> "
                                              f"{f['arena_vs_tflm_m4_measured']:.3f} x" if y else ""))
    again = "repeats exactly" if f["repeatable"] else "DID NOT REPEAT"
    print(f"  speed      {f['median_per_inference']:,} {f['count_kind']} per inference ({f['per_mac']} per MAC), "
          f"median of {len(f['per_inference'])} inputs, range {f['spread'][0]:,}-{f['spread'][1]:,}; the same input "
          f"{again}" + (f"; {f['median_ms']} ms" if "median_ms" in f else ""))
    if y and "vs_tflm_reference_kernels" in f:
        print(f"             TFLM reference kernels {y['tflm_ref_instructions'] / 1e6:.1f} M -> "
              f"{f['vs_tflm_reference_kernels']:.3f} x; TFLM + CMSIS-NN {y['tflm_cmsis_instructions'] / 1e6:.1f} M"
              f" -> {f['vs_tflm_cmsis_nn']:.3f} x")
    ln = f["link"]
    print(f"  link       round trip {ln['round_trip_s']:.3f} s, host->device {rate_text(ln['host_to_device_bytes_per_s'])},"
          f" wire efficiency {100 * ln['wire_efficiency']:.2f}% (worst case {100 * ln['wire_efficiency_worst_case']:.2f}%)")
    return 0
