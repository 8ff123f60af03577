"""`Device`: the host side of the serial protocol, over any pyserial URL (docs/protocol.md).

    with Device.open("socket://127.0.0.1:4444", model="model.tflite") as dev:
        print(dev.info().board)
        result = dev.infer(x)             # Result(outputs=[...], instructions=... | cycles=...)
        result = dev.infer(x, profile=True)   # + result.layer_counts: the count of each layer

Every answer is CRC-checked; a corrupt or missing answer is retried a bounded number of times (the whole
inference when the corruption hit its INVOKE), and a result is built only from intact frames.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import select
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeimpro.errors import EdgeImproError, ExitCode
from edgeimpro.link.codec import (
    DeviceInfo,
    ErrorReport,
    Frame,
    FrameDecoder,
    FrameError,
    VersionMismatch,
    chunk_payload,
    encode_frame,
    layers_payload,
    parse_ack,
    parse_counts,
    parse_error,
    parse_info,
    parse_info_slice,
    parse_layer,
    parse_result,
    profile_payload,
)
from edgeimpro.link.protocol import (
    LINK_ERRORS,
    PROTOCOL_VERSION,
    BuildTarget,
    CountKind,
    ErrorCode,
    MsgType,
    layout,
)

log = logging.getLogger(__name__)
trace_log = logging.getLogger("edgeimpro.link.trace")

_CHUNK_HEADER = layout("CHUNK").size
_INFO_BYTES = 512   # a typical INFO record (one or two tensors); its wire time is added to the hello timeout


class LinkError(EdgeImproError):
    """The device did not answer, or answered only with corrupt frames, within the retries allowed."""

    exit_code = ExitCode.LINK


class DeviceError(LinkError):
    """The device answered with an ERROR frame."""

    def __init__(self, report: ErrorReport, hint: str | None = None) -> None:
        super().__init__(f"device error {report.name} ({report.code}): {report.text} (detail {report.detail})",
                         hint=hint)
        self.report = report


class ModelMismatchError(EdgeImproError):
    """The device holds another model than the one the user named."""

    exit_code = ExitCode.MODEL_MISMATCH


@dataclass(frozen=True)
class Timeouts:
    """Named timeouts in seconds. Override any of them: `Timeouts(invoke=300)`.

    boot:   for the firmware to answer a first HELLO after open (QEMU start-up, a board coming out of reset)
    hello:  for INFO after one HELLO (HELLO is resent until `boot` runs out)
    ack:    for the ACK of one INPUT chunk
    invoke: for the first answer to INVOKE: the inference itself (and layer dumps before it)
    frame:  between the frames of a multi-frame answer (RESULT or LAYER slices)
    recover: for resending after the device reports receiving corrupt frames (line noise, garbage)

    hello, ack and frame are waited on top of the time the frames involved take at the baud rate.
    """

    boot: float = 10.0
    hello: float = 0.25
    ack: float = 2.0
    invoke: float = 60.0
    frame: float = 2.0
    recover: float = 5.0


class Deadline:
    """The one deadline helper: a point in time, and whether it has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end


@dataclass
class LinkStats:
    bytes_sent: int = 0
    bytes_received: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    input_bytes: int = 0        # model input payload delivered (counted once per acknowledged chunk)
    output_bytes: int = 0       # model output payload received
    corrupt_frames: int = 0     # failed COBS, CRC, header or payload checks
    stale_frames: int = 0       # intact, but answering an earlier request
    link_errors: int = 0        # ERROR frames saying the device received a corrupt frame
    retries: int = 0

    def copy(self) -> LinkStats:
        return replace(self)

    def since(self, before: LinkStats) -> LinkStats:
        return LinkStats(**{k: getattr(self, k) - getattr(before, k) for k in self.__dataclass_fields__})


@dataclass
class Result:
    """One inference: the outputs (int8, shaped as INFO says) and the device's performance count."""

    outputs: list[np.ndarray]
    count: int | None
    count_kind: CountKind
    seconds: float = 0.0                      # host wall time of the exchange
    layers: dict[int, LayerOutput] = field(default_factory=dict)
    # with profile=True: layer k's count (same kind as `count`); they add up to the count at the end of the
    # last layer, which is at most `count` (the rest is the return from the model and the final reading)
    layer_counts: list[int] = field(default_factory=list)

    @property
    def instructions(self) -> int | None:
        """Instructions per inference (QEMU under -icount), else None."""
        return self.count if self.count_kind == CountKind.INSTRUCTIONS else None

    @property
    def cycles(self) -> int | None:
        """Processor cycles per inference (DWT CYCCNT on real hardware), else None."""
        return self.count if self.count_kind == CountKind.CYCLES else None


@dataclass
class LayerOutput:
    layer: int
    opcode: int
    data: np.ndarray    # int8, flat: the layer's output tensor as the device holds it


_RESTART_ERRORS = frozenset({ErrorCode.BAD_OFFSET, ErrorCode.INPUT_INCOMPLETE})


class _Retry(Exception):
    """A failure that a resend may cure: timeout, corrupt frame, link-level ERROR (`link`)."""

    def __init__(self, message: str, link: bool = False) -> None:
        super().__init__(message)
        self.link = link


class _Budget:
    """Bounded resends: `retries` for timeouts and corrupt answers. ERRORs saying the device got a corrupt frame
    are often stale (answering garbage sent before the request), so they are resent for up to `seconds`
    (and at most 50 times) without using up `retries`."""

    def __init__(self, retries: int, seconds: float) -> None:
        self.retries, self.used, self.link = retries, 0, 0
        self.deadline = Deadline(seconds)

    def allow(self, e: _Retry) -> bool:
        if e.link and self.link < 50 and not self.deadline.expired:
            self.link += 1
            return True
        self.used += 1
        return self.used <= self.retries


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def hexdump(data: bytes, limit: int = 96) -> str:
    shown = data[:limit]
    lines = [f"  {i:04x}  {shown[i:i + 16].hex(' ')}" for i in range(0, len(shown), 16)]
    if len(data) > limit:
        lines.append(f"  ... {len(data) - limit} more bytes")
    return "\n".join(lines)


class SocketPort:
    """pyserial's socket:// port, read the way the link needs it: whatever has arrived, waiting only for the
    first byte (pyserial's own read(n) waits for n bytes or the timeout; its in_waiting is only 0 or 1)."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.sock: socket.socket = port._socket
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # without it each ACK waits ~45 ms
        self.timeout: float | None = port.timeout
        self.portstr = port.portstr
        self.in_waiting = 0

    def write(self, data: bytes) -> int:
        return self.port.write(data)

    def read(self, n: int = 1) -> bytes:
        ready, _, _ = select.select([self.sock], [], [], self.timeout)
        if not ready:
            return b""
        try:
            data = self.sock.recv(max(n, 65536))
        except OSError as e:
            raise LinkError(f"connection to {self.portstr} failed: {e}") from None
        if not data:
            raise LinkError(f"{self.portstr} closed the connection",
                            hint="the emulator or the serial bridge stopped (see its exit code / log)")
        return data

    def reset_input_buffer(self) -> None:
        self.port.reset_input_buffer()

    def close(self) -> None:
        # pyserial's close() sleeps 0.3 s after closing the socket; QEMU accepts the next client without it
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.port._socket = None
        self.port.is_open = False


def open_transport(url: str, baudrate: int = 115200) -> Any:
    """A pyserial port for a URL or device path (/dev/ttyACM0, COM3, socket://host:port, loop://)."""
    import serial

    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05, write_timeout=10)
    except (serial.SerialException, ValueError, OSError) as e:
        raise LinkError(f"cannot open {url}: {e}",
                        hint="check the port name (ls /dev/ttyACM* /dev/ttyUSB*), that no other program holds "
                             "it, and for socket:// that the emulator is running (edgeimpro emulate)") from e
    if isinstance(getattr(port, "_socket", None), socket.socket):
        return SocketPort(port)
    return port


class Device:
    """A board (or emulated board) running edgeimpro firmware, behind a pyserial-like transport.

    The transport needs `write(bytes)`, `read(n)` returning within `timeout` seconds, and `close()`.
    """

    def __init__(self, transport: Any, *, timeouts: Timeouts | None = None, retries: int = 3,
                 trace: Callable[[str], None] | bool | None = None, url: str = "",
                 baudrate: int = 115200) -> None:
        self.transport = transport
        self.timeouts = timeouts or Timeouts()
        self.retries = retries
        self.url = url or getattr(transport, "portstr", None) or repr(transport)
        self.baudrate = baudrate
        self.stats = LinkStats()
        if trace is None and trace_log.isEnabledFor(logging.INFO):   # `edgeimpro --trace VERB ...`
            trace = True
        self._trace = trace_log.info if trace is True else (trace or None)
        self._decoder = FrameDecoder()
        self._pending: list[Frame | FrameError] = []
        self._seq = 0
        self._sync = True      # send a lone 0x00 first: ends any partial frame the device holds
        self._info: DeviceInfo | None = None

    # ---- opening ----

    @classmethod
    def open(cls, url: str, *, model: str | Path | None = None, sha256: str | None = None,
             timeouts: Timeouts | None = None, retries: int = 3, baudrate: int = 115200,
             trace: Callable[[str], None] | bool | None = None) -> Device:
        """Opens `url` (/dev/ttyACM0, COM3, socket://host:port, loop://), waits for the firmware's INFO and,
        given `model` (a .tflite) or `sha256`, refuses a device that holds another model."""
        dev = cls(open_transport(url, baudrate), timeouts=timeouts, retries=retries, trace=trace, url=url,
                  baudrate=baudrate)
        try:
            dev.info()
            if model is not None or sha256 is not None:
                dev.check_model(model, sha256=sha256)
        except BaseException:
            dev.close()
            raise
        return dev

    def close(self) -> None:
        try:
            self.transport.close()
        except Exception:  # closing a dead link must not hide the error that killed it
            pass

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- requests ----

    def info(self, refresh: bool = False) -> DeviceInfo:
        """The firmware's INFO (HELLO is resent until `timeouts.boot` runs out)."""
        if self._info is not None and not refresh:
            return self._info
        boot = Deadline(self.timeouts.boot)
        last: Exception | None = None
        while True:
            try:
                frame = self._exchange(MsgType.HELLO, b"", {MsgType.INFO},
                                       min(self.timeouts.hello + self._wire_time(_INFO_BYTES), boot.seconds))
                record = self._info_record(frame)
                break
            except _Retry as e:
                last = e
                if boot.expired:
                    raise LinkError(f"no answer from the firmware on {self.url} within {boot.seconds:.1f} s "
                                    f"({last})",
                                    hint="is edgeimpro firmware flashed and running, and is the baud rate "
                                         f"{self.baudrate}? A board may need a reset.") from None
                self.stats.retries += 1
                self._resync(limit=0.2)
        try:
            info = parse_info(record)
        except FrameError as e:
            raise LinkError(f"INFO from {self.url} is malformed: {e}") from None
        if info.protocol_version != PROTOCOL_VERSION:
            raise LinkError(f"firmware speaks protocol {info.protocol_version}, this host {PROTOCOL_VERSION}",
                            hint="rebuild and flash the firmware with this edgeimpro version")
        self._info = info
        return info

    def _info_record(self, first: Frame) -> bytes:
        """The INFO record from `first` and the slices after it (the firmware splits it to its max payload)."""
        record = bytearray()
        total: int | None = None
        frame = first
        while True:
            try:
                if frame.type != MsgType.INFO:
                    raise FrameError(f"unexpected {frame.msg!r} while waiting for INFO")
                s = parse_info_slice(frame.payload)
                if s.offset != len(record) or (total is not None and s.total != total):
                    raise FrameError(f"INFO slice {s.offset}/{s.total}, expected {len(record)}/{total}")
            except FrameError as e:
                self.stats.corrupt_frames += 1
                raise _Retry(str(e)) from None
            total = s.total
            record += s.data
            if len(record) == total:
                return bytes(record)
            frame = self._await(first.seq, Deadline(self.timeouts.frame + self._wire_time(_INFO_BYTES)))

    def check_model(self, model: str | Path | None = None, *, sha256: str | None = None) -> None:
        """Raises ModelMismatchError unless the device holds `model` (a .tflite path) or the model `sha256`."""
        if sha256 is None and model is None:
            raise EdgeImproError("check_model needs a .tflite path or a sha256")
        want = sha256 if sha256 is not None else sha256_of(model)  # type: ignore[arg-type]
        info = self.info()
        if info.model_sha256.lower() == want.lower():
            return
        name = str(model) if model is not None else f"sha256 {want[:12]}…"
        src = str(model) if model is not None else "model.tflite"
        raise ModelMismatchError(
            f"the device on {self.url} ({info.board}) holds model {info.model_name!r} "
            f"(sha256 {info.model_sha256[:12]}…), not {name} (sha256 {want[:12]}…)",
            hint=f"rebuild and flash it: edgeimpro build --board {info.board} --model {src} -o build && "
                 + (f"edgeimpro emulate --board {info.board} build" if info.build_target == BuildTarget.QEMU
                    else f"edgeimpro flash --board {info.board} build/firmware.elf"))

    def infer(self, inputs: np.ndarray | Sequence[np.ndarray], *, profile: bool = False) -> Result:
        """Runs one inference on int8 inputs shaped as INFO says (one array, or one per model input).

        With `profile`, the firmware also reads its counter in the per-layer hook and the result carries
        every layer's count in `Result.layer_counts` (the hook's own time is excluded, approximately)."""
        data = self._pack_inputs(inputs)
        if not profile:
            return self._infer(data, None)
        info = self.info()
        if not info.layer_hook:
            raise LinkError("the firmware was built without the layer hook, which the per-layer profile uses",
                            hint="rebuild with the default options (EIP_LAYER_HOOK is on unless disabled)")
        ack = self._request(MsgType.PROFILE, profile_payload(True), MsgType.ACK, self.timeouts.ack)
        if parse_ack(ack.payload) != info.num_layers:
            raise LinkError(f"the firmware profiles {parse_ack(ack.payload)} layers, INFO says {info.num_layers}")
        try:
            result = self._infer(data, None, profile=True)
        finally:
            with contextlib.suppress(EdgeImproError):   # best effort: an error in flight is the one to report
                self._request(MsgType.PROFILE, profile_payload(False), MsgType.ACK, self.timeouts.ack)
        return result

    def layers(self, inputs: np.ndarray | Sequence[np.ndarray], layers: Iterable[int] | None = None) -> Result:
        """Runs one inference and returns, besides the outputs, the output of each chosen layer (all: None)
        in `Result.layers`. The count then excludes the time spent sending layers, approximately."""
        info = self.info()
        if not info.layer_hook:
            raise LinkError("the firmware was built without the layer hook",
                            hint="rebuild with the default options (EIP_LAYER_HOOK is on unless disabled)")
        chosen = None if layers is None else sorted(set(int(x) for x in layers))
        data = self._pack_inputs(inputs)
        # more layers than one LAYERS frame can name at this max payload: select all, keep the chosen
        select = chosen if len(layers_payload(chosen)) <= info.max_payload else None
        self._request(MsgType.LAYERS, layers_payload(select), MsgType.ACK, self.timeouts.ack)
        try:
            result = self._infer(data, select)
            if chosen is not None and select is None:
                result.layers = {k: v for k, v in result.layers.items() if k in chosen}
        except BaseException:
            with contextlib.suppress(EdgeImproError):   # best effort: the first error is the one to report
                self._request(MsgType.LAYERS, layers_payload([]), MsgType.ACK, self.timeouts.ack)
            raise
        self._request(MsgType.LAYERS, layers_payload([]), MsgType.ACK, self.timeouts.ack)
        return result

    # ---- inference ----

    def _pack_inputs(self, inputs: np.ndarray | Sequence[np.ndarray]) -> bytes:
        info = self.info()
        arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        if len(arrays) != len(info.inputs):
            raise EdgeImproError(f"the model takes {len(info.inputs)} inputs, got {len(arrays)}")
        parts = []
        for i, (a, t) in enumerate(zip(arrays, info.inputs, strict=True)):
            a = np.asarray(a)
            if a.dtype != np.int8:
                raise EdgeImproError(f"input {i} ({t.name}) must be int8, got {a.dtype}",
                                     hint="quantize with the model's input scale and zero point first")
            if a.size * a.itemsize != t.bytes:
                raise EdgeImproError(f"input {i} ({t.name}) has shape {a.shape}, the model wants {t.shape}")
            parts.append(np.ascontiguousarray(a).tobytes())
        return b"".join(parts)

    def _infer(self, data: bytes, layers: list[int] | None, *, profile: bool = False) -> Result:
        info = self.info()
        step = info.max_payload - _CHUNK_HEADER
        # every chunk but the last goes in INPUT frames (each acknowledged), the last one rides on INVOKE
        last_start = max(0, (len(data) - 1) // step * step) if data else 0
        last: Exception | None = None
        budget = _Budget(self.retries, self.timeouts.recover)
        while True:
            started = time.monotonic()
            try:
                for offset in range(0, last_start, step):
                    chunk = data[offset:offset + step]
                    ack = self._request(MsgType.INPUT, chunk_payload(offset, chunk), MsgType.ACK,
                                        self._ack_timeout(len(chunk)))
                    if parse_ack(ack.payload) != offset + len(chunk):
                        raise _Retry(f"ACK says {parse_ack(ack.payload)} bytes, expected {offset + len(chunk)}")
                    self.stats.input_bytes += len(chunk)
                result = self._invoke(chunk_payload(last_start, data[last_start:]), info, layers, profile)
                self.stats.input_bytes += len(data) - last_start
                result.seconds = time.monotonic() - started
                return result
            except DeviceError as e:
                if e.report.code not in _RESTART_ERRORS:
                    raise
                last = e   # the device lost track of the input (a lost frame, a reset): start over
                if not budget.allow(_Retry(str(e))):
                    break
                self.stats.retries += 1
            except _Retry as e:
                last = e
                log.debug("inference attempt failed: %s", e)
                if not budget.allow(e):
                    break
                self.stats.retries += 1
                self._resync()
        raise LinkError(f"no intact result from {self.url} after {budget.used + budget.link} resends ({last})",
                        hint="check the cable and baud rate; raise Timeouts(invoke=...) for a slow model")

    def _invoke(self, payload: bytes, info: DeviceInfo, layers: list[int] | None, profile: bool = False) -> Result:
        seq = self._send(MsgType.INVOKE, payload)
        total = info.output_bytes
        out = bytearray()
        count: int | None = None
        kind = CountKind.NONE
        dumps: dict[int, tuple[int, bytearray, int]] = {}
        layer_counts: list[int] = []
        deadline = Deadline(self.timeouts.invoke)
        while True:
            frame = self._await(seq, deadline)
            deadline = Deadline(self.timeouts.frame + self._wire_time(info.max_payload))
            try:
                if frame.type == MsgType.LAYER:
                    s = parse_layer(frame.payload)
                    opcode, buf, expect_total = dumps.setdefault(s.layer, (s.opcode, bytearray(), s.total))
                    if s.offset != len(buf) or s.total != expect_total:
                        raise FrameError(f"LAYER {s.layer} slice at {s.offset}, expected {len(buf)}")
                    buf += s.data
                    continue
                if frame.type == MsgType.COUNTS:
                    c = parse_counts(frame.payload)
                    if c.first != len(layer_counts) or c.total != info.num_layers:
                        raise FrameError(f"COUNTS slice {c.first}/{c.total}, expected {len(layer_counts)}/"
                                         f"{info.num_layers}")
                    layer_counts += c.counts
                    continue
                if frame.type != MsgType.RESULT:
                    raise FrameError(f"unexpected {frame.msg!r} while waiting for RESULT")
                s = parse_result(frame.payload)
                if s.total != total or s.offset != len(out) or (count is not None and s.count != count):
                    raise FrameError(f"RESULT slice {s.offset}/{s.total}, expected {len(out)}/{total}")
            except FrameError as e:
                self.stats.corrupt_frames += 1
                raise _Retry(str(e)) from None
            count, kind = s.count, s.count_kind
            out += s.data
            if len(out) == total:
                break
        self.stats.output_bytes += total
        outputs, pos = [], 0
        for t in info.outputs:
            outputs.append(np.frombuffer(bytes(out[pos:pos + t.bytes]), dtype=np.int8).reshape(t.shape))
            pos += t.bytes
        layer_out = {k: LayerOutput(k, op, np.frombuffer(bytes(buf), dtype=np.int8))
                     for k, (op, buf, tot) in sorted(dumps.items()) if len(buf) == tot}
        if layers is not None and set(layer_out) != set(layers):
            self.stats.corrupt_frames += 1
            raise _Retry(f"layers {sorted(set(layers) - set(layer_out))} missing or incomplete")
        if profile and len(layer_counts) != info.num_layers:
            self.stats.corrupt_frames += 1
            raise _Retry(f"per-layer counts for {len(layer_counts)} of {info.num_layers} layers")
        return Result(outputs, None if kind == CountKind.NONE else count, kind, layers=layer_out,
                      layer_counts=layer_counts)

    def _ack_timeout(self, nbytes: int) -> float:
        return self.timeouts.ack + self._wire_time(nbytes)

    def _wire_time(self, nbytes: int) -> float:
        """Seconds `nbytes` of payload take on the line at the baud rate (10 bits a byte, framing overhead)."""
        return 10.0 * (nbytes + 32) / self.baudrate

    # ---- frames ----

    def _request(self, type_: MsgType, payload: bytes, expect: MsgType, timeout: float) -> Frame:
        """One request with bounded resends; returns the intact answer of type `expect`."""
        budget = _Budget(self.retries, self.timeouts.recover)
        while True:
            try:
                return self._exchange(type_, payload, {expect}, timeout)
            except _Retry as e:
                last = e
                if not budget.allow(e):
                    break
                self.stats.retries += 1
                self._resync()
        raise LinkError(f"no intact {expect.name} from {self.url} after {budget.used + budget.link} resends ({last})",
                        hint="check the cable and baud rate, or raise the timeouts (Timeouts)")

    def _exchange(self, type_: MsgType, payload: bytes, expect: set[MsgType], timeout: float) -> Frame:
        seq = self._send(type_, payload)
        frame = self._await(seq, Deadline(timeout))
        if frame.type not in expect:
            self.stats.corrupt_frames += 1
            raise _Retry(f"expected {'/'.join(m.name for m in expect)}, got {frame.msg!r}")
        return frame

    def _send(self, type_: MsgType, payload: bytes) -> int:
        self._seq = (self._seq + 1) % 0xFFFF    # 0xFFFF stays reserved for unsolicited errors
        wire = encode_frame(type_, self._seq, payload)
        if self._sync:
            wire = b"\0" + wire
            self._sync = False
        if self._trace:
            self._trace(f"-> {type_.name} seq={self._seq} payload={len(payload)} wire={len(wire)}\n{hexdump(wire)}")
        self.transport.write(wire)
        self.stats.bytes_sent += len(wire)
        self.stats.frames_sent += 1
        return self._seq

    def _await(self, seq: int, deadline: Deadline) -> Frame:
        """The next intact frame answering `seq`; ERROR frames become DeviceError, corrupt ones _Retry."""
        while True:
            while self._pending:
                item = self._pending.pop(0)
                if isinstance(item, VersionMismatch):
                    raise LinkError(f"the device on {self.url} speaks {item}",
                                    hint="rebuild and flash the firmware with this edgeimpro version")
                if isinstance(item, FrameError):
                    self.stats.corrupt_frames += 1
                    raise _Retry(f"corrupt frame: {item}")
                if item.type == MsgType.ERROR:
                    report = self._parse_error(item)
                    if report.code in LINK_ERRORS:
                        self.stats.link_errors += 1
                        raise _Retry(f"device received a corrupt frame: {report.name}", link=True)
                    if item.seq == seq:
                        raise DeviceError(report, hint=_error_hint(report))
                if item.seq != seq:
                    self.stats.stale_frames += 1
                    continue
                return item
            if deadline.expired:
                raise _Retry(f"timed out after {deadline.seconds:.2f} s")
            data = self.transport.read(max(1, getattr(self.transport, "in_waiting", 0) or 1))   # what has arrived
            if data:
                self.stats.bytes_received += len(data)
                for item in self._decoder.feed(data):
                    if isinstance(item, Frame):
                        self.stats.frames_received += 1
                        if self._trace:
                            self._trace(f"<- {item.msg!r} seq={item.seq} payload={len(item.payload)}\n"
                                        f"{hexdump(item.payload)}")
                    elif self._trace:
                        self._trace(f"<- corrupt frame: {item}")
                    self._pending.append(item)

    def _parse_error(self, frame: Frame) -> ErrorReport:
        try:
            return parse_error(frame.payload)
        except FrameError:
            return ErrorReport(-1, 0, "malformed ERROR frame")

    def _resync(self, quiet: float = 0.05, limit: float = 1.0) -> None:
        """After a failure: wait until the line is quiet (discarding stale answers, e.g. a burst of ERRORs
        about garbage), then make the next frame start with 0x00 to end any partial frame at the device."""
        self._pending.clear()
        self._decoder.reset()
        deadline = Deadline(limit)
        last_data = time.monotonic()
        while not deadline.expired and time.monotonic() - last_data < quiet:
            data = self.transport.read(4096)
            if data:
                self.stats.bytes_received += len(data)
                last_data = time.monotonic()
        self._decoder.reset()
        self._sync = True


def _error_hint(report: ErrorReport) -> str | None:
    if report.code == ErrorCode.MODEL_FAILED:
        return "the model code returned this status: regenerate it with the current edgeimpro"
    if report.code == ErrorCode.FAULT:
        return "the firmware crashed: rebuild it, and report the model if it persists"
    return None
