"""The records of results.jsonl, typed: one `SessionRecord` opens every run or resumed run, one
`InputRecord` per compared input. Every compare module reads these attributes; JSON is only at the file's
edge (`to_json` / `from_json`), and `to_json` writes the keys, in the order, results.jsonl has always had.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgeimpro.compare.detect import DetectionResult
from edgeimpro.compare.layers import Divergence, LayerDiff
from edgeimpro.compare.metrics import Diff


@dataclass(frozen=True)
class ReferenceDescription:
    """A desktop reference as a session names it."""
    name: str                    # tflm, litert, keras
    title: str                   # as reports show it
    exact: bool                  # computes what the device must compute, bit for bit
    float_outputs: bool          # outputs floats (Keras), compared after mapping into int8 steps

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "exact": self.exact, "float": self.float_outputs}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ReferenceDescription:
        return cls(d["name"], d["title"], d["exact"], d["float"])


@dataclass(frozen=True)
class DeviceDescription:
    """The device a session ran on, from its INFO."""
    url: str
    board: str
    core: str
    clock_hz: int
    count_kind: str              # cycles, instructions, none
    build_target: str
    firmware_version: str
    arena_bytes: int
    weights_bytes: int
    layers: int


@dataclass(frozen=True)
class InputDescription:
    shape: list[int]
    scale: float
    zero_point: int


@dataclass(frozen=True)
class OutputDescription:
    elements: int                # of all outputs, flattened
    head: int                    # elements of output 0 (top-1 is taken over these)
    scale: float
    zero_point: float


@dataclass(frozen=True)
class SessionOptions:
    limit: int | None
    layers: bool
    fail_on: str
    keras: str | None
    labels: str | None


@dataclass(frozen=True)
class SessionRecord:
    """{"type": "session", ...}: the model, device, references and options of one run or resumed run."""
    format: str
    version: int
    edgeimpro: str
    started: str                 # ISO 8601, UTC
    model: str
    model_sha256: str
    model_name: str
    device: DeviceDescription
    references: list[ReferenceDescription]
    missing_references: dict[str, str]
    class_names: list[str]
    ops: list[str]
    input: InputDescription
    output: OutputDescription
    preprocessing: str
    source: str
    options: SessionOptions

    def to_json(self) -> dict[str, Any]:
        d = {"type": "session", **asdict(self)}
        d["references"] = [r.to_json() for r in self.references]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SessionRecord:
        return cls(
            d["format"], d["version"], d["edgeimpro"], d["started"], d["model"], d["model_sha256"], d["model_name"],
            DeviceDescription(**d["device"]), [ReferenceDescription.from_json(r) for r in d["references"]],
            dict(d["missing_references"]), list(d["class_names"]), list(d["ops"]), InputDescription(**d["input"]),
            OutputDescription(**d["output"]), d["preprocessing"], d["source"], SessionOptions(**d["options"]))


@dataclass(frozen=True)
class DeviceResult:
    """What the device answered for one input."""
    top1: int
    score: float                 # output 0's dequantized value at top1
    count: int | None            # cycles or instructions of the inference (count_kind)
    count_kind: str
    seconds: float               # the link round trip: send, infer, receive
    link_bytes: int
    retries: int
    output: list[int] | None = None   # the flat int8 output, kept when it is small (absent from JSON if None)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if self.output is None:
            del d["output"]
        return d


@dataclass(frozen=True)
class RefResult:
    """One input against one reference: metrics.Diff's sums (rounded to 9 digits) and the reference's score."""
    n: int
    exact: bool
    max_abs: float               # steps
    sum_abs: float
    sum_sq: float
    sum_abs_steps: float
    dot: float
    dev_sq: float
    ref_sq: float
    top1: int                    # the reference's top-1
    top1_agree: bool
    differing: int
    hist: dict[str, int] = field(default_factory=dict)
    score: float = 0.0           # the reference's output 0 value at its top1

    @classmethod
    def from_diff(cls, diff: Diff, score: float) -> RefResult:
        return cls(**diff.to_dict(), score=score)


@dataclass(frozen=True)
class LayerRecord:
    """The per-layer comparison of an input whose output differs from tflite_micro (--layers)."""
    first: LayerDiff | None                      # the first divergent layer
    layers: list[tuple[int, int, int]]           # (op index, elements differing, max |Δ|; -1: size differs)
    missing: list[int]                           # ops the device did not dump
    reproduced: bool                             # the layer run gave the same output as the inference
    seconds: float

    @classmethod
    def from_divergence(cls, div: Divergence, reproduced: bool, seconds: float) -> LayerRecord:
        return cls(div.first, [(x.layer, x.differing, x.max_abs) for x in div.layers], list(div.missing),
                   reproduced, seconds)

    def to_json(self) -> dict[str, Any]:
        return {"first": None if self.first is None else self.first.to_dict(),
                "layers": [list(x) for x in self.layers], "missing": self.missing, "reproduced": self.reproduced,
                "seconds": self.seconds}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LayerRecord:
        return cls(None if d["first"] is None else LayerDiff(**d["first"]), [tuple(x) for x in d["layers"]],
                   list(d["missing"]), d["reproduced"], d["seconds"])


@dataclass(frozen=True)
class InputRecord:
    """{"type": "input", ...}: one compared input."""
    key: str                     # identifies the input across resumes (file path, .npy index, video frame)
    position: int                # in the source
    name: str
    label: str | None            # ground truth as given
    truth: int | None            # its class index, when it names a class of the model
    device: DeviceResult
    refs: dict[str, RefResult]   # reference name -> result
    layers: LayerRecord | None   # present when --layers ran for this input
    seconds: float               # device and references, wall time
    in_gallery: bool = False     # was among the most disagreeing inputs when compared ("thumb" in JSON)
    thumb: str | None = None     # its thumbnail, relative to the report folder
    detection: DetectionResult | None = None   # a detector's centroids and truth ("detection" in JSON)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "input", "key": self.key, "position": self.position, "name": self.name,
                             "label": self.label, "truth": self.truth, "device": self.device.to_json(),
                             "refs": {k: asdict(v) for k, v in self.refs.items()}}
        if self.layers is not None:
            d["layers"] = self.layers.to_json()
        d["seconds"] = self.seconds
        if self.in_gallery:
            d["thumb"] = self.thumb
        if self.detection is not None:
            d["detection"] = self.detection.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> InputRecord:
        return cls(d["key"], d["position"], d["name"], d["label"], d["truth"], DeviceResult(**d["device"]),
                   {k: RefResult(**v) for k, v in d["refs"].items()},
                   None if d.get("layers") is None else LayerRecord.from_json(d["layers"]), d["seconds"],
                   "thumb" in d, d.get("thumb"),
                   None if d.get("detection") is None else DetectionResult.from_json(d["detection"]))
