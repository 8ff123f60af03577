"""Corrupt models (tests/model_fuzz.py) end in a clear error or in outputs identical to tflite_micro.

Bulk in-process through the library (load_graph, generate_aot, a host build with poisoned dead buffers,
tflite_micro in a child process); a sample through the CLI in subprocesses. bench/fuzz_models.py runs the
same generator on thousands of seeds.
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, mlperf_model

pytest.importorskip("tflite_micro")
import model_fuzz as mf  # noqa: E402

from edgeimpro.errors import EdgeImproError  # noqa: E402
from edgeimpro.graph import load_graph  # noqa: E402

pytestmark = pytest.mark.host

TINY = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"
PER_KIND = 8    # 27 kinds x 8 = 216 models, about 55 s on one core


@pytest.fixture(scope="module")
def worker():  # noqa: ANN201
    w = mf.TflmWorker()
    yield w
    w.close()


def test_generator_is_seeded_and_covers_every_kind() -> None:
    src = TINY.read_bytes()
    a = mf.corrupt_model(src, mf.stable_seed("tiny", 3))
    assert a == mf.corrupt_model(src, mf.stable_seed("tiny", 3))
    details = {mf.corrupt_model(src, mf.stable_seed("tiny", i), kind).data for i in range(3) for kind in mf.KINDS}
    assert len(details) > 2 * len(mf.KINDS)          # different seeds give different files
    assert len(mf.KINDS) >= 15


def test_corrupt_models_are_refused_or_bit_exact(worker: mf.TflmWorker) -> None:
    """Every corrupt model ends in an EdgeImproError, or its exported AOT code runs on the host (dead buffers
    poisoned) with outputs identical to tflite_micro's. Weight rewrites are legitimate models: they must run."""
    sources = {"tiny": TINY.read_bytes(), "kws": mlperf_model("kws").read_bytes()}
    outcomes: collections.Counter[str] = collections.Counter()
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    failures = []
    for kind in mf.KINDS:
        for i in range(PER_KIND):
            name = "tiny" if i % 4 else "kws"
            mutant = mf.corrupt_model(sources[name], mf.stable_seed("test", name, kind, i), kind)
            v = mf.judge(mutant, worker)
            outcomes[v.outcome] += 1
            by_kind[kind][v.outcome] += 1
            if not v.ok:
                failures.append(f"{name} {kind} ({mutant.detail}): {v.outcome}: {v.detail[:400]}")
    assert not failures, f"{len(failures)} of {sum(outcomes.values())} corrupt models:\n" + "\n".join(failures)
    assert by_kind["weight_data"]["bit_exact"] == PER_KIND          # the control: legitimate edits run
    assert outcomes["rejected"] > len(mf.KINDS) * PER_KIND // 2


# One file per finding of the hostile-input review; each must now be refused by every verb.
REVIEW_FINDINGS = {
    "output_redirect": "op output",         # outputs depended on uninitialised arena memory
    "model_input": "model input",           # the input redirected to an intermediate tensor
    "opcode_swap": "opcode",                # a CONV_2D rewritten to another builtin
    "truncate": "first",
}


def _refused(kind: str, seed: int) -> mf.Mutant:
    """The first seed whose mutant of `kind` the library refuses (so the CLI must refuse it too)."""
    src = TINY.read_bytes()
    for i in range(50):
        m = mf.corrupt_model(src, mf.stable_seed("cli", kind, seed + i), kind)
        try:
            load_graph(m.data)
        except EdgeImproError:              # a clear refusal; any other exception is a bug and fails here
            return m
    raise AssertionError(f"no refused {kind} mutant in 50 seeds")


@pytest.mark.parametrize("kind", sorted(REVIEW_FINDINGS))
def test_cli_refuses_corrupt_models_with_one_error_line(kind: str, tmp_path: Path) -> None:
    """inspect, export --target aot and run --on host: non-zero exit, one `error:` line, no traceback, no signal,
    no hang. (inspect and export also measure TFLM's arena: refused at load, they never reach tflite_micro.)"""
    mutant = _refused(kind, 0)
    model = tmp_path / "corrupt.tflite"
    model.write_bytes(mutant.data)
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 3), np.int8))
    for verb in ("inspect", "export", "run"):
        ok, what = mf.judge_cli(model, verb, tmp_path)
        assert ok, f"{kind} ({mutant.detail}): {what}"
        assert "exit 0" not in what, f"{kind} ({mutant.detail}): {verb} accepted a corrupt model"
