"""`edgeimpro compare`: proof, input by input (and layer by layer), that a device computes what the desktop
computes. Never imports TensorFlow (the Keras reference imports it lazily, only when asked for).

    from edgeimpro.compare import Comparison, CompareOptions, open_target
    comparison = Comparison("model.tflite", CompareOptions(report_dir=Path("report"), layers=True))
    source = comparison.open_source(["images/"])
    with open_target("model.tflite", emulate="qemu-m4") as device:
        outcome = comparison.run(device, source, progress=lambda p: ...)
    outcome.passed, outcome.report, outcome.summary["references"]["tflm"]["exact_rate"]

Modules: run (orchestration, resume), records (results.jsonl's typed records), store (results.jsonl),
metrics, layers (first divergent layer), desktop (references), inputs (frames, keys, preprocessing via
`infer`), detect (a detector's centroids, truth from detection datasets, detection metrics), summary, plots,
report. The device
(--port / --emulate) is opened by `edgeimpro.targets.open_target`, re-exported here.
"""

from edgeimpro.compare.run import CompareOptions, Comparison, Outcome, Progress
from edgeimpro.compare.summary import FAIL_ON
from edgeimpro.targets import emulated_firmware, open_target

__all__ = ["FAIL_ON", "CompareOptions", "Comparison", "Outcome", "Progress", "emulated_firmware", "open_target"]
