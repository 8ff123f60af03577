"""Link figures: wire efficiency (computed exactly from the framing) and measured throughput / round trips.

`input_wire_bytes()` is what the protocol costs, independent of any device; `measure()` runs inferences on
a Device and reports what the link achieved. `python -m edgeimpro.link.bench` prints the efficiency table.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgeimpro.link.codec import wire_size
from edgeimpro.link.device import Device
from edgeimpro.link.protocol import DEFAULT_MAX_PAYLOAD, layout
from edgeimpro.units import rate_text

_CHUNK = layout("CHUNK").size
_ACK = layout("ACK").size
_RESULT = layout("RESULT").size


@dataclass(frozen=True)
class WireCost:
    input_bytes: int
    frames: int
    host_to_device: int      # INPUT and INVOKE frames on the wire (worst-case COBS: no zero bytes)
    acks: int                # ACK frames back from the device

    @property
    def efficiency(self) -> float:
        """Input payload / bytes the host sends: the share of the (slow) host-to-device line that is data."""
        return self.input_bytes / self.host_to_device

    @property
    def efficiency_with_acks(self) -> float:
        """Input payload / bytes on the wire in both directions for the transfer (INPUT, INVOKE, ACKs)."""
        return self.input_bytes / (self.host_to_device + self.acks)


def input_wire_bytes(input_bytes: int, max_payload: int = DEFAULT_MAX_PAYLOAD) -> WireCost:
    """Exact worst-case wire bytes for sending `input_bytes` of model input: INPUT chunks + the INVOKE."""
    step = max_payload - _CHUNK
    frames = max(1, -(-input_bytes // step))
    sent = 0
    for k in range(frames):
        sent += wire_size(_CHUNK + min(step, input_bytes - k * step))
    return WireCost(input_bytes, frames, sent, (frames - 1) * wire_size(_ACK))


@dataclass(frozen=True)
class LinkMeasurement:
    inferences: int
    input_bytes: int
    output_bytes: int
    round_trip_s: float          # median host wall time of one infer()
    round_trip_min_s: float
    host_to_device_Bps: float    # input payload / (time of the exchange), over all inferences
    efficiency: float            # measured: input payload / bytes the host sent
    efficiency_both: float       # measured: (input + output payload) / all bytes on the wire
    retries: int


def measure(device: Device, inputs: Sequence[np.ndarray | Sequence[np.ndarray]]) -> LinkMeasurement:
    """Runs each input once and reports the link's figures from the Device's byte counters."""
    before = device.stats.copy()
    times = []
    for x in inputs:
        t = time.perf_counter()
        device.infer(x)
        times.append(time.perf_counter() - t)
    s = device.stats.since(before)
    return LinkMeasurement(
        inferences=len(times), input_bytes=s.input_bytes, output_bytes=s.output_bytes,
        round_trip_s=statistics.median(times), round_trip_min_s=min(times),
        host_to_device_Bps=s.input_bytes / sum(times),
        efficiency=s.input_bytes / s.bytes_sent,
        efficiency_both=(s.input_bytes + s.output_bytes) / (s.bytes_sent + s.bytes_received),
        retries=s.retries)


def efficiency_table(sizes: Sequence[int] = (1024, 3072, 9216, 27648, 49152, 150528),
                     max_payload: int = DEFAULT_MAX_PAYLOAD) -> str:
    lines = [f"max payload {max_payload} B per frame (worst-case COBS)",
             f"{'input B':>8} {'frames':>6} {'host->dev B':>11} {'efficiency':>10} {'with ACKs':>9}"]
    for n in sizes:
        c = input_wire_bytes(n, max_payload)
        lines.append(f"{n:>8} {c.frames:>6} {c.host_to_device:>11} {100 * c.efficiency:>9.2f}% "
                     f"{100 * c.efficiency_with_acks:>8.2f}%")
    return "\n".join(lines)


def _main() -> None:
    import argparse

    from edgeimpro.link.emulator import Emulator

    ap = argparse.ArgumentParser(prog="python -m edgeimpro.link.bench", description=__doc__)
    ap.add_argument("--board", help="emulated board to measure on (with --firmware)")
    ap.add_argument("--firmware", help="build folder or firmware.elf for --board")
    ap.add_argument("--port", help="serial URL of a running board to measure instead")
    ap.add_argument("-n", type=int, default=10, help="inferences (random int8 inputs)")
    args = ap.parse_args()
    print(efficiency_table())
    if not (args.port or (args.board and args.firmware)):
        return
    emu = Emulator(args.board, args.firmware).start() if args.board else None
    device = emu.device if emu else Device.open(args.port)
    try:
        info = device.info()
        rng = np.random.default_rng(0)
        inputs = [[rng.integers(-128, 128, t.shape, dtype=np.int8) for t in info.inputs] for _ in range(args.n)]
        m = measure(device, inputs)
        print(f"\nmeasured on {info.board} ({device.url}), model {info.model_name}: {m.inferences} inferences")
        print(f"  input {m.input_bytes // m.inferences:,} B, output {m.output_bytes // m.inferences:,} B per inference")
        print(f"  round trip      median {1000 * m.round_trip_s:.1f} ms, min {1000 * m.round_trip_min_s:.1f} ms")
        print(f"  host->device    {rate_text(m.host_to_device_Bps)} of input payload (incl. compute time)")
        print(f"  wire efficiency {100 * m.efficiency:.2f}% host->device, {100 * m.efficiency_both:.2f}% both "
              f"directions; {m.retries} resends")
    finally:
        device.close()
        if emu:
            emu.close()


if __name__ == "__main__":
    _main()
