"""Which TFLite runtime runs the model. `runtime="auto"` takes LiteRT (ai-edge-litert), else tflite-runtime,
else TensorFlow's tf.lite; `"tflite-micro"` (the exact TFLM reference, slow) only when asked for. No
TensorFlow import on the way unless it is the runtime chosen."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edgeimpro.errors import DependencyError, UsageError
from edgeimpro.references import Reference, get_reference

log = logging.getLogger(__name__)

RUNTIMES = ("litert", "tflite-runtime", "tensorflow", "tflite-micro")
AUTO_ORDER = ("litert", "tflite-runtime", "tensorflow")        # tflite-micro only on request
_REFERENCE_KIND = {"litert": "litert", "tflite-runtime": "tflite-runtime", "tensorflow": "tensorflow",
                   "tflite-micro": "tflm"}
NO_RUNTIME_HINT = ("pip install ai-edge-litert  (on a Raspberry Pi: pip install 'edgeimpro[pi]'); "
                   "tflite-runtime (numpy<2) or tensorflow-cpu also work")


def open_runtime(model: bytes | Path | str, runtime: str = "auto", threads: int | None = None
                 ) -> tuple[str, Reference]:
    """(runtime name, runtime) for `model`. "auto": LiteRT, then tflite-runtime, then TensorFlow; when none
    is installed, one DependencyError naming what to install."""
    if runtime != "auto" and runtime not in RUNTIMES:
        raise UsageError(f"unknown runtime {runtime!r}", hint="use one of: auto, " + ", ".join(RUNTIMES))
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    candidates = AUTO_ORDER if runtime == "auto" else (runtime,)
    missing: list[str] = []
    for name in candidates:
        options: dict[str, Any] = {}
        if name == "tflite-micro":
            if threads not in (None, 1):
                raise UsageError(f"tflite-micro runs on one thread; --threads {threads} does not apply",
                                 hint="drop --threads, or use --runtime litert")
        else:
            options["num_threads"] = threads
        try:
            return name, get_reference(_REFERENCE_KIND[name], model, **options)
        except DependencyError as e:
            if runtime != "auto":
                raise
            log.debug("runtime %s unavailable: %s", name, e.message)
            missing.append(name)
    raise DependencyError(f"no TFLite runtime is installed (tried {', '.join(missing)})", hint=NO_RUNTIME_HINT)
