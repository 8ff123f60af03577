"""`edgeimpro compare` without an emulator: metrics, layer divergence, results.jsonl and resume, the report,
and whole runs against a fake device (tflite_micro behind the Device API, optionally with one layer
corrupted the way -DEIP_TEST_PERTURB_LAYER corrupts it). The emulated boards are in test_compare_qemu.py."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from edgeimpro.compare import CompareOptions, Comparison, store
from edgeimpro.compare.layers import layer_divergence
from edgeimpro.compare.metrics import OutputQuant, aggregate, confusion_matrix, diff_outputs
from edgeimpro.compare.records import DeviceResult, InputRecord, RefResult
from edgeimpro.errors import DataError, UsageError
from edgeimpro.graph.loader import load_graph
from edgeimpro.link.codec import DeviceInfo, TensorInfo
from edgeimpro.link.device import LayerOutput, LinkError, LinkStats, Result
from edgeimpro.link.protocol import BuildTarget, CountKind

pytestmark = pytest.mark.unit

TINY = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"     # 8x8x3 int8 in, 3 classes out, 7 ops
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------- helpers


class FakeDevice:
    """tflite_micro behind the Device API. `perturb` flips the low bit of byte 0 of that layer's output and
    (standing in for its consequences) of the model output; `wrong_top1` moves the output's maximum to the
    next class; `fail_after` raises LinkError on that inference; `interrupt_after` raises KeyboardInterrupt."""

    def __init__(self, model: Path, perturb: int | None = None, fail_after: int | None = None,
                 interrupt_after: int | None = None, wrong_top1: bool = False) -> None:
        pytest.importorskip("tflite_micro")
        from edgeimpro.references import TflmReference

        self.data = model.read_bytes()
        self.graph = load_graph(self.data)
        self.ref = TflmReference(self.data)
        self.perturb, self.fail_after, self.interrupt_after = perturb, fail_after, interrupt_after
        self.wrong_top1 = wrong_top1
        self.calls = 0
        self.stats = LinkStats()
        self.url = "fake://tflm"
        t_in, t_out = self.graph.input_tensors[0], self.graph.output_tensors[0]
        self._info = DeviceInfo(
            1, "test", "fake-board", "host", 100_000_000, CountKind.CYCLES, BuildTarget.HARDWARE, model.stem,
            hashlib.sha256(self.data).hexdigest(), 1, 0, 0, len(self.graph.ops), True, 4096,
            (TensorInfo(t_in.name, t_in.shape, t_in.nbytes, *t_in.quantization.scalar),),
            (TensorInfo(t_out.name, t_out.shape, t_out.nbytes, *t_out.quantization.scalar),))

    def info(self) -> DeviceInfo:
        return self._info

    def check_model(self, model=None, *, sha256=None) -> None:
        assert sha256 == self._info.model_sha256

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise LinkError("fake://tflm closed the connection")
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt
        inter = self.ref.intermediates(x)
        out = self.ref.run(x)
        layers = {op.index: inter[op.outputs[0]].reshape(-1).copy() for op in self.graph.ops}
        if self.perturb is not None:
            layers[self.perturb][0] ^= 1
            out = out.copy()
            out.reshape(-1)[0] ^= 1
            layers[len(self.graph.ops) - 1] = out.reshape(-1)
        if self.wrong_top1:
            flat_out = out.reshape(-1)
            k = (int(np.argmax(flat_out)) + 1) % flat_out.size
            out = np.full_like(out, -128)
            out.reshape(-1)[k] = 127
        self.stats.bytes_sent += x.size + 20
        self.stats.bytes_received += out.size + 20
        return out, layers

    def infer(self, x: np.ndarray) -> Result:
        out, _ = self._run(x)
        return Result([out], 1_000_000 + int(x.reshape(-1)[0]), CountKind.CYCLES, seconds=0.01)

    def layers(self, x: np.ndarray, layers=None) -> Result:
        out, dumps = self._run(x)
        return Result([out], 1, CountKind.CYCLES, layers={k: LayerOutput(k, 0, v) for k, v in dumps.items()})


def tiny_inputs(folder: Path, n: int = 8, seed: int = 0) -> Path:
    """n random int8 inputs for the tiny model in a .npy, and random class labels beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    np.save(folder / "x.npy", rng.integers(-128, 128, (n, 8, 8, 3), dtype=np.int8))
    np.save(folder / "y.npy", rng.integers(0, 3, n))
    return folder / "x.npy"


def model_copy(tmp_path: Path) -> Path:
    m = tmp_path / "tiny.tflite"
    shutil.copy(TINY, m)
    return m


def records(report: Path) -> list[InputRecord]:
    return store.load(report / "results.jsonl").records


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.srcs.append(a["src"])
        if tag in ("a", "link") and a.get("href", "").endswith(".png"):
            self.srcs.append(a["href"])


def check_report(report_html: Path) -> set[str]:
    """The HTML parses; every image it references (embedded or a file) is a valid PNG. Returns element ids."""
    from PIL import Image

    parser = _Images()
    parser.feed(report_html.read_text(encoding="utf-8"))
    parser.close()
    assert parser.srcs, "the report shows no figure"
    for src in parser.srcs:
        if src.startswith("data:"):
            head, _, payload = src.partition(",")
            assert head == "data:image/png;base64", head
            data = base64.b64decode(payload, validate=True)
        else:
            path = report_html.parent / src
            assert path.is_file(), f"the report references {src}, which does not exist"
            data = path.read_bytes()
        assert data.startswith(PNG_MAGIC)
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    return parser.ids


# ---------------------------------------------------------------------------------------------- metrics


def test_diff_of_int8_outputs() -> None:
    q = OutputQuant.from_outputs([(4, 0.5, -2)])
    d = diff_outputs(np.array([1, 2, 3, 4], np.int8), np.array([1, 2, 5, 3], np.int8), q)
    assert (d.exact, d.max_abs, d.differing, d.top1, d.top1_agree) == (False, 2.0, 2, 2, False)
    assert d.sum_abs_steps == 3 and d.sum_abs == pytest.approx(1.5) and d.sum_sq == pytest.approx(1.25)
    assert d.hist == {"-2": 1, "1": 1}
    same = diff_outputs(np.array([1, 2, 3, 4], np.int8), np.array([1, 2, 3, 4], np.int8), q)
    assert same.exact and same.max_abs == 0 and same.hist == {}


def test_diff_of_float_reference_is_in_steps() -> None:
    q = OutputQuant.from_outputs([(3, 1 / 256, -128)])
    dev = np.array([127, -128, -128], np.int8)        # 0.99609375, 0, 0
    d = diff_outputs(dev, np.array([0.999, 0.001, 0.0], np.float32), q, float_reference=True)
    assert d.exact                                      # the float output rounds to the device's
    assert d.max_abs == pytest.approx(abs(127 - (0.999 * 256 - 128)), rel=1e-5)
    assert d.hist == {}


def test_aggregate() -> None:
    q = OutputQuant.from_outputs([(2, 1.0, 0)])
    diffs = [diff_outputs(np.array(a, np.int8), np.array(b, np.int8), q)
             for a, b in [([1, 0], [1, 0]), ([3, 0], [0, 4])]]
    m = aggregate(diffs)
    assert (m["inputs"], m["exact_inputs"], m["exact_rate"], m["top1_agreement"]) == (2, 1, 0.5, 0.5)
    assert m["max_abs_diff_steps"] == 4
    assert m["mae"] == pytest.approx(7 / 4) and m["rmse"] == pytest.approx(np.sqrt(25 / 4))
    assert m["l2_relative_error"] == pytest.approx(5 / np.sqrt(17))
    assert m["cosine_similarity"] == pytest.approx(1 / np.sqrt(10 * 17))
    assert m["diff_histogram"] == {"-4": 1, "0": 2, "3": 1}


def test_confusion_matrix_rows_are_truth() -> None:
    m = confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_layer_divergence_names_the_first_layer() -> None:
    g = load_graph(TINY)
    rng = np.random.default_rng(1)
    expected = {op.outputs[0]: rng.integers(-128, 128, g.tensors[op.outputs[0]].shape, dtype=np.int8)
                for op in g.ops}
    dumps = {op.index: LayerOutput(op.index, 0, expected[op.outputs[0]].reshape(-1).copy()) for op in g.ops}
    assert layer_divergence(g, dumps, expected).first is None
    dumps[3].data[5] = np.int8(int(dumps[3].data[5]) ^ 4)
    dumps[5].data[:] = 0
    div = layer_divergence(g, dumps, expected)
    assert (div.first.layer, div.first.opcode, div.first.differing, div.first.max_abs) == (3, "MAX_POOL_2D", 1, 4)
    del dumps[6]
    assert layer_divergence(g, dumps, expected).missing == [6]


# ---------------------------------------------------------------------------------------------- results.jsonl


def _input_record(key: str, position: int) -> InputRecord:
    q = OutputQuant.from_outputs([(3, 1 / 256, -128)])
    d = diff_outputs(np.array([1, 2, 3], np.int8), np.array([1, 2, 4], np.int8), q)
    return InputRecord(key=key, position=position, name=key, label=None, truth=None,
                       device=DeviceResult(2, 0.5, 1000, "cycles", 0.01, 64, 0, [1, 2, 3]),
                       refs={"tflm": RefResult.from_diff(d, score=0.5)}, layers=None, seconds=0.02)


def test_torn_last_line_is_dropped_and_cut_off(tmp_path: Path) -> None:
    p = tmp_path / "results.jsonl"
    with store.ResultsWriter(p) as w:
        w.write(_input_record("a", 0))
    with open(p, "ab") as f:
        f.write(b'{"type":"input","key":"b","pos')          # a crash in the middle of a line
    loaded = store.load(p)
    assert loaded.torn and [r.key for r in loaded.records] == ["a"]
    with store.ResultsWriter(p, loaded.good_bytes) as w:
        w.write(_input_record("b", 1))
    again = store.load(p)
    assert not again.torn and [r.key for r in again.records] == ["a", "b"]
    assert again.records[1] == _input_record("b", 1)


def test_a_record_with_fields_missing_is_damage(tmp_path: Path) -> None:
    p = tmp_path / "results.jsonl"
    p.write_text('{"type":"input","key":"a","position":0}\n{"type":"other"}\n')
    with pytest.raises(DataError, match="corrupt line at byte 0"):
        store.load(p)
    p.write_text('{"type":"other"}\n')                    # a line of another kind is skipped
    assert store.load(p).records == [] and not store.load(p).torn


# results.jsonl's keys, in order, as version 1 of the format has them: a reader of the file (jq, a notebook, an
# earlier edgeimpro resuming) sees the same file whatever records.py's dataclasses look like.
SESSION_KEYS = ["type", "format", "version", "edgeimpro", "started", "model", "model_sha256", "model_name", "device",
                "references", "missing_references", "class_names", "ops", "input", "output", "preprocessing",
                "source", "options"]
SESSION_PARTS = {
    "device": ["url", "board", "core", "clock_hz", "count_kind", "build_target", "firmware_version", "arena_bytes",
               "weights_bytes", "layers"],
    "input": ["shape", "scale", "zero_point"], "output": ["elements", "head", "scale", "zero_point"],
    "options": ["limit", "layers", "fail_on", "keras", "labels"]}
INPUT_KEYS = ["type", "key", "position", "name", "label", "truth", "device", "refs", "layers", "seconds", "thumb"]
DEVICE_KEYS = ["top1", "score", "count", "count_kind", "seconds", "link_bytes", "retries", "output"]
REF_KEYS = ["n", "exact", "max_abs", "sum_abs", "sum_sq", "sum_abs_steps", "dot", "dev_sq", "ref_sq", "top1",
            "top1_agree", "differing", "hist", "score"]
LAYERS_KEYS = ["first", "layers", "missing", "reproduced", "seconds"]
FIRST_KEYS = ["layer", "opcode", "elements", "differing", "max_abs"]


def test_results_jsonl_keys_are_unchanged_and_records_round_trip(tmp_path: Path) -> None:
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in", n=3)
    run_fake(model, x, tmp_path / "r", FakeDevice(model, perturb=2), layers=True, labels=tmp_path / "in" / "y.npy")
    lines = (tmp_path / "r" / "results.jsonl").read_bytes().splitlines()
    session, inputs = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert list(session) == SESSION_KEYS
    assert {k: list(session[k]) for k in SESSION_PARTS} == SESSION_PARTS
    assert [list(r) for r in session["references"]] == [["name", "title", "exact", "float"]]
    assert len(inputs) == 3
    for rec in inputs:
        assert list(rec) == INPUT_KEYS                  # perturbed: every input has layers and is in the gallery
        assert list(rec["device"]) == DEVICE_KEYS and list(rec["refs"]["tflm"]) == REF_KEYS
        assert list(rec["layers"]) == LAYERS_KEYS and list(rec["layers"]["first"]) == FIRST_KEYS
    loaded = store.load(tmp_path / "r" / "results.jsonl")
    again = [loaded.sessions[0].to_json(), *(r.to_json() for r in loaded.records)]
    assert [json.dumps(o, separators=(",", ":")).encode() for o in again] == lines     # byte for byte


def test_corrupt_line_in_the_middle_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "results.jsonl"
    p.write_text('{"type":"session"}\nnot json\n{"type":"input","key":"a"}\n')
    with pytest.raises(DataError, match="corrupt line"):
        store.load(p)


# ---------------------------------------------------------------------------------------------- whole runs


def run_fake(model: Path, x: Path, report: Path, device: FakeDevice, **options) -> Comparison:
    c = Comparison(model, CompareOptions(report_dir=report, references=("tflm",), **options))
    c.run(device, c.open_source([x]))
    return c


def test_exact_run_with_labels(tmp_path: Path) -> None:
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in")
    c = run_fake(model, x, tmp_path / "r", FakeDevice(model), labels=tmp_path / "in" / "y.npy", layers=True)
    s = c.outcome.summary
    assert c.outcome.passed and s["state"] == "complete" and s["inputs"] == 8
    assert s["references"]["tflm"]["exact_rate"] == 1.0 and s["mismatch_count"] == 0
    assert s["labels"]["labelled"] == 8 and s["labels"]["accuracy"]["device"] == s["labels"]["accuracy"]["tflm"]
    assert s["layers"] is None and s["layers_requested"]               # nothing to dump when all match
    perf = s["device_performance"]
    assert perf["count_kind"] == "cycles" and perf["ms"]["mean"] == pytest.approx(perf["per_inference"]["mean"] / 1e5)
    ids = check_report(c.outcome.report)
    assert {"histogram", "confusion", "gallery"} <= ids
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["inputs"] == 8


def test_perturbed_layer_is_named(tmp_path: Path) -> None:
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in", n=4)
    c = run_fake(model, x, tmp_path / "r", FakeDevice(model, perturb=2), layers=True)
    s = c.outcome.summary
    assert not c.outcome.passed and s["mismatch_count"] == 4
    first = s["layers"]["first_divergent_layer"]
    assert (first["layer"], first["opcode"], first["inputs"], first["max_abs"]) == (2, "ADD", 4, 1)
    assert all(r.layers.first.layer == 2 and r.layers.reproduced for r in records(tmp_path / "r"))
    assert {"histogram", "layer-chart", "gallery"} <= check_report(c.outcome.report)


def test_fail_on_exact_top1_and_none(tmp_path: Path) -> None:
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in", n=3)
    c = run_fake(model, x, tmp_path / "a", FakeDevice(model, wrong_top1=True), fail_on="none")
    assert c.outcome.passed and c.outcome.summary["mismatch_count"] == 3
    # exit status 0, but never a green PASS: the check did not run, and what differs is said
    assert c.outcome.summary["verdict"]["status"] == "NOT CHECKED"
    assert c.outcome.summary["verdict"]["reason"] == "3 of 3 outputs differ from tflite_micro"
    html = c.outcome.report.read_text()
    assert "<b>NOT CHECKED</b>" in html and "PASS" not in html and 'class="verdict unchecked"' in html
    c = run_fake(model, x, tmp_path / "b", FakeDevice(model, wrong_top1=True), fail_on="top1")
    tflm = c.outcome.summary["references"]["tflm"]
    assert not c.outcome.passed and tflm["top1_agree_inputs"] == 0 and tflm["top1_agreement"] == 0.0
    assert c.outcome.summary["verdict"]["reason"] == "top-1 differs from tflite_micro on 3 of 3 inputs"
    c = run_fake(model, x, tmp_path / "c", FakeDevice(model), fail_on="top1")
    assert c.outcome.passed and c.outcome.summary["verdict"]["status"] == "PASS"
    # one flipped low bit: every output differs from tflite_micro, which --fail-on exact catches
    c = run_fake(model, x, tmp_path / "d", FakeDevice(model, perturb=2), fail_on="exact")
    assert not c.outcome.passed and c.outcome.summary["references"]["tflm"]["exact_inputs"] == 0
    with pytest.raises(UsageError, match="tflite_micro, which is not among the references"):
        Comparison(model, CompareOptions(report_dir=tmp_path / "e", references=("litert",), fail_on="exact"))


def test_resume_after_link_loss_and_ctrl_c_loses_and_repeats_nothing(tmp_path: Path) -> None:
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in", n=9)
    report = tmp_path / "r"
    with pytest.raises(LinkError):
        run_fake(model, x, report, FakeDevice(model, fail_after=3))
    assert [r.position for r in records(report)] == [0, 1, 2]
    assert json.loads((report / "summary.json").read_text())["state"].startswith("stopped")
    with pytest.raises(UsageError, match="--resume"):
        run_fake(model, x, report, FakeDevice(model))
    with pytest.raises(KeyboardInterrupt):
        run_fake(model, x, report, FakeDevice(model, interrupt_after=2), resume=True)
    partial = json.loads((report / "summary.json").read_text())
    assert partial["state"] == "interrupted" and partial["inputs"] == 5
    assert not partial["verdict"]["passed"]                  # 5 exact inputs of 9 prove nothing about the rest
    assert partial["verdict"]["status"] == "INTERRUPTED"
    device = FakeDevice(model)
    c = run_fake(model, x, report, device, resume=True)
    assert device.calls == 4
    keys = [r.key for r in records(report)]
    assert len(keys) == len(set(keys)) == 9
    assert c.outcome.summary["sessions"] == 3 and c.outcome.summary["resumed_inputs"] == 5


def test_limit_counts_source_positions_across_resumes(tmp_path: Path) -> None:
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in", n=6)
    run_fake(model, x, tmp_path / "r", FakeDevice(model), limit=2)
    c = run_fake(model, x, tmp_path / "r", FakeDevice(model), limit=4, resume=True)
    assert [r.position for r in records(tmp_path / "r")] == [0, 1, 2, 3] and c.outcome.compared == 2


def test_labels_in_input_order_with_limit(tmp_path: Path) -> None:
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in", n=6)
    y = np.load(tmp_path / "in" / "y.npy")
    c = run_fake(model, x, tmp_path / "r", FakeDevice(model), labels=tmp_path / "in" / "y.npy", limit=2)
    assert [r.truth for r in records(tmp_path / "r")] == y[:2].tolist()   # labels of the whole source
    np.save(tmp_path / "y2.npy", y[:2])
    c = run_fake(model, x, tmp_path / "r2", FakeDevice(model), labels=tmp_path / "y2.npy", limit=2)
    assert c.outcome.summary["labels"]["labelled"] == 2                     # or of the --limit first
    np.save(tmp_path / "y5.npy", y[:5])
    c = Comparison(model, CompareOptions(report_dir=tmp_path / "r3", references=("tflm",),
                                         labels=tmp_path / "y5.npy"))
    with pytest.raises(DataError, match="has 5 labels in input order; the inputs are 6"):
        c.open_source([x])                                  # refused before any device is opened


def test_tensor_files_are_checked_before_the_device(tmp_path: Path) -> None:
    model = model_copy(tmp_path)
    c = Comparison(model, CompareOptions(report_dir=tmp_path / "r", references=("tflm",)))
    np.save(tmp_path / "f.npy", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(DataError, match="float32 tensors of shape .*the device takes int8"):
        c.open_source([tmp_path / "f.npy"])
    np.save(tmp_path / "s.npy", np.zeros((2, 4, 4, 3), np.int8))
    with pytest.raises(DataError, match="the device takes int8 \\[8, 8, 3\\]"):
        c.open_source([tmp_path / "s.npy"])


def test_overwrite_and_a_damaged_results_file(tmp_path: Path) -> None:
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in", n=2)
    report = tmp_path / "r"
    report.mkdir()
    (report / "results.jsonl").write_text('{"type":"session"}\nnot json\n{"type":"input","key":"a"}\n')
    with pytest.raises(UsageError, match="damaged results.jsonl") as e:
        run_fake(model, x, report, FakeDevice(model))
    assert "--overwrite" in e.value.hint
    c = run_fake(model, x, report, FakeDevice(model), overwrite=True)
    assert c.outcome.passed and len(records(report)) == 2


def test_resume_needs_the_same_references(tmp_path: Path) -> None:
    pytest.importorskip("ai_edge_litert")
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in", n=4)
    run_fake(model, x, tmp_path / "r", FakeDevice(model), limit=2)
    with pytest.raises(UsageError, match="was compared with tflm; this run has tflm, litert"):
        Comparison(model, CompareOptions(report_dir=tmp_path / "r", resume=True, references=("tflm", "litert")))


def test_resume_refuses_another_model(tmp_path: Path) -> None:
    model, x = model_copy(tmp_path), tiny_inputs(tmp_path / "in", n=2)
    run_fake(model, x, tmp_path / "r", FakeDevice(model))
    other = tmp_path / "other.tflite"
    other.write_bytes(model.read_bytes() + b"\0" * 16)
    with pytest.raises(UsageError, match="another model"):
        Comparison(other, CompareOptions(report_dir=tmp_path / "r", resume=True, references=("tflm",)))


def test_image_folder_goes_through_infer_preprocessing(tmp_path: Path) -> None:
    """Images are prepared by infer's code: the device sees exactly InferenceSession.prepare's tensor."""
    from PIL import Image

    from edgeimpro.infer import InferenceSession

    model = model_copy(tmp_path)
    rng = np.random.default_rng(3)
    for cls in ("0", "2"):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)).save(tmp_path / "img" / cls / f"{i}.png")
    device = FakeDevice(model)
    seen = []
    infer = device.infer
    device.infer = lambda x: seen.append(x.copy()) or infer(x)
    c = run_fake(model, tmp_path / "img", tmp_path / "r", device)
    session = InferenceSession(model, runtime="tflite-micro")
    want = [session.prepare(p) for p in sorted((tmp_path / "img").rglob("*.png"))]
    assert all(np.array_equal(a, b) for a, b in zip(seen, want, strict=True)) and len(seen) == 4
    labels = c.outcome.summary["labels"]
    assert labels["labelled"] == 4 and [r.label for r in records(tmp_path / "r")] == ["0", "0", "2", "2"]


def test_light_path_never_imports_tensorflow() -> None:
    code = ("import sys\n"
            "import edgeimpro.compare, edgeimpro.cli.compare, edgeimpro.compare.report, edgeimpro.compare.plots\n"
            "from edgeimpro.compare.desktop import make_references\n"
            f"make_references(open({str(TINY)!r}, 'rb').read(), ('tflm', 'litert'), keras=None, "
            "input_shape=(1, 8, 8, 3), output_sizes=[3])\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
            "assert 'keras' not in sys.modules, 'keras was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
