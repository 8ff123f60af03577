"""Fuzz the firmware's frame decoder and protocol server: >= 1,000,000 hostile frames under ASan/UBSan.

    .venv/bin/python bench/fuzz_frames.py [--frames 1000000] [--seed N] [--max-payload 64 4096]

Builds tests/c/frame_fuzz.c with the app (eip_frame.c, eip_server.c), the runtime and the fixture model for
this machine under -fsanitize=address,undefined -fno-sanitize-recover=all, once per receive-buffer size, and
runs FRAMES generated items through eip_server_feed() for each: valid requests and whole inferences, the same
mutated, wrong CRCs, lying length fields, other versions, oversized and truncated frames, COBS edge cases,
UART error flags, random bytes. Every frame the server sends must be intact and within its max payload, and
every 1,000 items the server must still answer LAYERS, HELLO (the same INFO) and an inference (the same
RESULT) exactly. Prints the counts; exit status 1 if any run failed (a sanitizer report, a broken answer).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeimpro.boards.build import build_host_firmware  # noqa: E402
from edgeimpro.link.protocol import ErrorCode, MsgType  # noqa: E402

HARNESS = ROOT / "tests" / "c" / "frame_fuzz.c"
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "fixture_model"
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=66",
                 "UBSAN_OPTIONS": "halt_on_error=1:exitcode=67:print_stacktrace=1"}


def build_fuzzer(out_dir: Path, max_payload: int, side: int = 8) -> Path:
    """The harness for a receive buffer of `max_payload` bytes and a side x side x 3 fixture input."""
    return build_host_firmware(FIXTURE_DIR, out_dir, (f"EIP_FIXTURE_SIDE={side}", f"EIP_LINK_MAX_PAYLOAD={max_payload}"),
                               sanitize=True, harness=HARNESS)


def run_fuzzer(binary: Path, seed: int, frames: int, check_every: int = 1000, timeout: float | None = None) -> dict:
    """Runs the harness; returns its JSON counts, or raises RuntimeError with its stderr on any failure."""
    import os

    proc = subprocess.run([str(binary), str(seed), str(frames), str(check_every)], capture_output=True, text=True,
                          env=dict(os.environ, **SANITIZER_ENV), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"frame fuzzer (seed {seed}) failed with exit {proc.returncode}:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout)


def describe(report: dict) -> str:
    errors = {ErrorCode(int(k)).name: v for k, v in report["errors"].items() if v}
    answers = {MsgType(int(k)).name: v for k, v in report["answers"].items()}
    return (f"max payload {report['max_payload']:>5}: {report['frames']:,} frames ({report['bytes_in'] / 1e6:.1f} MB) "
            f"in {report['seconds']:.1f} s, {report['checks']:,} consistency checks passed; the server sent "
            f"{report['device_frames']:,} frames, all intact and within its max payload\n"
            f"    answers {answers}\n    errors  {errors}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000, help="fuzz items per receive-buffer size")
    ap.add_argument("--seed", type=int, default=zlib.crc32(b"fuzz_frames"))
    ap.add_argument("--max-payload", type=int, nargs="+", default=[64, 4096])
    ap.add_argument("--check-every", type=int, default=1000)
    args = ap.parse_args()
    failed = False
    total = 0
    with tempfile.TemporaryDirectory(prefix="edgeimpro-fuzz-") as td:
        for mp in args.max_payload:
            binary = build_fuzzer(Path(td) / f"mp{mp}", mp)
            try:
                report = run_fuzzer(binary, args.seed, args.frames, args.check_every)
            except RuntimeError as e:
                print(f"max payload {mp}: FAILED\n{e}")
                failed = True
                continue
            total += report["frames"]
            print(describe(report))
    print(f"{'FAILED' if failed else 'OK'}: {total:,} fuzzed frames without a sanitizer report or a wrong answer "
          f"(seed {args.seed})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
