"""Test kit for the link and firmware tests: the fixture model's reference, builds, a pipe transport."""

from __future__ import annotations

import os
import select
import subprocess
from pathlib import Path

import numpy as np
from conftest import ROOT, cached

from edgeimpro.boards.registry import BOARDS

FIXTURE_DIR = ROOT / "tests" / "fixtures" / "fixture_model"
FIXTURE_TFLITE = FIXTURE_DIR / "fixture.tflite"
QEMU_BOARDS = tuple(b.name for b in BOARDS.values() if b.qemu_machine)


def fixture_reference(x0: np.ndarray, x1: np.ndarray) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """What tests/fixtures/fixture_model/model.c computes: ([output 0, output 1], {layer: flat output})."""
    s = x0.shape[1]
    a = x0.reshape(-1).astype(np.int32)
    n0 = a.size
    idx = (7 * np.arange(n0, dtype=np.int64) + 1) % n0
    t0 = np.clip(a + a[idx], -128, 127).astype(np.int8)
    t1 = t0.reshape(s // 2, 2, s // 2, 2, 3).max(axis=(1, 3)).reshape(-1)
    y1 = (t1 ^ np.resize(x1.reshape(-1), t1.size)).astype(np.int8)
    sums = np.array([1 + j + int(y1[j::8].astype(np.int32).sum()) for j in range(8)])
    y0 = np.clip(np.trunc(sums / 64), -128, 127).astype(np.int8)
    return [y0.reshape(1, 8), y1.reshape(1, s // 2, s // 2, 3)], {0: t0, 1: t1, 2: y1, 3: y0}


def fixture_inputs(rng: np.random.Generator, side: int = 32) -> list[np.ndarray]:
    return [rng.integers(-128, 128, (1, side, side, 3), dtype=np.int8),
            rng.integers(-128, 128, (1, 10), dtype=np.int8)]


def error_input(side: int = 32) -> list[np.ndarray]:
    """Inputs for which the fixture's invoke returns EIP_ERR_BAD_PARAM."""
    x0 = np.zeros((1, side, side, 3), np.int8)
    x0.reshape(-1)[:4] = [-128, 127, -128, 127]
    return [x0, np.zeros((1, 10), np.int8)]


def calibration_input(millions: int, side: int = 32) -> list[np.ndarray]:
    """Inputs for which the fixture (on Arm) runs exactly 2,000,000 x `millions` loop instructions."""
    x0 = np.zeros((1, side, side, 3), np.int8)
    x0.reshape(-1)[:4] = [1, 2, 3, millions]
    return [x0, np.zeros((1, 10), np.int8)]


def fault_input(side: int = 32) -> list[np.ndarray]:
    """Inputs that execute an undefined instruction in a fixture built with -DEIP_FIXTURE_FAULT."""
    x0 = np.zeros((1, side, side, 3), np.int8)
    x0.reshape(-1)[:4] = [127, -128, 127, -128]
    return [x0, np.zeros((1, 10), np.int8)]


def stack_overflow_input(side: int = 32) -> list[np.ndarray]:
    """Inputs that recurse until the stack overflows in a fixture built with -DEIP_FIXTURE_FAULT."""
    x0 = np.zeros((1, side, side, 3), np.int8)
    x0.reshape(-1)[:4] = [127, -128, 127, -127]
    return [x0, np.zeros((1, 10), np.int8)]


def sources_digest(*extra: Path) -> str:
    """Short hash of the firmware sources, the build code and `extra` folders: a cache key that changes
    whenever a build would (the build cache in conftest is keyed by name only)."""
    import hashlib

    from edgeimpro.firmware import firmware_dir

    h = hashlib.sha256()
    roots = [firmware_dir(), ROOT / "edgeimpro" / "boards", *extra]
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in (".c", ".h", ".ld", ".mk", ".py"):
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _key(defines: tuple[str, ...]) -> str:
    return ("-".join(d.replace("=", "_") for d in defines) or "default") + "-" + sources_digest(FIXTURE_DIR)


def firmware_build(board: str, defines: tuple[str, ...] = (), target: str | None = None) -> Path:
    """The fixture firmware for `board`, built once per test session and across xdist workers."""
    from edgeimpro.boards.build import build_firmware

    name = f"fw-{board}-{target or 'default'}-{_key(defines)}"
    return cached(name, lambda d: build_firmware(board, FIXTURE_DIR, d, defines, target=target, jobs=2))


def host_device_binary(defines: tuple[str, ...] = (), sanitize: bool = True, layer_hook: bool = True) -> Path:
    """The fixture firmware compiled for this machine (stdin/stdout as the UART), by default under ASan/UBSan."""
    from edgeimpro.boards.build import build_host_firmware

    name = f"hostdev-{'asan' if sanitize else 'plain'}-{'hook' if layer_hook else 'nohook'}-{_key(defines)}"
    return cached(name, lambda d: build_host_firmware(FIXTURE_DIR, d, defines, sanitize=sanitize,
                                                      layer_hook=layer_hook)) / "eip-host-device"


class PipeTransport:
    """The host build of the firmware as a pyserial-like transport (its stdin/stdout are the UART lines)."""

    def __init__(self, binary: Path) -> None:
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=66",
                   UBSAN_OPTIONS="halt_on_error=1:exitcode=67:print_stacktrace=1")
        self.proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, bufsize=0)
        self.timeout: float | None = 0.05
        self.portstr = f"pipe:{binary.name}"

    @property
    def in_waiting(self) -> int:
        return 0

    def write(self, data: bytes) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        return len(data)

    def read(self, n: int = 1) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], self.timeout)
        return os.read(fd, 65536) if ready else b""

    def reset_input_buffer(self) -> None:
        pass

    def close(self) -> int:
        """Ends the device (EOF on its stdin); returns its exit code (66/67: a sanitizer report)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def stderr_text(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")
