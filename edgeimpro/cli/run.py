"""`edgeimpro run model.tflite --inputs X.npy --on host -o Y.npz [--json]`."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np

from edgeimpro.boards.registry import BOARDS
from edgeimpro.errors import UsageError
from edgeimpro.modelcard import write_atomic


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="full-int8 .tflite")
    p.add_argument("--inputs", type=Path, required=True,
                   help="X.npy (N, *input shape) int8, or .npz with input_0, input_1, ...")
    p.add_argument("--on", default="host",
                   help="host (compiled with the host gcc), or an emulated board: "
                        + ", ".join(b.name for b in BOARDS.values() if b.qemu_machine)
                        + " (firmware built on demand, cached)")
    p.add_argument("--port", default=None,
                   help="a real board's serial URL (/dev/ttyACM0, COM3, socket://host:port) running firmware "
                        "for this model")
    p.add_argument("--baud", type=int, default=None, metavar="RATE",
                   help="serial rate for --port (default: the firmware's, the board's uart_baud in the registry)")
    p.add_argument("-o", "--output", type=Path, required=True, help="Y.npz to write (output_0, ...)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")


def run(args: argparse.Namespace) -> int:
    from edgeimpro.run import run_model

    if args.output.is_dir():
        raise UsageError(f"-o {args.output} is a folder; it must name the .npz file to write",
                         hint=f"for example -o {args.output / 'outputs.npz'}")
    from edgeimpro.targets import serial_baud

    baud = serial_baud(args.baud, args.on if args.on in BOARDS else None) if args.port else None
    result = run_model(args.model, args.inputs, on=args.on, port=args.port, baudrate=baud)
    buf = io.BytesIO()
    np.savez(buf, **result.outputs)
    write_atomic(args.output, buf.getvalue())
    summary = dict(result.summary, output=str(args.output),
                   outputs={k: list(v.shape) for k, v in result.outputs.items()})
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"ran {summary['samples']} inputs on {summary['on']}: arena {summary['arena_bytes']:,} B, "
              f"weights {summary['weights_bytes']:,} B -> {args.output}")
        if summary.get("median_per_inference"):
            print(f"  {summary['median_per_inference']:,} {summary['count_kind']} per inference (median)"
                  + (f", {summary['median_ms']} ms" if "median_ms" in summary else ""))
    return 0
