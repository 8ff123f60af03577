"""One comparison run: frames -> device and desktop references -> a record per input in results.jsonl,
then summary.json and report.html. Never prints: progress goes to a callback.

    comparison = Comparison("model.tflite", CompareOptions(report_dir=Path("report")))
    source = comparison.open_source(["images/"])
    with open_target("model.tflite", emulate="qemu-m4") as device:
        outcome = comparison.run(device, source, progress=print)
    outcome.passed, outcome.summary["references"]["tflm"]["exact_rate"]
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro import __version__
from edgeimpro.compare import store
from edgeimpro.compare.desktop import TflmDesktop, make_references
from edgeimpro.compare.detect import (
    DetectionResult,
    DetectionTruth,
    as_cells,
    check_labels_option,
    decode,
    detection_thumbnail,
    read_truth,
    summarize_detection,
)
from edgeimpro.compare.inputs import (
    InputPreparer,
    TruthLabels,
    check_tensor_files,
    is_live,
    keyed_frames,
    open_inputs,
    read_truth_labels,
    source_length,
    takes_tensors_only,
    thumbnail_png,
)
from edgeimpro.compare.layers import layer_divergence
from edgeimpro.compare.metrics import OutputQuant, diff_outputs, flat, top1
from edgeimpro.compare.records import (
    DeviceDescription,
    DeviceResult,
    InputDescription,
    InputRecord,
    LayerRecord,
    OutputDescription,
    RefResult,
    SessionOptions,
    SessionRecord,
)
from edgeimpro.compare.summary import FAIL_ON, primary_reference, summarize
from edgeimpro.detect_metrics import DetectionHead
from edgeimpro.errors import DataError, ModelError, UsageError
from edgeimpro.graph.loader import load_graph, read_model_bytes
from edgeimpro.modelcard import class_names_for
from edgeimpro.sources import Frame, Source

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
SUMMARY = "summary.json"
REPORT = "report.html"
THUMBS = "thumbs"
STORE_OUTPUT_LIMIT = 1024        # device outputs up to this many elements are kept in results.jsonl
DEFAULT_REFERENCES = ("tflm", "litert")


@dataclass
class CompareOptions:
    report_dir: Path
    limit: int | None = None                 # the first N inputs of the source (counted across resumes)
    resume: bool = False                     # continue results.jsonl in report_dir
    overwrite: bool = False                  # start again even if report_dir holds results
    layers: bool = False                     # name the first divergent layer of mismatching inputs
    references: tuple[str, ...] = DEFAULT_REFERENCES
    keras: Path | None = None                # the float model, as a third reference
    labels: Path | None = None               # ground truth (see inputs.read_truth_labels)
    class_names: Sequence[str] | None = None
    fail_on: str = "exact"
    gallery: int = 12                        # most disagreeing inputs shown in the report
    report: bool = True                      # write report.html


@dataclass
class Progress:
    """One input done. `total` is the number of inputs this run has to compare, when known."""
    done: int
    total: int | None
    resumed: int
    name: str
    exact: bool | None
    elapsed: float

    @property
    def eta(self) -> float | None:
        if self.total is None or self.done == 0:
            return None
        return self.elapsed / self.done * max(0, self.total - self.done)


@dataclass
class Outcome:
    summary: dict[str, Any]
    report_dir: Path
    results: Path
    summary_path: Path
    report: Path | None
    state: str
    resumed: int = 0
    compared: int = 0
    report_error: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.summary["verdict"]["passed"])


@dataclass
class _Gallery:
    """The most disagreeing inputs so far, with their thumbnails on disk (report_dir/thumbs).

    An input in the final top N was in the top N when it was compared (the order is total), so keeping
    thumbnails only for the current top N is enough, also across resumed sessions."""
    folder: Path
    size: int
    primary: str | None
    top: list[tuple[tuple, InputRecord]] = field(default_factory=list)

    def rank(self, rec: InputRecord) -> tuple:
        refs = rec.refs
        p = refs.get(self.primary or "")
        others = [d.max_abs for name, d in refs.items() if name != self.primary]
        det = rec.detection
        if det is not None:           # a detector: a bug first, then the count error, then centroids that differ
            error = det.count_error(len(det.true_counts or ())) or 0
            score = (0 if p is None or p.exact else 1, p.max_abs if p else 0.0, error, det.centroid_differences(),
                     max(others, default=0.0))
            return score, -rec.position
        score = (0 if p is None or p.exact else 1, p.max_abs if p else 0.0,
                 sum(not d.top1_agree for d in refs.values()), max(others, default=0.0))
        return score, -rec.position

    def seed(self, records: list[InputRecord]) -> None:
        ranked = sorted(((self.rank(r), r) for r in records), key=lambda x: x[0], reverse=True)
        self.top = [x for x in ranked if any(x[0][0])][: self.size]

    def admits(self, rec: InputRecord) -> bool:
        r = self.rank(rec)
        if self.size <= 0 or not any(r[0]):
            return False
        return len(self.top) < self.size or r > self.top[-1][0]

    def add(self, rec: InputRecord, png: bytes | None) -> InputRecord:
        """The record as one of the gallery's, with its thumbnail written (when there is one)."""
        thumb = None
        if png is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha1(rec.key.encode()).hexdigest()[:16] + ".png"
            (self.folder / name).write_bytes(png)
            thumb = f"{THUMBS}/{name}"
        return replace(rec, in_gallery=True, thumb=thumb)

    def insert(self, rec: InputRecord) -> None:
        self.top.append((self.rank(rec), rec))
        self.top.sort(key=lambda x: x[0], reverse=True)
        for _, old in self.top[self.size:]:
            thumb = old.thumb
            if thumb and not any(r.thumb == thumb for _, r in self.top[: self.size]):
                (self.folder.parent / thumb).unlink(missing_ok=True)
        del self.top[self.size:]


class Comparison:
    """A model, its references and a report folder; `run(device, source)` compares and reports."""

    def __init__(self, model: Path | str, options: CompareOptions, *,
                 status: Callable[[str], None] | None = None) -> None:
        if options.fail_on not in FAIL_ON:
            raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}, got {options.fail_on!r}")
        if options.limit is not None and options.limit < 1:
            raise UsageError(f"--limit must be at least 1, got {options.limit}")
        if options.resume and options.overwrite:
            raise UsageError("--resume and --overwrite contradict each other")
        if (options.fail_on == "exact" or options.layers) and "tflm" not in options.references:
            raise UsageError("--fail-on exact and --layers compare with tflite_micro, which is not among the "
                             f"references ({', '.join(options.references) or 'none'})",
                             hint="add the tflm reference, or use --fail-on top1 / none without --layers")
        self.options = options
        self.say = status or (lambda msg: None)
        self.model_path = Path(model)
        self.data = read_model_bytes(self.model_path)
        self.graph = load_graph(self.data)
        self.preparer = InputPreparer(self.model_path, self.data, self.graph)
        outs = self.graph.output_tensors
        for t in outs:
            if t.dtype != "int8":
                raise ModelError(f"model output '{t.name}' is {t.dtype}; the device runs full-int8 models",
                                 hint="convert it to full int8: edgeimpro convert MODEL.keras")
        self.quant = OutputQuant.from_outputs(
            [(t.size, *(t.quantization.scalar if t.quantization is not None and not t.quantization.per_channel
                        else (None, None))) for t in outs])
        card = self.preparer.card
        self.head: DetectionHead | None = card.detection_head() if card is not None and card.is_detector else None
        self.detection_truth: DetectionTruth | None = None
        if self.head is not None:
            check_labels_option(options.labels)
            h = self.head
            if self.quant.head != h.grid_height * h.grid_width * h.channels:
                raise ModelError(f"model.json describes a {h.grid_height}x{h.grid_width} grid of {h.channels} "
                                 f"channels; the model's first output has {self.quant.head} elements",
                                 hint="model.json belongs to another model: re-run `edgeimpro convert`")
        self.class_names = list(self.head.classes) if self.head is not None else self._class_names(options.class_names)
        self.truth: TruthLabels | None = (read_truth_labels(options.labels, self.class_names)
                                          if options.labels is not None else None)
        self.report_dir = Path(options.report_dir)
        self.results_path = self.report_dir / RESULTS
        self.loaded = self._check_report_dir()
        needs_tflm = options.fail_on == "exact" or options.layers
        self.say("loading the desktop references")
        self.refs, self.missing = make_references(
            self.data, tuple(options.references), keras=options.keras, input_shape=self.preparer.shape,
            output_sizes=[t.size for t in outs], required=("tflm",) if needs_tflm else ())
        if not self.refs:
            raise UsageError("no desktop reference is available: " + "; ".join(self.missing.values()),
                             hint="install tflite-micro (exact) or ai-edge-litert")
        self._check_same_references()
        self.tflm = next((r for r in self.refs if isinstance(r, TflmDesktop)), None)
        self.primary = primary_reference([r.describe() for r in self.refs])
        self.outcome: Outcome | None = None

    # ---- set-up ----

    def _class_names(self, given: Sequence[str] | None) -> list[str]:
        names, _ = class_names_for(self.model_path, self.preparer.card, self.quant.head,
                                   list(given) if given else None)
        return names

    def _check_report_dir(self) -> store.Loaded:
        o = self.options
        if o.overwrite:
            self.results_path.unlink(missing_ok=True)
            shutil.rmtree(self.report_dir / THUMBS, ignore_errors=True)
            return store.Loaded()
        if not o.resume:
            try:
                held = len(store.load(self.results_path).records)
            except DataError:
                held = -1                                   # damaged, but results all the same
            if held:
                what = f"{held} inputs" if held > 0 else "a damaged results.jsonl"
                raise UsageError(f"{self.report_dir} already holds the results of a comparison ({what})",
                                 hint="add --resume to continue it, --overwrite to start again, "
                                      "or give another --report DIR")
            self.results_path.unlink(missing_ok=True)      # sessions that compared nothing: start afresh
            return store.Loaded()
        loaded = store.load(self.results_path)
        if loaded.sessions:
            first = loaded.sessions[0]
            if first.model_sha256 != hashlib.sha256(self.data).hexdigest():
                raise UsageError(f"{self.results_path} compares another model ({first.model}, sha256 "
                                 f"{first.model_sha256[:12]}…)",
                                 hint="resume with the same --model, or give another --report DIR")
        return loaded

    def _check_same_references(self) -> None:
        """A resumed run compares with the references of the run it continues: the summary puts every
        input's metrics side by side, and the verdict counts over all of them."""
        if not self.loaded.sessions:
            return
        before = [r.name for r in self.loaded.sessions[-1].references]
        now = [r.name for r in self.refs]
        if sorted(before) != sorted(now):
            raise UsageError(f"{self.results_path} was compared with {', '.join(before) or 'no reference'}; "
                             f"this run has {', '.join(now)}",
                             hint="resume with the same references (--keras, --no-litert, installed runtimes) "
                                  "or start again with --overwrite")

    def _check_truth(self, source: Source) -> None:
        """Labels in input order must cover the inputs: the whole source, or the --limit first of it."""
        if self.truth is None or self.truth.by_position is None:
            return
        n = source_length(source)
        if n is None:
            return
        wanted = {n, min(n, self.options.limit or n)}
        if len(self.truth) not in wanted:
            limit = f" (--limit {self.options.limit})" if self.options.limit and self.options.limit < n else ""
            raise DataError(f"{self.truth.path} has {len(self.truth)} labels in input order; the inputs are "
                            f"{n}{limit}",
                            hint="give one label per input, in input order (or name,label lines)")

    def open_source(self, paths: Sequence[Path | str] = (), *, camera: int | None = None, picamera: bool = False,
                    video: Path | str | None = None) -> Source:
        """The inputs, read as `infer` reads them (raw .npy tensors for a model that takes no images)."""
        p = self.preparer.preprocessing
        src = open_inputs(paths, camera=camera, picamera=picamera, video=video,
                          image_model=self.preparer.image_shaped, sample_shape=self.preparer.shape[1:],
                          capture_size=(p.width, p.height) if p is not None else None)
        if self.preparer.preprocessing is None and not takes_tensors_only(src):
            src.close()
            raise UsageError(f"this model cannot take images: {self.preparer.image_error}",
                             hint="give .npy files of int8 model inputs, or put a model.json beside the model")
        if self.options.resume and is_live(src):
            src.close()
            raise UsageError("a camera comparison cannot be resumed (its frames are new every time)",
                             hint="leave --resume out, or record a video and compare that")
        try:
            check_tensor_files(src, self.preparer.shape)
            self._check_truth(src)
            if self.head is not None:
                self.detection_truth = read_truth(paths, self.head)
        except DataError:
            src.close()
            raise
        return src

    # ---- the run ----

    def session_record(self, device: Any, source: Source) -> SessionRecord:
        info = device.info()
        o = self.options
        return SessionRecord(
            format=store.RESULTS_FORMAT, version=store.RESULTS_VERSION, edgeimpro=__version__,
            started=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            model=str(self.model_path), model_sha256=hashlib.sha256(self.data).hexdigest(),
            model_name=info.model_name,
            device=DeviceDescription(
                url=getattr(device, "url", ""), board=info.board, core=info.core, clock_hz=info.clock_hz,
                count_kind=info.count_kind.name.lower(), build_target=info.build_target.name.lower(),
                firmware_version=info.firmware_version, arena_bytes=info.arena_bytes,
                weights_bytes=info.weights_bytes, layers=info.num_layers),
            references=[r.describe() for r in self.refs],
            missing_references=self.missing,
            class_names=self.class_names,
            ops=[op.opcode for op in self.graph.ops],
            input=InputDescription(shape=list(self.preparer.shape), scale=self.preparer.info.scale,
                                   zero_point=self.preparer.info.zero_point),
            output=OutputDescription(elements=int(self.quant.scale.size), head=self.quant.head,
                                     scale=float(self.quant.scale[0]), zero_point=float(self.quant.zero_point[0])),
            preprocessing=self.preparer.origin,
            source=source.description,
            options=SessionOptions(limit=o.limit, layers=o.layers, fail_on=o.fail_on,
                                   keras=str(o.keras) if o.keras else None,
                                   labels=str(o.labels) if o.labels else None),
        )

    def run(self, device: Any, source: Source, progress: Callable[[Progress], None] | None = None) -> Outcome:
        """Compares every input of `source` not already in results.jsonl, then writes summary and report.

        On an error or Ctrl-C, what was compared stays in results.jsonl, the summary and report are written
        for it (state "interrupted" or "stopped: ...") in `self.outcome`, and the exception propagates."""
        device.check_model(sha256=hashlib.sha256(self.data).hexdigest())
        if self.options.layers and not device.info().layer_hook:
            raise UsageError("--layers needs firmware built with the layer hook, and this one was built without",
                             hint="rebuild it with the default options (EIP_LAYER_HOOK), or leave --layers out")
        sessions = list(self.loaded.sessions)
        records = list(self.loaded.records)
        done = self.loaded.keys
        resumed = len(records)
        total = self._remaining(source, done)
        self._check_truth(source)
        session = self.session_record(device, source)
        gallery = _Gallery(self.report_dir / THUMBS, self.options.gallery, self.primary)
        gallery.seed(records)
        started = time.monotonic()
        compared = 0
        state = "stopped"
        writer = store.ResultsWriter(self.results_path, self.loaded.good_bytes)
        try:
            writer.write(session)
            sessions.append(session)
            for position, (key, frame) in enumerate(keyed_frames(source)):
                if self.options.limit is not None and position >= self.options.limit:
                    break
                if key in done:
                    continue
                rec = self.compare_one(device, position, key, frame, gallery)
                writer.write(rec)
                records.append(rec)
                done.add(key)
                compared += 1
                if rec.in_gallery:
                    gallery.insert(rec)
                if progress is not None:
                    exact = rec.refs[self.primary].exact if self.primary else None
                    progress(Progress(compared, total, resumed, frame.name, exact, time.monotonic() - started))
            state = "complete"
        except KeyboardInterrupt:
            state = "interrupted"
            raise
        except BaseException as e:
            state = f"stopped: {e}"
            raise
        finally:
            writer.close()
            source.close()
            self.outcome = self._finish(sessions, records, state, resumed, compared)
        return self.outcome

    def _remaining(self, source: Source, done: set[str]) -> int | None:
        n = source_length(source)
        if n is None:
            return self.options.limit
        if self.options.limit is not None:
            n = min(n, self.options.limit)
        return max(0, n - len(done))

    def compare_one(self, device: Any, position: int, key: str, frame: Frame, gallery: _Gallery | None = None
                    ) -> InputRecord:
        """Runs one input on the device and every reference; returns its results.jsonl record."""
        t0 = time.perf_counter()
        x = self.preparer(frame)
        before = device.stats.copy()
        result = device.infer(x)
        link = device.stats.since(before)
        dev = flat(result.outputs)
        label = self.truth.get(position, frame) if self.truth is not None else frame.label
        head = self.quant.dequantize(dev)[: self.quant.head]
        d_top = top1(dev, self.quant.head)
        device_result = DeviceResult(
            top1=d_top, score=float(head[d_top]), count=result.count, count_kind=result.count_kind.name.lower(),
            seconds=round(result.seconds, 6), link_bytes=link.bytes_sent + link.bytes_received,
            retries=link.retries, output=dev.astype(int).tolist() if dev.size <= STORE_OUTPUT_LIMIT else None)
        float_x = (self.preparer.float_input(frame, x) if any(r.float_outputs for r in self.refs) else None)
        refs: dict[str, RefResult] = {}
        ref_outputs: dict[str, np.ndarray] = {}
        for ref in self.refs:
            out = flat(ref.outputs(x, float_x))
            ref_outputs[ref.name] = out[: self.quant.head] if ref.float_outputs else \
                self.quant.dequantize(out)[: self.quant.head]
            d = diff_outputs(dev, out, self.quant, float_reference=ref.float_outputs)
            ref_head = out[: self.quant.head] if ref.float_outputs else self.quant.dequantize(out)[: self.quant.head]
            refs[ref.name] = RefResult.from_diff(d, score=float(ref_head[d.top1]))
        detection = self._detect(frame, dev, ref_outputs) if self.head is not None else None
        layers = None
        if self.options.layers and self.tflm is not None and not refs[self.tflm.name].exact:
            layers = self._divergence(device, x, dev)
        rec = InputRecord(key=key, position=position, name=frame.name, label=label,
                          truth=self.class_names.index(label) if label in self.class_names else None,
                          device=device_result, refs=refs, layers=layers,
                          seconds=round(time.perf_counter() - t0, 6), detection=detection)
        if gallery is not None and gallery.admits(rec):
            rgb = self.preparer.display(frame, x)
            if rgb is None:
                png = None
            elif detection is not None and self.head is not None:
                png = detection_thumbnail(rgb, detection, self.head)
            else:
                png = thumbnail_png(rgb)
            rec = gallery.add(rec, png)
        return rec

    def _detect(self, frame: Frame, dev: np.ndarray, ref_outputs: dict[str, np.ndarray]) -> DetectionResult:
        """The centroids of the device and of every reference; the truth when the input has boxes."""
        assert self.head is not None
        device = as_cells(decode(self.quant.dequantize(dev)[: self.quant.head], self.head))
        refs = {name: as_cells(decode(out, self.head)) for name, out in ref_outputs.items()}
        truth = self.detection_truth.get(frame) if self.detection_truth is not None else None
        return DetectionResult(device, refs, None if truth is None else truth[0], None if truth is None else truth[1])

    def _divergence(self, device: Any, x: np.ndarray, dev: np.ndarray) -> LayerRecord:
        assert self.tflm is not None
        t0 = time.perf_counter()
        dump = device.layers(x)
        div = layer_divergence(self.graph, dump.layers, self.tflm.intermediates(x))
        return LayerRecord.from_divergence(div, reproduced=bool(np.array_equal(flat(dump.outputs), dev)),
                                           seconds=round(time.perf_counter() - t0, 6))

    # ---- the end ----

    def _finish(self, sessions: list[SessionRecord], records: list[InputRecord], state: str, resumed: int,
                compared: int) -> Outcome:
        summary = summarize(sessions, records, fail_on=self.options.fail_on, state=state)
        summary["compared_this_run"] = compared
        summary["resumed_inputs"] = resumed
        if self.head is not None:
            summary["detection"] = summarize_detection(records, self.head, {r.name: r.title for r in self.refs})
        summary_path = self.report_dir / SUMMARY
        self.report_dir.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        outcome = Outcome(summary, self.report_dir, self.results_path, summary_path, None, state, resumed, compared)
        if self.options.report:
            try:
                from edgeimpro.compare.report import write_report

                gallery = _Gallery(self.report_dir / THUMBS, self.options.gallery, self.primary)
                gallery.seed(records)
                outcome.report = write_report(self.report_dir / REPORT, summary,
                                              [r for _, r in gallery.top], self.report_dir)
            except Exception as e:      # a report that cannot be drawn must not hide the results
                log.warning("report not written: %s", e, exc_info=True)
                outcome.report_error = str(e)
        return outcome
