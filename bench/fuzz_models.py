"""Corrupt-model fuzzing on a large budget: the generator and judge of tests/model_fuzz.py over many seeds.

    .venv/bin/python bench/fuzz_models.py --count 2000 --seed 0 [--models vww,resnet8,kws,tiny] [--cli 30]
        [--jsonl fuzz.jsonl] [--sanitize]

Each corrupt model must end in a clear edgeimpro error, or be accepted and give outputs identical to
tflite_micro (run in a child process) from a host build with poisoned dead buffers. Prints the counts:
clear errors by the check that raised them, bit-exact runs, and every kind of failure (tracebacks, build or
runtime failures, crashes, hangs, wrong outputs, models tflite_micro refuses that we accept). `--cli N` also
runs `inspect`, `export --target aot` and `run --on host` in subprocesses on N of the models.
Exit status 1 when any failure was seen.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import model_fuzz as mf  # noqa: E402

from edgeimpro.graph import load_graph  # noqa: E402

SOURCES = {
    "tiny": ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite",
    "kws": ROOT.parent / "shared" / "models" / "kws_ref_model.tflite",
    "resnet8": ROOT.parent / "shared" / "models" / "pretrainedResnet_quant.tflite",
    "vww": ROOT.parent / "shared" / "models" / "vww_96_int8.tflite",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=2000, help="corrupt models to judge (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="first seed (models use seeds seed .. seed+count-1)")
    p.add_argument("--models", default="tiny,kws,resnet8,vww", help="source models, comma-separated")
    p.add_argument("--cli", type=int, default=0, help="also run the CLI verbs on this many of the models")
    p.add_argument("--sanitize", action="store_true", help="host builds with ASan/UBSan (slower)")
    p.add_argument("--tflm-on-rejected", action="store_true",
                   help="also run tflite_micro on every refused model and count those it runs (over-strictness)")
    p.add_argument("--jsonl", type=Path, default=None, help="write one JSON record per model here")
    args = p.parse_args(argv)

    names = [n for n in args.models.split(",") if n]
    sources = {n: SOURCES[n].read_bytes() for n in names}
    input_shapes = {n: [t.shape for t in load_graph(sources[n]).input_tensors] for n in names}
    tflm_runs_refused: collections.Counter[str] = collections.Counter()
    worker = mf.TflmWorker()
    outcomes: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    failures: list[str] = []
    cli_results: collections.Counter[str] = collections.Counter()
    cli_every = max(1, args.count // args.cli) if args.cli else 0
    log = args.jsonl.open("w") if args.jsonl else None
    t0 = time.time()
    try:
        for i in range(args.count):
            seed = args.seed + i
            name = names[seed % len(names)]
            kind = mf.KINDS[(seed // len(names)) % len(mf.KINDS)]
            mutant = mf.corrupt_model(sources[name], mf.stable_seed(name, seed), kind)
            v = mf.judge(mutant, worker, sanitize=args.sanitize)
            outcomes[v.outcome] += 1
            by_kind[kind][v.outcome] += 1
            if v.outcome == "rejected":
                errors[v.error_kind] += 1
                if args.tflm_on_rejected:
                    x = [np.zeros((1, *shape), np.int8) for shape in input_shapes[name]]
                    status, _ = worker.run(mutant.data, x)
                    tflm_runs_refused[f"{kind}: tflite_micro {status}"] += 1
            elif not v.ok:
                failures.append(f"seed {seed} {name} {kind} ({mutant.detail}): {v.outcome}: {v.detail[:300]}")
            if cli_every and i % cli_every == 0:
                with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as td:
                    work = Path(td)
                    path = work / "model.tflite"
                    path.write_bytes(mutant.data)
                    np.save(work / "x.npy", np.zeros((1, 1), np.int8))
                    for verb in ("inspect", "export", "run"):
                        ok, what = mf.judge_cli(path, verb, work)
                        cli_results[f"{verb} {'ok' if ok else 'FAILED'}"] += 1
                        if not ok:
                            failures.append(f"seed {seed} {name} {kind} ({mutant.detail}): CLI {what[:600]}")
            if log:
                log.write(json.dumps({"seed": seed, "model": name, "kind": kind, "detail": mutant.detail,
                                      "outcome": v.outcome, "error_kind": v.error_kind,
                                      "message": v.detail[:500]}) + "\n")
            if (i + 1) % 100 == 0:
                print(f"  {i + 1}/{args.count} models, {time.time() - t0:.0f} s: {dict(outcomes)}", flush=True)
    finally:
        worker.close()
        if log:
            log.close()

    print(f"\n{args.count} corrupt models from {', '.join(names)} (seeds {args.seed}..{args.seed + args.count - 1}), "
          f"{time.time() - t0:.0f} s")
    print("outcomes:")
    for outcome in ("rejected", "bit_exact", "traceback", "build_failed", "runtime_failed", "wrong_output",
                    "tflm_refused", "hang"):
        print(f"  {outcome:15s} {outcomes.get(outcome, 0)}")
    print("clear errors by the check that raised them:")
    for k, n in errors.most_common():
        print(f"  {k:30s} {n}")
    print("by mutation kind (rejected / bit_exact / failed):")
    for kind in mf.KINDS:
        c = by_kind.get(kind, collections.Counter())
        bad = sum(n for o, n in c.items() if o not in ("rejected", "bit_exact"))
        print(f"  {kind:22s} {c['rejected']:5d} {c['bit_exact']:5d} {bad:5d}")
    if tflm_runs_refused:
        print("refused models, what tflite_micro does with them (ok = it runs them):")
        for k, n in sorted(tflm_runs_refused.items()):
            print(f"  {k:45s} {n}")
    if cli_results:
        print("CLI (inspect, export --target aot, run --on host):", dict(cli_results))
    if failures:
        print(f"\n{len(failures)} FAILURES:")
        for f in failures:
            print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
