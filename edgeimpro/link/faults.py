"""Fault injection for link tests: a transport wrapper that flips bits, drops, duplicates and delays bytes.

    dev = Device(FaultyTransport(open_transport(url), flip=1e-3, drop=1e-3, seed=1))

Every fault is counted, so a test can check that faults happened and that none produced a wrong result.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class FaultCounts:
    flipped: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0

    @property
    def total(self) -> int:
        return self.flipped + self.dropped + self.duplicated + self.delayed


class FaultyTransport:
    """Wraps a pyserial-like transport; each probability applies per byte, in the chosen directions."""

    def __init__(self, inner: Any, *, flip: float = 0.0, drop: float = 0.0, duplicate: float = 0.0,
                 delay: float = 0.0, max_delay: float = 0.05, seed: int = 0,
                 directions: tuple[str, ...] = ("write", "read")) -> None:
        self.inner = inner
        self.flip, self.drop, self.duplicate, self.delay = flip, drop, duplicate, delay
        self.max_delay = max_delay
        self.directions = directions
        self.rng = random.Random(seed)
        self.counts = {"write": FaultCounts(), "read": FaultCounts()}
        self.enabled = True

    def _mangle(self, data: bytes, direction: str) -> bytes:
        if not self.enabled or direction not in self.directions or not data:
            return data
        c = self.counts[direction]
        out = bytearray()
        rnd = self.rng.random
        for b in data:
            if rnd() < self.drop:
                c.dropped += 1
                continue
            if rnd() < self.flip:
                b ^= 1 << self.rng.randrange(8)
                c.flipped += 1
            out.append(b)
            if rnd() < self.duplicate:
                out.append(b)
                c.duplicated += 1
        if rnd() < self.delay * len(data):
            c.delayed += 1
            time.sleep(self.rng.uniform(0, self.max_delay))
        return bytes(out)

    def write(self, data: bytes) -> int:
        self.inner.write(self._mangle(bytes(data), "write"))
        return len(data)

    def read(self, n: int = 1) -> bytes:
        return self._mangle(self.inner.read(n), "read")

    @property
    def in_waiting(self) -> int:
        return getattr(self.inner, "in_waiting", 0)

    @property
    def timeout(self) -> float | None:
        return self.inner.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.inner.timeout = value

    def reset_input_buffer(self) -> None:
        reset = getattr(self.inner, "reset_input_buffer", None)
        if reset is not None:
            reset()

    def close(self) -> None:
        self.inner.close()
