"""Compile generated model code with the host C compiler and run batches of int8 inputs through it.

Builds are cached by the hash of everything that goes into them (model code, runtime sources, flags),
under host/ in edgeimpro.cache.cache_root().
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeimpro.cache import cache_root
from edgeimpro.errors import DependencyError, EdgeImproError
from edgeimpro.firmware import firmware_dir, runtime_dir
from edgeimpro.ops import external_sources
from edgeimpro.ops.header import generated_include

WARNINGS = ("-std=c11", "-Wall", "-Wextra", "-Werror")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g")


@dataclass(frozen=True)
class HostBuild:
    executable: Path
    layer_hook: bool


def host_cache() -> Path:
    return cache_root() / "host"


def runtime_sources() -> list[Path]:
    rt = runtime_dir()   # the reference kernels: the Arm variants (kernels/arm_dsp/, arm_mve/) are firmware-only
    return sorted(p for p in rt.rglob("*.c") if not any(part.startswith("arm_") for part in p.relative_to(rt).parts))


def _compiler() -> str:
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise DependencyError(f"host C compiler {cc!r} not found", hint="apt-get install gcc (or set CC)")
    return cc


def compile_host(model_dir: Path, *, sanitize: bool = False, layer_hook: bool = False,
                 poison: bool = False, defines: tuple[str, ...] = (), opt: str = "-O2") -> HostBuild:
    """Build (or reuse) the host runner for the model code in `model_dir` (model.c, model.h)."""
    model_dir = Path(model_dir)
    generated = generated_include()   # ops registered from outside the runtime: their header and kernels
    sources = [model_dir / "model.c", firmware_dir() / "host" / "host_main.c", *runtime_sources(),
               *external_sources()]
    headers = sorted(runtime_dir().rglob("*.h")) + [model_dir / "model.h"]
    if generated is not None:
        headers.append(generated / "eip_kernels.h")
    flags = [opt, *WARNINGS]
    if sanitize:
        flags += SANITIZE
    if layer_hook:
        flags.append("-DEIP_LAYER_HOOK")
    if poison:
        flags.append("-DEIP_POISON_DEAD")
    flags += [f"-D{d}" for d in defines]
    cc = _compiler()
    h = hashlib.sha256("\0".join([cc, *flags]).encode())
    for p in sources + headers:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    out_dir = host_cache() / h.hexdigest()[:24]
    exe = out_dir / "runner"
    if exe.exists():
        return HostBuild(exe, layer_hook)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out_dir.parent))
    includes = [*([f"-I{generated}"] if generated is not None else []), f"-I{runtime_dir() / 'include'}",
                f"-I{runtime_dir() / 'kernels'}", f"-I{model_dir}"]
    cmd = [cc, *flags, *includes, *map(str, sources), "-o", str(tmp / "runner"), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EdgeImproError(f"host build of the generated model failed:\n{proc.stderr.strip()[:4000]}",
                             hint="this is a bug in edgeimpro's code generator or runtime; please report it")
    try:
        tmp.rename(out_dir)
    except OSError:  # another process built the same thing first
        shutil.rmtree(tmp, ignore_errors=True)
    return HostBuild(exe, layer_hook)


def run_host(build: HostBuild, inputs: list[np.ndarray], output_shapes: list[tuple[int, ...]],
             want_layers: bool = False) -> tuple[list[np.ndarray], list[dict[int, np.ndarray]] | None]:
    """Run N samples. `inputs[i]` has shape (N, *input_i_shape), int8. Returns (outputs, layers):
    outputs[j] has shape (N, *output_shapes[j]); layers[s] maps layer index -> output bytes (int8)."""
    if want_layers and not build.layer_hook:
        raise ValueError("layer dumps need a build with layer_hook=True")
    n = int(inputs[0].shape[0]) if inputs else 0
    with tempfile.TemporaryDirectory(prefix="edgeimpro-run-") as td:
        td = Path(td)
        with open(td / "in.bin", "wb") as f:
            for s in range(n):
                for x in inputs:
                    f.write(np.ascontiguousarray(x[s], dtype=np.int8).tobytes())
        cmd = [str(build.executable), str(td / "in.bin"), str(td / "out.bin"), str(n)]
        if want_layers:
            cmd.append(str(td / "layers.bin"))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise EdgeImproError(f"the AOT runtime failed (exit {proc.returncode}): {proc.stderr.strip()[:2000]}")
        raw = np.fromfile(td / "out.bin", dtype=np.int8)
        per = [int(np.prod(s)) for s in output_shapes]
        rec = raw.reshape(n, sum(per))
        outs, off = [], 0
        for shape, size in zip(output_shapes, per, strict=True):
            outs.append(rec[:, off:off + size].reshape(n, *shape).copy())
            off += size
        layers = _read_layers(td / "layers.bin", n) if want_layers else None
    return outs, layers


def _read_layers(path: Path, n: int) -> list[dict[int, np.ndarray]]:
    data = path.read_bytes()
    out: list[dict[int, np.ndarray]] = [{} for _ in range(n)]
    pos = 0
    while pos < len(data):
        sample, layer, _opcode, size = np.frombuffer(data, dtype=np.uint32, count=4, offset=pos)
        pos += 16
        out[int(sample)][int(layer)] = np.frombuffer(data, dtype=np.int8, count=int(size), offset=pos).copy()
        pos += int(size)
    return out
