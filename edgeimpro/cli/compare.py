"""`edgeimpro compare --model model.tflite (--port URL | --emulate BOARD) SOURCE... [--labels FILE]
[--report DIR] [--limit N] [--resume] [--layers] [--keras MODEL.keras] [--fail-on exact|top1|none]`."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from edgeimpro.boards.registry import BOARDS
from edgeimpro.cli.sources import add_source_options
from edgeimpro.errors import EdgeImproError, ExitCode, UsageError
from edgeimpro.modelcard import read_class_names
from edgeimpro.preprocess import DEFAULT_MAX_IMAGE_PIXELS, set_max_image_pixels
from edgeimpro.units import rate_text

MISMATCH_EXIT = ExitCode.CHECK_FAILED        # the comparison ran and failed the --fail-on check


def add_parser(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Run inputs on a board (or an emulated board) and on the desktop, and prove that the board computes "
        "exactly what tflite_micro computes; LiteRT and the float Keras model are compared too. Writes "
        "results.jsonl (resumable), summary.json and a self-contained report.html. Exit status: "
        f"{ExitCode.OK:d} passed, {MISMATCH_EXIT:d} the --fail-on check failed, {ExitCode.LINK:d} the link failed "
        f"(continue with --resume), {ExitCode.INTERRUPTED:d} interrupted, others as every verb (edgeimpro --help).")
    p.add_argument("--model", type=Path, required=True, help="the int8 .tflite the device runs (model.json beside it "
                                                             "gives labels and preprocessing)")
    dev = p.add_mutually_exclusive_group(required=True)
    dev.add_argument("--port", metavar="URL", help="the board's serial port or URL (/dev/ttyACM0, COM3, socket://host:port)")
    dev.add_argument("--emulate", metavar="BOARD", choices=sorted(b.name for b in BOARDS.values() if b.qemu_machine),
                     help="build (cached) and emulate firmware for the model on this QEMU board")
    p.add_argument("--baud", type=int, default=None, metavar="RATE",
                   help="serial rate for --port (default: the firmware's, the board's uart_baud in the registry)")
    add_source_options(p)
    p.add_argument("--labels", type=Path, metavar="FILE",
                   help="ground truth: a .npy of class indices, or a text file with one label per input (in order) "
                        "or name,label lines")
    p.add_argument("--class-names", type=Path, metavar="FILE",
                   help="class names, one per line (for a model without model.json)")
    p.add_argument("--report", type=Path, metavar="DIR", help="output folder (default: compare-<model name>)")
    p.add_argument("--limit", type=int, metavar="N", help="compare the first N inputs only")
    p.add_argument("--resume", action="store_true", help="continue the run in --report DIR where it stopped")
    p.add_argument("--overwrite", action="store_true", help="start again even if --report DIR holds results")
    p.add_argument("--layers", action="store_true",
                   help="for inputs whose output differs, fetch every layer from the device and name the first "
                        "divergent one")
    p.add_argument("--keras", type=Path, metavar="MODEL.keras", help="also compare with the float Keras model")
    p.add_argument("--no-litert", action="store_true", help="leave LiteRT out of the references")
    p.add_argument("--fail-on", choices=("exact", "top1", "none"), default="exact",
                   help="exit non-zero when any output differs from tflite_micro (exact, the default), when any "
                        "top-1 differs (top1), or never (none)")
    p.add_argument("--invoke-timeout", type=float, metavar="S", help="seconds one inference may take (default 60)")
    p.add_argument("--gallery", type=int, default=12, metavar="N", help="disagreeing inputs shown in the report")
    p.add_argument("--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS, metavar="N",
                   help="refuse image files with more pixels than this, a decompression-bomb guard "
                        "(default %(default)s)")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _interrupt)   # `kill PID` ends like Ctrl-C: results kept, report written
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    from edgeimpro.compare import CompareOptions, Comparison, open_target
    from edgeimpro.link.device import Timeouts
    from edgeimpro.targets import serial_baud

    set_max_image_pixels(args.max_image_pixels)
    report_dir = args.report or Path(f"compare-{args.model.stem}")
    if not args.sources and args.camera is None and args.video is None and not args.picamera:
        raise UsageError("no input given", hint="give image files, folders, .npy files, --video FILE or --camera N")
    err = sys.stderr
    options = CompareOptions(
        report_dir=report_dir, limit=args.limit, resume=args.resume, overwrite=args.overwrite, layers=args.layers,
        references=("tflm",) if args.no_litert else ("tflm", "litert"), keras=args.keras, labels=args.labels,
        class_names=read_class_names(args.class_names) if args.class_names else None, fail_on=args.fail_on,
        gallery=args.gallery)
    comparison = Comparison(args.model, options, status=lambda m: print(m, file=err, flush=True))
    source = comparison.open_source(args.sources, camera=args.camera, picamera=args.picamera, video=args.video)
    print(f"inputs: {source.description}\npreprocessing: {comparison.preparer.origin}\nreferences: "
          + ", ".join(r.title for r in comparison.refs)
          + "".join(f"; {k} unavailable ({m})" for k, m in comparison.missing.items()), file=err, flush=True)
    timeouts = Timeouts(invoke=args.invoke_timeout) if args.invoke_timeout else None
    bar = ProgressBar(err)
    try:
        with open_target(args.model, port=args.port, emulate=args.emulate, timeouts=timeouts,
                         status=lambda m: print(m, file=err, flush=True),
                         baudrate=serial_baud(args.baud) if args.port else None) as device:
            outcome = comparison.run(device, source, progress=bar.update)
    except KeyboardInterrupt:
        bar.close()
        _print_outcome(comparison.outcome, sys.stdout)
        print(f"interrupted: the results so far are kept; continue with --resume --report {report_dir}", file=err)
        return int(ExitCode.INTERRUPTED)
    except EdgeImproError as e:      # a lost link, or an input that cannot be read, in the middle of a run
        bar.close()
        _print_outcome(comparison.outcome, sys.stdout)
        if comparison.outcome is not None and comparison.outcome.summary["inputs"]:
            e.hint = (e.hint + "; " if e.hint else "") + \
                f"the results so far are kept: continue with --resume --report {report_dir}"
        raise
    bar.close()
    _print_outcome(outcome, sys.stdout)
    return int(ExitCode.OK if outcome.passed else MISMATCH_EXIT)


def _print_outcome(outcome: Any, out: TextIO) -> None:
    if outcome is None:
        return
    s = outcome.summary
    print(f"{s['inputs']} inputs compared ({outcome.compared} this run"
          + (f", {outcome.resumed} from earlier runs" if outcome.resumed else "") + f"), {s['state']}", file=out)
    refs = [r for r in s["references"].values() if r.get("inputs")]
    if refs:
        print(f"  {'device vs':<16} {'exact':>8} {'max|Δ|':>7} {'MAE':>8} {'RMSE':>8} {'cosine':>9} {'top-1':>8}"
              "   (|Δ| in int8 output steps)", file=out)
    for r in refs:
        print(f"  {r['title']:<16} {100 * r['exact_rate']:7.2f}% {r['max_abs_diff_steps']:>7.3g} {r['mae']:>8.3g} "
              f"{r['rmse']:>8.3g} {r['cosine_similarity']:>9.6f} {100 * r['top1_agreement']:7.2f}%", file=out)
    lab = s.get("labels")
    if lab and lab.get("labelled"):
        titles = {k: r["title"] for k, r in s["references"].items()}     # one name per reference, as above
        acc = "  ".join(f"{titles.get(k, k)} {100 * v:.1f}%" for k, v in lab["accuracy"].items())
        print(f"  accuracy on {lab['labelled']} labelled inputs: {acc}", file=out)
    if s.get("detection"):
        from edgeimpro.compare.detect import summary_lines

        for line in summary_lines(s["detection"]):
            print(line, file=out)
    lay = s.get("layers")
    if lay and lay.get("first_divergent_layer"):
        f = lay["first_divergent_layer"]
        print(f"  first divergent layer: {f['layer']} {f['opcode']} (max |Δ| {f['max_abs']} steps, "
              f"{f['inputs']} of {lay['inputs_checked']} mismatching inputs)", file=out)
    p = s["device_performance"]
    if p.get("per_inference"):
        line = f"  device: {p['per_inference']['mean']:,.0f} {p['count_kind']} per inference"
        if p.get("ms"):
            line += f", {p['ms']['mean']:.2f} ms"
        print(line, file=out)
    if p.get("inputs_per_second"):
        print(f"  link: {rate_text(p['link_bytes_per_second'])}, {p['inputs_per_second']:.2f} inputs/s overall",
              file=out)
    v = s["verdict"]
    print(f"{v['status']} (--fail-on {v['fail_on']}): {v['reason']}", file=out)
    print(f"report: {outcome.report or '(not written: ' + str(outcome.report_error) + ')'}", file=out)
    print(f"results: {outcome.results}  summary: {outcome.summary_path}", file=out)


class ProgressBar:
    """tqdm on stderr when it is installed and stderr is a terminal; else a line every few seconds."""

    def __init__(self, out: TextIO, every: float = 5.0) -> None:
        self.out = out
        self.every = every
        self._bar: Any = None
        self._last = 0.0
        self._tqdm: Any = None
        if out.isatty():
            try:
                from tqdm import tqdm
                self._tqdm = tqdm
            except ImportError:
                pass

    def update(self, p: Any) -> None:
        if self._tqdm is not None:
            if self._bar is None:
                self._bar = self._tqdm(total=p.total, unit="input", file=self.out, dynamic_ncols=True,
                                       desc="compare")
            self._bar.update(1)
            self._bar.set_postfix_str(("exact" if p.exact else "DIFFERS") if p.exact is not None else "")
            return
        now = time.monotonic()
        if now - self._last >= self.every or (p.total is not None and p.done == p.total):
            self._last = now
            total = f"/{p.total}" if p.total is not None else ""
            eta = f", ETA {p.eta:.0f} s" if p.eta is not None else ""
            print(f"compare: {p.done}{total} inputs, {p.elapsed:.0f} s{eta}", file=self.out, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
